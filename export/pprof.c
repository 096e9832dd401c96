/* SPDX-License-Identifier: MIT */
/* cpu.pb.gz and heap.pb.gz: the pprof profile.proto (google/pprof
 * proto/profile.proto), encoded by hand and gzipped with zlib. CPU: sample
 * types samples/count and cpu/nanoseconds (wall/nanoseconds under
 * SHIMMER_CLOCK=wall), one Sample per stack with a "thread id" label. Heap:
 * alloc_objects/count, alloc_space/bytes, inuse_objects/count,
 * inuse_space/bytes (default inuse_space), period space/bytes. Location ids
 * leaf first, every id non-zero and referenced ids present, string_table[0] =
 * "". Reads only the model. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../shim/libs.h"
#include "export.h"
#include "view.h"

/* ---- protobuf wire format ---- */

static void pb_varint(struct shim_sink *o, uint64_t v)
{
	unsigned char b[10];
	int n = 0;

	do {
		b[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v)
			b[n] |= 0x80;
		n++;
	} while (v);
	shim_sink_write(o, b, (size_t)n);
}

/* A varint field (wire type 0); zero is the default and is left out. */
static void pb_uint(struct shim_sink *o, unsigned field, uint64_t v)
{
	if (!v)
		return;
	pb_varint(o, (uint64_t)field << 3);
	pb_varint(o, v);
}

/* A length-delimited field (wire type 2): string, bytes, message, packed. */
static void pb_bytes(struct shim_sink *o, unsigned field, const void *data, size_t len)
{
	pb_varint(o, ((uint64_t)field << 3) | 2);
	pb_varint(o, len);
	shim_sink_write(o, data, len);
}

static void pb_msg(struct shim_sink *o, unsigned field, struct shim_sink *sub)
{
	pb_bytes(o, field, sub->buf ? sub->buf : "", sub->len);
	if (sub->failed)
		o->failed = 1;
	sub->len = 0; /* reuse the buffer for the next message */
}

/* ---- string table: every string once, index 0 is "" ---- */

struct strtab {
	char **s;
	size_t n, cap;
	uint32_t *slot; /* open addressing: index + 1, 0 = empty */
	size_t nslot;
	int failed;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static int grow(struct strtab *t)
{
	size_t nslot = t->nslot ? t->nslot * 2 : 1024;
	uint32_t *slot = calloc(nslot, sizeof(*slot));

	if (!slot)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		size_t h = hash(t->s[i]) & (nslot - 1);
		while (slot[h])
			h = (h + 1) & (nslot - 1);
		slot[h] = (uint32_t)i + 1;
	}
	free(t->slot);
	t->slot = slot;
	t->nslot = nslot;
	return 0;
}

/* The index of s in the table; 0 for NULL, "" or failure. Stored raw and
 * cleaned to UTF-8 when written. */
static int64_t str(struct strtab *t, const char *s)
{
	size_t h;

	if (!s || !*s || t->failed)
		return 0;
	if ((t->n + 1) * 2 > t->nslot && grow(t) != 0)
		goto fail;
	for (h = hash(s) & (t->nslot - 1); t->slot[h]; h = (h + 1) & (t->nslot - 1))
		if (!strcmp(t->s[t->slot[h] - 1], s))
			return t->slot[h] - 1;
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 256;
		void *p = realloc(t->s, ncap * sizeof(*t->s));
		if (!p)
			goto fail;
		t->s = p;
		t->cap = ncap;
	}
	if (!(t->s[t->n] = strdup(s)))
		goto fail;
	t->slot[h] = (uint32_t)t->n + 1;
	return (int64_t)t->n++;
fail:
	t->failed = 1;
	return 0;
}

/* string_table[0] must be "" (pprof refuses the file otherwise). */
static int strtab_init(struct strtab *t)
{
	memset(t, 0, sizeof(*t));
	t->cap = 256;
	t->s = calloc(t->cap, sizeof(*t->s));
	if (!t->s || !(t->s[0] = strdup("")))
		return -1;
	t->n = 1; /* not in the hash: str() answers 0 for "" before looking */
	return grow(t);
}

static void strtab_free(struct strtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->slot);
}

/* ---- the Profile message ---- */

/* The mappings, locations and functions one profile refers to: the CPU
 * part's or the heap part's. */
