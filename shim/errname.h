/* SPDX-License-Identifier: MIT */
/* How a recorded error is named in every output: an errno by its symbolic name
 * ("ENOENT"), a resolver failure (recorded as a negative EAI_* code by
 * hooks/dns.c) by its EAI name, anything else by its number. */
#ifndef SHIM_ERRNAME_H
#define SHIM_ERRNAME_H

#include <stddef.h>

/* The name of err; buf (size bytes) holds the number when no name is known.
 * Pure; allocates: no. */
const char *shim_err_name(int err, char *buf, size_t size);

#endif
