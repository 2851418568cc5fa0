/* SPDX-License-Identifier: GPL-2.0 */
/* iofilterctl's streaming JSON writer (json.c) */
#ifndef IOFCTL_JSON_H
#define IOFCTL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32
struct json {
	FILE *fp;
	int depth;
	bool compact;	/* one line, no indentation (JSON Lines) */
	bool used[JSON_MAX_DEPTH + 1];
};

void json_init(struct json *j, FILE *fp);
void json_obj_open(struct json *j, const char *key);
void json_obj_close(struct json *j);
void json_arr_open(struct json *j, const char *key);
void json_arr_close(struct json *j);
void json_str(struct json *j, const char *key, const char *val);	/* NULL: null */
void json_strn(struct json *j, const char *key, const char *val, size_t n);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_i64(struct json *j, const char *key, int64_t v);
void json_double(struct json *j, const char *key, double v);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);
/* Close the document: newline, flush. */
void json_end(struct json *j);
/* Write s as a JSON string (escaped, invalid UTF-8 replaced by U+FFFD). */
void json_write_string(FILE *fp, const char *s, size_t n);

#endif
