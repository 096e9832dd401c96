/* SPDX-License-Identifier: MIT */
/* What the JSON writers (OTLP, Chrome, NDJSON) share to build with jansson
 * cheaply: strings checked for UTF-8 once, members set without jansson's
 * second key check, failures remembered instead of tested at each call, and
 * the compact text dumped straight into the sink. Export time only. */
#ifndef SHIM_JSONOUT_H
#define SHIM_JSONOUT_H

#include <jansson.h>
#include <stdint.h>

#include "../shim/libs.h"
#include "../shim/sink.h"

/* A JSON string of s (n bytes). Valid UTF-8 is kept; otherwise (names come
 * from the program: paths, hosts) every byte >= 0x80 becomes '?' rather than
 * failing the whole document. NULL when out of memory. */
json_t *shim_json_strn(const char *s, size_t n);
json_t *shim_json_str(const char *s);

/* A JSON string of ASCII text the writer made (hex, digits, literals). */
static inline json_t *shim_json_ascii(const char *s, size_t n)
{
	return json_stringn_nocheck(s, n);
}

/* The decimal text of v into buf (at least 21 bytes, NUL-terminated);
 * returns its length. */
size_t shim_json_u64(uint64_t v, char *buf);
size_t shim_json_i64(int64_t v, char *buf);

/* o[key] = v, taking v. key is ASCII (a literal) or was checked; a NULL v or
 * a failure sets *bad, and o stays usable. */
static inline void shim_json_set(json_t *o, const char *key, json_t *v, int *bad)
{
	if (json_object_set_new_nocheck(o, key, v) != 0)
		*bad = 1;
}

/* Append v to the array a, taking v; as shim_json_set. */
static inline void shim_json_push(json_t *a, json_t *v, int *bad)
{
	if (json_array_append_new(a, v) != 0)
		*bad = 1;
}

/* Let go of j, made under the arena a: nothing to do when a frees all it
 * made at its end (jansson's walk over every value to free it skipped),
 * else json_decref. */
static inline void shim_json_drop(const struct shim_json_arena *a, json_t *j)
{
	if (!shim_libs_json_arena_whole(a))
		json_decref(j);
}

/* Append what json_dumps(j, flags) returns to out, without its copies.
 * Returns 0, or -1 with out as it was. */
int shim_json_dump(const json_t *j, size_t flags, struct shim_sink *out);

#endif
