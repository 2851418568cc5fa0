/* SPDX-License-Identifier: GPL-2.0 */
/* What the output*.c files share and nothing else includes */
#ifndef IOFCTL_OUTPUT_INT_H
#define IOFCTL_OUTPUT_INT_H

#include "json.h"

/* The end of every document: the run's errors and warnings, then close it */
void json_doc_end(struct json *j);

#endif