struct tables {
	const char *exe;
	const struct shim_model_mapping *mappings;
	size_t nmappings;
	const struct shim_model_loc *locs;
	size_t nlocs;
	const struct shim_model_func *funcs;
	size_t nfuncs;
};

static void value_type(struct shim_sink *o, struct shim_sink *sub, unsigned field,
		       struct strtab *t, const char *type, const char *unit)
{
	pb_uint(sub, 1, (uint64_t)str(t, type));
	pb_uint(sub, 2, (uint64_t)str(t, unit));
	pb_msg(o, field, sub);
}

static const char *thread_name(const struct shim_model *m, int tid)
{
	for (size_t i = 0; i < m->nthreads; i++)
		if (m->threads_info[i].tid == tid && m->threads_info[i].name[0])
			return m->threads_info[i].name;
	return NULL;
}

static const char *base(const char *p)
{
	const char *s = p ? strrchr(p, '/') : NULL;
	return s ? s + 1 : (p ? p : "");
}

static void mappings(const struct tables *m, struct shim_sink *o, struct shim_sink *sub,
		     struct strtab *t)
{
	size_t first = 0;

	/* pprof reads mapping[0] as the main binary */
	for (size_t i = 0; i < m->nmappings; i++)
		if (!strcmp(base(m->mappings[i].path), m->exe)) {
			first = i;
			break;
		}
	for (size_t k = 0; k < m->nmappings; k++) {
		size_t i = k == 0 ? first : (k <= first ? k - 1 : k);
		const struct shim_model_mapping *mp = &m->mappings[i];
		int files = 0, lines = 0, used = 0;
		for (size_t l = 0; l < m->nlocs; l++) {
			const struct shim_model_loc *lc = &m->locs[l];
			if (lc->mapping != i)
				continue;
			used = 1;
			lines |= lc->line > 0;
			files |= lc->func < m->nfuncs && m->funcs[lc->func].line > 0;
		}
		pb_uint(sub, 1, i + 1);
		pb_uint(sub, 2, mp->start);
		pb_uint(sub, 3, mp->limit);
		pb_uint(sub, 4, mp->offset);
		pb_uint(sub, 5, (uint64_t)str(t, mp->path));
		pb_uint(sub, 6, (uint64_t)str(t, mp->build_id));
		/* we symbolized every location ourselves: pprof must not guess */
		pb_uint(sub, 7, used);
		pb_uint(sub, 8, files || lines);
		pb_uint(sub, 9, lines);
		pb_msg(o, 3, sub);
	}
}

static void locations(const struct tables *m, struct shim_sink *o, struct shim_sink *sub,
		      struct shim_sink *line)
{
	for (size_t i = 0; i < m->nlocs; i++) {
		const struct shim_model_loc *l = &m->locs[i];
		pb_uint(sub, 1, i + 1);
		if (l->mapping < m->nmappings)
			pb_uint(sub, 2, (uint64_t)l->mapping + 1);
		pb_uint(sub, 3, l->address);
		if (l->func < m->nfuncs) {
			pb_uint(line, 1, (uint64_t)l->func + 1);
			pb_uint(line, 2, l->line > 0 ? (uint64_t)l->line : 0);
			pb_msg(sub, 4, line);
		}
		pb_msg(o, 4, sub);
	}
}

static void functions(const struct tables *m, struct shim_sink *o, struct shim_sink *sub,
		      struct strtab *t)
{
	for (size_t i = 0; i < m->nfuncs; i++) {
		const struct shim_model_func *f = &m->funcs[i];
		int64_t name = str(t, f->name);
		pb_uint(sub, 1, i + 1);
		pb_uint(sub, 2, (uint64_t)name);
		pb_uint(sub, 3, (uint64_t)name);
		pb_uint(sub, 4, (uint64_t)str(t, f->file ? f->file : f->module));
		pb_uint(sub, 5, f->line > 0 ? (uint64_t)f->line : 0);
		pb_msg(o, 5, sub);
	}
}

static void samples(const struct shim_model *m, struct shim_sink *o, struct shim_sink *sub,
		    struct shim_sink *tmp, struct strtab *t, double period)
{
	int64_t k_tid = str(t, "thread id"), k_name = str(t, "thread name");

