// SPDX-License-Identifier: GPL-2.0
/*
 * iofilterctl's streaming JSON writer (json.h): keys and values written as
 * they come, strings escaped, invalid UTF-8 replaced; no tree in memory.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

void json_init(struct json *j, FILE *fp)
{
	memset(j, 0, sizeof(*j));
	j->fp = fp;
}

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) ||	/* overlong */
	    (c == 0xed && s[1] > 0x9f) ||	/* surrogates */
	    (c == 0xf0 && s[1] < 0x90) ||	/* overlong */
	    (c == 0xf4 && s[1] > 0x8f))		/* > U+10FFFF */
		return 0;
	return len;
}

void json_write_string(FILE *fp, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	fputc('"', fp);
	while (i < n) {
		unsigned char c = s[i];

		switch (c) {
		case '"':
			fputs("\\\"", fp);
			break;
		case '\\':
			fputs("\\\\", fp);
			break;
		case '\n':
			fputs("\\n", fp);
			break;
		case '\r':
			fputs("\\r", fp);
			break;
		case '\t':
			fputs("\\t", fp);
			break;
		case '\b':
			fputs("\\b", fp);
			break;
		case '\f':
			fputs("\\f", fp);
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				fprintf(fp, "\\u%04x", c);
			} else if (c < 0x80) {
				fputc(c, fp);
			} else {
				size_t l = utf8_len(s + i, n - i);

				if (!l) {
					fputs("\\ufffd", fp);
				} else {
					fwrite(s + i, 1, l, fp);
					i += l;
					continue;
				}
			}
		}
		i++;
	}
	fputc('"', fp);
}

static void indent(struct json *j)
{
	int i;

	for (i = 0; i < j->depth; i++)
		fputs("  ", j->fp);
}

static void pre(struct json *j, const char *key)
{
	if (j->depth > 0) {
		if (j->used[j->depth])
			fputs(j->compact ? ", " : ",", j->fp);
		if (!j->compact) {
			fputc('\n', j->fp);
			indent(j);
		}
	}
	j->used[j->depth] = true;
	if (key) {
		json_write_string(j->fp, key, strlen(key));
		fputs(": ", j->fp);
	}
}

static void open_(struct json *j, const char *key, char c)
{
	pre(j, key);
	fputc(c, j->fp);
	if (j->depth < JSON_MAX_DEPTH)
		j->depth++;
	j->used[j->depth] = false;
}

static void close_(struct json *j, char c)
{
	bool had = j->used[j->depth];

	if (j->depth > 0)
		j->depth--;
	if (had && !j->compact) {
		fputc('\n', j->fp);
		indent(j);
	}
	fputc(c, j->fp);
}

void json_obj_open(struct json *j, const char *key)
{
	open_(j, key, '{');
}

void json_obj_close(struct json *j)
{
	close_(j, '}');
}

void json_arr_open(struct json *j, const char *key)
{
	open_(j, key, '[');
}

void json_arr_close(struct json *j)
{
	close_(j, ']');
}

void json_strn(struct json *j, const char *key, const char *val, size_t n)
{
	pre(j, key);
	json_write_string(j->fp, val, n);
}

void json_str(struct json *j, const char *key, const char *val)
{
	if (!val) {
		json_null(j, key);
		return;
	}
	json_strn(j, key, val, strlen(val));
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
	pre(j, key);
	fprintf(j->fp, "%" PRIu64, v);
}

void json_i64(struct json *j, const char *key, int64_t v)
{
	pre(j, key);
	fprintf(j->fp, "%" PRId64, v);
}

void json_double(struct json *j, const char *key, double v)
{
	pre(j, key);
	if (v != v || v > 1e300 || v < -1e300)
		fputs("null", j->fp);
	else
		fprintf(j->fp, "%.1f", v);
}

void json_bool(struct json *j, const char *key, bool v)
{
	pre(j, key);
	fputs(v ? "true" : "false", j->fp);
}

void json_null(struct json *j, const char *key)
{
	pre(j, key);
	fputs("null", j->fp);
}

void json_end(struct json *j)
{
	fputc('\n', j->fp);
	fflush(j->fp);
}