	for (size_t i = 0; i < m->nstacks; i++) {
		const struct shim_model_stack *s = &m->stacks[i];
		double ns = s->seconds > 0 ? s->seconds * 1e9 : (double)s->count * period;
		const char *tn = thread_name(m, s->tid);
		if (!s->count || !s->depth)
			continue;
		for (uint32_t d = 0; d < s->depth; d++) /* leaf first, as the model keeps it */
			pb_varint(tmp, (uint64_t)s->locs[d] + 1);
		pb_msg(sub, 1, tmp);
		pb_varint(tmp, s->count);
		pb_varint(tmp, shim_round_u64(ns));
		pb_msg(sub, 2, tmp);
		pb_uint(tmp, 1, (uint64_t)k_tid);
		pb_uint(tmp, 3, (uint64_t)(int64_t)s->tid);
		pb_msg(sub, 3, tmp);
		if (tn) {
			pb_uint(tmp, 1, (uint64_t)k_name);
			pb_uint(tmp, 2, (uint64_t)str(t, tn));
			pb_msg(sub, 3, tmp);
		}
		pb_msg(o, 2, sub);
	}
}

/* Below this many bytes a profile is stored in its gzip member, not
 * compressed: a short process's profile of a sample or two (about 1 KiB)
 * shrinks by a few hundred bytes, and deflating it costs 70-85 us at the
 * process's exit (zlib's compressing code and tables, cold), where storing
 * it costs 7-11 us. Above it, the bytes saved are worth the time. */
#define SHIM_PPROF_STORED_BELOW 8192

/* gzip (RFC 1952) of in, appended to out, with zlib. The window need not be
 * larger than the input (matches never reach further back) and the hash
 * follows it: zlib's default state is 256 KiB, 64 fresh pages for a profile
 * of a few KiB (a short process's exit), where a fitted one is a few pages. */
static int gzip(const struct shim_sink *in, struct shim_sink *out)
{
	z_stream z;
	unsigned char *buf;
	size_t bound;
	int rc, wbits = 9; /* zlib's smallest for gzip */
	int level = in->len < SHIM_PPROF_STORED_BELOW ? Z_NO_COMPRESSION : Z_DEFAULT_COMPRESSION;

	while (wbits < 15 && ((size_t)1 << wbits) < in->len)
		wbits++;
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, level, Z_DEFLATED, wbits + 16, wbits - 7, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	bound = deflateBound(&z, in->len) + 64;
	buf = malloc(bound);
	if (!buf) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (unsigned char *)(in->buf ? in->buf : "");
	z.avail_in = (uInt)in->len;
	z.next_out = buf;
	z.avail_out = (uInt)bound;
	rc = deflate(&z, Z_FINISH);
	deflateEnd(&z);
	if (rc == Z_STREAM_END)
		shim_sink_write(out, buf, bound - z.avail_out);
	free(buf);
	return rc == Z_STREAM_END && !out->failed ? 0 : -1;
}

/* One profile being encoded: the body, scratch messages and the strings. */
struct enc {
	struct shim_sink body, sub, tmp, line;
	struct strtab t;
};

static int enc_init(struct enc *e)
{
	shim_sink_init(&e->body);
	shim_sink_init(&e->sub);
	shim_sink_init(&e->tmp);
	shim_sink_init(&e->line);
	return strtab_init(&e->t);
}

/* A comment (field 13) from a format; nothing when it cannot be rendered. */
static void comment(struct enc *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void comment(struct enc *e, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		pb_uint(&e->body, 13, (uint64_t)str(&e->t, buf));
}

/* The string table (last: every string is known by now), then gzip into out. */
static int enc_finish(struct enc *e, struct shim_sink *out)
{
	int rc = -1;

	for (size_t i = 0; i < e->t.n; i++) {
		char *c = shim_view_clean(e->t.s[i], 0);
		if (!c)
			goto out;
		pb_bytes(&e->body, 6, c, strlen(c));
		free(c);
	}
	if (e->body.failed || e->sub.failed || e->tmp.failed || e->line.failed || e->t.failed)
		goto out;
	rc = gzip(&e->body, out);
out:
	strtab_free(&e->t);
	shim_sink_free(&e->body);
	shim_sink_free(&e->sub);
	shim_sink_free(&e->tmp);
	shim_sink_free(&e->line);
	return rc;
}

/* Mappings, locations and functions of tb, in that order. */
static void enc_tables(struct enc *e, const struct tables *tb)
{
	mappings(tb, &e->body, &e->sub, &e->t);
	locations(tb, &e->body, &e->sub, &e->line);
	functions(tb, &e->body, &e->sub, &e->t);
}

int shim_export_pprof(const struct shim_model *m, struct shim_sink *out)
{
	struct enc e;
	const char *kind = m->clock_wall ? "wall" : "cpu";
	double period = m->period_ns > 0 ? m->period_ns : (m->hz > 0 ? 1e9 / m->hz : 0);
	struct tables tb = {m->exe, m->mappings, m->nmappings, m->locs, m->nlocs, m->funcs,
			    m->nfuncs};

	if (enc_init(&e) != 0)
		e.t.failed = 1; /* enc_finish frees what there is and fails */
	value_type(&e.body, &e.sub, 1, &e.t, "samples", "count");
	value_type(&e.body, &e.sub, 1, &e.t, kind, "nanoseconds");
	samples(m, &e.body, &e.sub, &e.tmp, &e.t, period);
	enc_tables(&e, &tb);
	pb_uint(&e.body, 9, m->start_unix_ns);
	pb_uint(&e.body, 10, shim_round_u64(m->wall_seconds * 1e9));
	value_type(&e.body, &e.sub, 11, &e.t, kind, "nanoseconds");
	pb_uint(&e.body, 12, shim_round_u64(period));
	comment(&e, "shimmer@0.1: %s (pid %d), %llu samples, %d Hz requested, "
		    "effective period %.0f ns",
		m->exe, m->pid, (unsigned long long)m->samples, m->hz, period);
	if (m->samples_dropped)
		comment(&e, "dropped samples: %llu", (unsigned long long)m->samples_dropped);
	pb_uint(&e.body, 14, (uint64_t)str(&e.t, kind));
	return enc_finish(&e, out);
}

/* One Sample per allocation stack: the four values, no labels (the heap
 * tables are process-wide). */
static void heap_samples(const struct shim_model_heap *h, struct shim_sink *o,
			 struct shim_sink *sub, struct shim_sink *tmp)
{
	for (size_t i = 0; i < h->nstacks; i++) {
		const struct shim_model_stack *s = &h->stacks[i];
		const struct shim_model_heap_value *v = &h->values[i];
		if (!s->depth || !v->samples)
			continue;
		for (uint32_t d = 0; d < s->depth; d++)
			pb_varint(tmp, (uint64_t)s->locs[d] + 1);
		pb_msg(sub, 1, tmp);
		pb_varint(tmp, v->alloc_objects);
		pb_varint(tmp, v->alloc_space);
		pb_varint(tmp, v->inuse_objects);
		pb_varint(tmp, v->inuse_space);
		pb_msg(sub, 2, tmp);
		pb_msg(o, 2, sub);
	}
}

int shim_export_pprof_heap(const struct shim_model *m, struct shim_sink *out)
{
	const struct shim_model_heap *h = &m->heap;
	struct enc e;
	struct tables tb = {m->exe, h->mappings, h->nmappings, h->locs, h->nlocs, h->funcs,
			    h->nfuncs};

	if (enc_init(&e) != 0)
		e.t.failed = 1; /* enc_finish frees what there is and fails */
	value_type(&e.body, &e.sub, 1, &e.t, "alloc_objects", "count");
	value_type(&e.body, &e.sub, 1, &e.t, "alloc_space", "bytes");
	value_type(&e.body, &e.sub, 1, &e.t, "inuse_objects", "count");
	value_type(&e.body, &e.sub, 1, &e.t, "inuse_space", "bytes");
	heap_samples(h, &e.body, &e.sub, &e.tmp);
	enc_tables(&e, &tb);
	pb_uint(&e.body, 9, m->start_unix_ns);
	pb_uint(&e.body, 10, shim_round_u64(m->wall_seconds * 1e9));
	value_type(&e.body, &e.sub, 11, &e.t, "space", "bytes");
	pb_uint(&e.body, 12, h->mean);
	comment(&e, "shimmer@0.1: %s (pid %d), %llu heap samples, one every %llu bytes on "
		    "average, scaled to estimates; inuse = live at the export",
		m->exe, m->pid, (unsigned long long)h->samples, (unsigned long long)h->mean);
	if (h->dropped)
		comment(&e, "dropped heap samples: %llu", (unsigned long long)h->dropped);
	pb_uint(&e.body, 14, (uint64_t)str(&e.t, "inuse_space"));
	return enc_finish(&e, out);
}
