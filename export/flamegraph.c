/* SPDX-License-Identifier: MIT */
/* flamegraph.svg and heap-flamegraph.svg: a self-contained flame graph written
 * by us (no tool at run time), in Brendan Gregg's layout: root at the bottom,
 * width = samples (CPU) or estimated bytes allocated (heap),
 * siblings in name order, coloured by module (a stable hash into a warm
 * palette), a <title> tooltip "name (N samples, P%)" on every frame, click to
 * zoom, Ctrl-F / "Search" to highlight a regex with the matched percent.
 * Well-formed XML: names are cleaned to UTF-8 and escaped. Reads only the
 * model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "view.h"

#define WIDTH 1200
#define XPAD 10
#define FRAME_H 16
#define FONT 12
#define FONT_W 0.59 /* average glyph width / font size, as flamegraph.pl */
#define YPAD_TOP 50
#define YPAD_BOTTOM (FONT * 2 + 10)
#define MIN_PX 0.1
#define ROOT UINT32_MAX

/* The stacks one graph draws and the tables they index: the CPU part's or
 * the heap part's; unit names the width in tooltips ("samples", "bytes"). */
struct src {
	const struct shim_model_func *funcs;
	size_t nfuncs;
	const struct shim_model_loc *locs;
	const struct shim_model_stack *stacks;
	size_t nstacks;
	const char *unit;
};

struct node {
	uint32_t func;	 /* ROOT for "all" */
	uint32_t parent, depth;
	uint32_t child, next; /* first child, next sibling */
	uint64_t count;
	double x; /* in samples from the left edge */
};

struct tree {
	struct node *n;
	size_t len, cap;
	uint32_t *slot; /* (parent, func) -> node + 1 */
	size_t nslot;
};

static size_t slot_of(const struct tree *t, uint32_t parent, uint32_t func)
{
	uint64_t h = (uint64_t)parent * 0x9e3779b97f4a7c15ull;

	h ^= (uint64_t)func * 0xc2b2ae3d27d4eb4full;
	return (size_t)(h ^ (h >> 29)) & (t->nslot - 1);
}

static int rehash(struct tree *t)
{
	size_t nslot = t->nslot ? t->nslot * 2 : 4096;
	uint32_t *slot = calloc(nslot, sizeof(*slot));

	if (!slot)
		return -1;
	free(t->slot);
	t->slot = slot;
	t->nslot = nslot;
	for (size_t i = 1; i < t->len; i++) {
		size_t h = slot_of(t, t->n[i].parent, t->n[i].func);
		while (t->slot[h])
			h = (h + 1) & (nslot - 1);
		t->slot[h] = (uint32_t)i + 1;
	}
	return 0;
}

/* The child of parent for func, made when missing; -1 out of memory. */
static long child(struct tree *t, uint32_t parent, uint32_t func)
{
	size_t h;

	if ((t->len + 1) * 2 > t->nslot && rehash(t) != 0)
		return -1;
	for (h = slot_of(t, parent, func); t->slot[h]; h = (h + 1) & (t->nslot - 1)) {
		const struct node *c = &t->n[t->slot[h] - 1];
		if (c->parent == parent && c->func == func)
			return t->slot[h] - 1;
	}
	if (t->len == t->cap) {
		size_t ncap = t->cap * 2;
		void *p = realloc(t->n, ncap * sizeof(*t->n));
		if (!p)
			return -1;
		t->n = p;
		t->cap = ncap;
	}
	memset(&t->n[t->len], 0, sizeof(t->n[0]));
	t->n[t->len].func = func;
	t->n[t->len].parent = parent;
	t->n[t->len].depth = t->n[parent].depth + 1;
	t->slot[h] = (uint32_t)t->len + 1;
	return (long)t->len++;
}

static int build(struct tree *t, const struct src *m)
{
	t->cap = 1024;
	t->n = calloc(t->cap, sizeof(*t->n));
	if (!t->n)
		return -1;
	t->len = 1;
	t->n[0].func = ROOT;
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct shim_model_stack *s = &m->stacks[i];
		uint32_t at = 0;
		if (!s->count || !s->depth)
			continue;
		t->n[0].count += s->count;
		for (uint32_t d = s->depth; d-- > 0;) {
			uint32_t f = m->locs[s->locs[d]].func;
			long c = child(t, at, f < m->nfuncs ? f : ROOT - 1);
			if (c < 0)
				return -1;
			t->n[c].count += s->count;
			at = (uint32_t)c;
		}
	}
	return 0;
}

static const struct src *sort_m;
static const struct tree *sort_t;

static const char *name_of(const struct src *m, uint32_t f)
{
	if (f == ROOT)
		return "all";
	return f < m->nfuncs ? m->funcs[f].name : "?";
}

static int cmp_child(const void *a, const void *b)
{
	const struct node *x = &sort_t->n[*(const uint32_t *)a];
	const struct node *y = &sort_t->n[*(const uint32_t *)b];
	int r = strcmp(name_of(sort_m, x->func), name_of(sort_m, y->func));
	return r ? r : (x->func > y->func) - (x->func < y->func);
}

/* Sibling lists in name order and each frame's x, parents before children
 * (nodes are created after their parent, so index order is enough). */
static int layout(struct tree *t, const struct src *m)
{
	uint32_t *kids = calloc(t->len + 1, sizeof(*kids));
	size_t *nkids = calloc(t->len + 1, sizeof(*nkids));
	size_t *start = calloc(t->len + 2, sizeof(*start));

	if (!kids || !nkids || !start) {
		free(kids);
		free(nkids);
		free(start);
		return -1;
	}
	for (size_t i = 1; i < t->len; i++)
		nkids[t->n[i].parent]++;
	for (size_t i = 0; i < t->len; i++)
		start[i + 1] = start[i] + nkids[i];
	memset(nkids, 0, (t->len + 1) * sizeof(*nkids));
	for (size_t i = 1; i < t->len; i++) {
		uint32_t p = t->n[i].parent;
		kids[start[p] + nkids[p]++] = (uint32_t)i;
	}
	sort_m = m;
	sort_t = t;
	for (size_t i = 0; i < t->len; i++) {
		double x = t->n[i].x;
		qsort(kids + start[i], nkids[i], sizeof(*kids), cmp_child);
		for (size_t k = 0; k < nkids[i]; k++) {
			t->n[kids[start[i] + k]].x = x;
			x += (double)t->n[kids[start[i] + k]].count;
		}
	}
	free(kids);
	free(nkids);
	free(start);
	return 0;
}

static uint32_t fnv(const char *s)
{
	uint32_t h = 2166136261u;
	while (s && *s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* Warm colours: the module picks the hue band, the name a small shade, so
 * one library reads as one colour family. */
static void colour(const struct src *m, uint32_t f, int rgb[3])
{
	const char *mod = f < m->nfuncs ? m->funcs[f].module : NULL;
	uint32_t h = fnv(mod ? mod : "?"), v = fnv(name_of(m, f));
	int shade = (int)(v % 21) - 10;

	if (f == ROOT) {
		rgb[0] = 220, rgb[1] = 120, rgb[2] = 60;
		return;
	}
	rgb[0] = 205 + (int)(h % 50);
	rgb[1] = 60 + (int)((h >> 8) % 170) + shade;
	rgb[2] = (int)((h >> 16) % 60);
	if (rgb[1] < 0)
		rgb[1] = 0;
	if (rgb[1] > 255)
		rgb[1] = 255;
}

/* The label that fits w px: the name, name.. cut at a UTF-8 boundary, or "". */
static void label(struct shim_sink *o, const char *name, double w)
{
	size_t fit = w > 3 ? (size_t)((w - 3) / (FONT * FONT_W)) : 0, n = strlen(name);
	char *cut;

	if (fit < 3)
		return;
	if (n <= fit) {
		shim_view_xml(o, name);
		return;
	}
	n = fit - 2;
	while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
		n--;
	cut = strndup(name, n);
	if (!cut) {
		o->failed = 1;
		return;
	}
	shim_view_xml(o, cut);
	shim_sink_puts(o, "..");
	free(cut);
}

/* What every frame of one function shares, made once per function. */
struct look {
	char *name; /* cleaned to UTF-8 */
	char *xml;  /* and escaped */
	size_t len; /* of name */
	int rgb[3];
};

static void looks_free(struct look *l, size_t n)
{
	for (size_t i = 0; l && i < n; i++) {
		free(l[i].name);
		free(l[i].xml);
	}
	free(l);
}

/* Looks of the functions, then "all" at [nfuncs] and "?" at [nfuncs + 1]. */
static struct look *looks_make(const struct src *m)
{
	size_t n = m->nfuncs + 2;
	struct look *l = calloc(n, sizeof(*l));

	for (size_t i = 0; l && i < n; i++) {
		uint32_t f = i < m->nfuncs ? (uint32_t)i : (i == m->nfuncs ? ROOT : ROOT - 1);
		struct shim_sink x;
		l[i].name = shim_view_clean(name_of(m, f), 0);
		if (!l[i].name) {
			looks_free(l, n);
			return NULL;
		}
		shim_sink_init(&x);
		shim_view_xml(&x, l[i].name);
		if (x.failed || !x.buf) {
			shim_sink_free(&x);
			looks_free(l, n);
			return NULL;
		}
		l[i].xml = x.buf;
		l[i].len = strlen(l[i].name);
		colour(m, f, l[i].rgb);
	}
	return l;
}

/* v >= 0 as "%.2f" would print it (to the rounding of the last digit):
 * printf's float path is most of the export time of a big graph. */
static char *fix2(char *p, double v)
{
	unsigned long long c = v > 0 ? (unsigned long long)(v * 100 + 0.5) : 0, ip = c / 100;
	char tmp[24];
	int n = 0;

	do
		tmp[n++] = (char)('0' + ip % 10);
	while (ip /= 10);
	while (n)
		*p++ = tmp[--n];
	*p++ = '.';
	*p++ = (char)('0' + (c / 10) % 10);
	*p++ = (char)('0' + c % 10);
	return p;
}

static char *put(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

static char *put_u(char *p, unsigned long long v)
{
	char tmp[24];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while (v /= 10);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static void frame(struct shim_sink *o, const struct src *m, const struct look *looks,
		  const struct node *nd, double scale, uint64_t total, int height)
{
	const struct look *lk = &looks[nd->func == ROOT ? m->nfuncs
				       : (nd->func < m->nfuncs ? nd->func : m->nfuncs + 1)];
	double x = XPAD + nd->x * scale, w = (double)nd->count * scale;
	int y = height - YPAD_BOTTOM - (int)(nd->depth + 1) * FRAME_H + 1;
	char buf[320], *p = buf;

	/* nothing sampled: the root alone, full width, says so */
	if (!total)
		w = WIDTH - 2 * XPAD;
	shim_sink_puts(o, "<g><title>");
	shim_sink_puts(o, lk->xml);
	p = put(p, " (");
	p = put_u(p, nd->count);
	*p++ = ' ';
	p = put(p, m->unit);
	p = put(p, ", ");
	p = fix2(p, total ? 100.0 * (double)nd->count / (double)total : 100.0);
	p = put(p, "%)</title><rect x=\"");
	p = fix2(p, x);
	p = put(p, "\" y=\"");
	p = put_u(p, (unsigned)y);
	p = put(p, "\" width=\"");
	p = fix2(p, w);
	p = put(p, "\" height=\"");
	p = put_u(p, FRAME_H - 1);
	p = put(p, "\" fill=\"rgb(");
	for (int i = 0; i < 3; i++) {
		p = put_u(p, (unsigned)lk->rgb[i]);
		*p++ = i < 2 ? ',' : ')';
	}
	p = put(p, "\" rx=\"2\" ry=\"2\"/><text x=\"");
	p = fix2(p, x + 3);
	p = put(p, "\" y=\"");
	p = put_u(p, (unsigned)(y + FRAME_H - 5));
	p = put(p, "\">");
	shim_sink_write(o, buf, (size_t)(p - buf));
	if (lk->len * FONT * FONT_W + 3 <= w)
		shim_sink_puts(o, lk->xml); /* fits whole: the common case, no copy */
	else
		label(o, lk->name, w);
	shim_sink_puts(o, "</text></g>\n");
}

/* The zoom and search script (flamegraph.pl's behaviour, our code). */
static const char js[] =
	"'use strict';\n"
	"var details, searchbtn, unzoombtn, matchedtxt, frames = [], zoomed = null, searched = null;\n"
	"function init(evt) {\n"
	"  details = document.getElementById('details').firstChild;\n"
	"  searchbtn = document.getElementById('search');\n"
	"  unzoombtn = document.getElementById('unzoom');\n"
	"  matchedtxt = document.getElementById('matched');\n"
	"  var gs = document.getElementById('frames').getElementsByTagName('g');\n"
	"  for (var i = 0; i < gs.length; i++) {\n"
	"    var g = gs[i], r = g.getElementsByTagName('rect')[0];\n"
	"    var t = g.getElementsByTagName('title')[0].textContent;\n"
	"    var f = {g: g, r: r, t: g.getElementsByTagName('text')[0], title: t,\n"
	"      name: t.substring(0, t.lastIndexOf(' (')), fill: r.getAttribute('fill'),\n"
	"      x: parseFloat(r.getAttribute('x')), w: parseFloat(r.getAttribute('width')),\n"
	"      y: parseFloat(r.getAttribute('y'))};\n"
	"    g.fg = f;\n"
	"    frames.push(f);\n"
	"    g.addEventListener('click', function () { zoom(this.fg); });\n"
	"    g.addEventListener('mouseover', function () { details.nodeValue = 'Function: ' + this.fg.title; });\n"
	"    g.addEventListener('mouseout', function () { details.nodeValue = ' '; });\n"
	"  }\n"
	"  window.addEventListener('keydown', function (e) {\n"
	"    if (e.keyCode === 114 || ((e.ctrlKey || e.metaKey) && e.keyCode === 70)) {\n"
	"      e.preventDefault();\n"
	"      search_prompt();\n"
	"    } else if (e.keyCode === 27) {\n"
	"      reset_search();\n"
	"    }\n"
	"  });\n"
	"}\n"
	"function fit(f, w) {\n"
	"  var n = Math.floor((w - 3) / (FONT * FONT_W));\n"
	"  if (n < 3) f.t.textContent = '';\n"
	"  else if (f.name.length <= n) f.t.textContent = f.name;\n"
	"  else f.t.textContent = f.name.substring(0, n - 2) + '..';\n"
	"}\n"
	"function place(f, x, w) {\n"
	"  f.r.setAttribute('x', x.toFixed(2));\n"
	"  f.r.setAttribute('width', w.toFixed(2));\n"
	"  f.t.setAttribute('x', (x + 3).toFixed(2));\n"
	"  fit(f, w);\n"
	"}\n"
	"var EPS = 0.02;\n"
	"function zoom(z) {\n"
	"  var ratio = (W - 2 * XPAD) / z.w;\n"
	"  zoomed = z;\n"
	"  unzoombtn.classList.remove('hide');\n"
	"  for (var i = 0; i < frames.length; i++) {\n"
	"    var f = frames[i], inside = f.x >= z.x - EPS && f.x + f.w <= z.x + z.w + EPS;\n"
	"    f.g.classList.remove('hide');\n"
	"    f.g.classList.remove('parent');\n"
	"    if (f.y > z.y + EPS && f.x <= z.x + EPS && f.x + f.w >= z.x + z.w - EPS) {\n"
	"      f.g.classList.add('parent');\n"
	"      place(f, XPAD, W - 2 * XPAD);\n"
	"    } else if (f.y <= z.y + EPS && inside && (f.y < z.y - EPS || f === z)) {\n"
	"      place(f, XPAD + (f.x - z.x) * ratio, f.w * ratio);\n"
	"    } else {\n"
	"      f.g.classList.add('hide');\n"
	"    }\n"
	"  }\n"
	"}\n"
	"function unzoom() {\n"
	"  zoomed = null;\n"
	"  unzoombtn.classList.add('hide');\n"
	"  for (var i = 0; i < frames.length; i++) {\n"
	"    var f = frames[i];\n"
	"    f.g.classList.remove('hide');\n"
	"    f.g.classList.remove('parent');\n"
	"    place(f, f.x, f.w);\n"
	"  }\n"
	"}\n"
	"function search_prompt() {\n"
	"  if (searched !== null) {\n"
	"    reset_search();\n"
	"    return;\n"
	"  }\n"
	"  var term = prompt('Search for (regular expression; lower case ignores case):', '');\n"
	"  if (term) search(term);\n"
	"}\n"
	"function reset_search() {\n"
	"  searched = null;\n"
	"  for (var i = 0; i < frames.length; i++) frames[i].r.setAttribute('fill', frames[i].fill);\n"
	"  searchbtn.firstChild.nodeValue = 'Search';\n"
	"  matchedtxt.firstChild.nodeValue = ' ';\n"
	"}\n"
	"function search(term) {\n"
	"  var re, spans = [], total = 0, end = -1;\n"
	"  try {\n"
	"    re = new RegExp(term, term.toLowerCase() === term ? 'i' : '');\n"
	"  } catch (e) {\n"
	"    alert('Not a regular expression: ' + term);\n"
	"    return;\n"
	"  }\n"
	"  reset_search();\n"
	"  searched = term;\n"
	"  for (var i = 0; i < frames.length; i++) {\n"
	"    var f = frames[i];\n"
	"    if (f.name === 'all' && f.y === frames[0].y) continue;\n"
	"    if (re.test(f.name)) {\n"
	"      f.r.setAttribute('fill', 'rgb(230,0,230)');\n"
	"      spans.push([f.x, f.x + f.w]);\n"
	"    }\n"
	"  }\n"
	"  /* nested matches count once: the union of the matched spans */\n"
	"  spans.sort(function (a, b) { return a[0] - b[0]; });\n"
	"  for (var k = 0; k < spans.length; k++) {\n"
	"    if (spans[k][0] > end) {\n"
	"      total += spans[k][1] - spans[k][0];\n"
	"      end = spans[k][1];\n"
	"    } else if (spans[k][1] > end) {\n"
	"      total += spans[k][1] - end;\n"
	"      end = spans[k][1];\n"
	"    }\n"
	"  }\n"
	"  searchbtn.firstChild.nodeValue = 'Reset Search';\n"
	"  matchedtxt.firstChild.nodeValue = 'Matched: ' + (100 * total / (W - 2 * XPAD)).toFixed(1) + '%';\n"
	"}\n";

/* The graph of src; title and subtitle are plain text (escaped here). */
static int render(const struct src *m, const char *title, const char *subtitle,
		  struct shim_sink *o)
{
	struct tree t = {0};
	struct look *looks = NULL;
	uint32_t depthmax = 0;
	uint64_t total;
	double scale;
	int height, rc = -1;

	if (build(&t, m) != 0 || layout(&t, m) != 0)
		goto out;
	total = t.n[0].count;
	scale = total ? (double)(WIDTH - 2 * XPAD) / (double)total : 0;
	for (size_t i = 0; i < t.len; i++)
		if ((double)t.n[i].count * scale >= MIN_PX && t.n[i].depth > depthmax)
			depthmax = t.n[i].depth;
	height = (int)(depthmax + 1) * FRAME_H + YPAD_TOP + YPAD_BOTTOM;

	shim_sink_puts(o, "<?xml version=\"1.0\" standalone=\"no\"?>\n");
	shim_sink_printf(o, "<svg version=\"1.1\" width=\"%d\" height=\"%d\" onload=\"init(evt)\" "
			    "viewBox=\"0 0 %d %d\" xmlns=\"http://www.w3.org/2000/svg\">\n",
			 WIDTH, height, WIDTH, height);
	shim_sink_printf(o, "<style type=\"text/css\">\n"
			    "text { font-family: Verdana, sans-serif; font-size: %dpx; fill: #000; }\n"
			    "#title { text-anchor: middle; font-size: 17px; }\n"
			    "#subtitle { text-anchor: middle; fill: #555; }\n"
			    "#search, #matched { text-anchor: end; }\n"
			    "#search, #unzoom { cursor: pointer; }\n"
			    "#frames > g { cursor: pointer; }\n"
			    "#frames > g:hover > rect { stroke: #000; stroke-width: 0.5; }\n"
			    ".hide { display: none; }\n"
			    ".parent { opacity: 0.5; }\n"
			    "</style>\n",
			 FONT);
	shim_sink_printf(o, "<script type=\"text/ecmascript\"><![CDATA[\nvar W = %d, XPAD = %d, "
			    "FONT = %d, FONT_W = %g;\n",
			 WIDTH, XPAD, FONT, FONT_W);
	shim_sink_puts(o, js);
	shim_sink_puts(o, "]]></script>\n");
	shim_sink_puts(o, "<defs><linearGradient id=\"bg\" y1=\"0\" y2=\"1\" x1=\"0\" x2=\"0\">"
			  "<stop stop-color=\"#eeeeee\" offset=\"5%\"/>"
			  "<stop stop-color=\"#eeeeb0\" offset=\"95%\"/></linearGradient></defs>\n");
	shim_sink_printf(o, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"url(#bg)\"/>\n",
			 WIDTH, height);
	for (int k = 0; k < 2; k++) {
		char *c = shim_view_clean(k ? subtitle : title, 0);
		if (!c)
			goto out;
		shim_sink_printf(o, "<text id=\"%s\" x=\"%d\" y=\"%d\">", k ? "subtitle" : "title",
				 WIDTH / 2, k ? 40 : 22);
		shim_view_xml(o, c);
		shim_sink_puts(o, "</text>\n");
		free(c);
	}
	shim_sink_printf(o, "<text id=\"unzoom\" class=\"hide\" x=\"%d\" y=\"22\" "
			    "onclick=\"unzoom()\">Reset Zoom</text>\n", XPAD);
	shim_sink_printf(o, "<text id=\"search\" x=\"%d\" y=\"22\" onclick=\"search_prompt()\">"
			    "Search</text>\n", WIDTH - XPAD);
	shim_sink_printf(o, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", XPAD,
			 height - 12);
	shim_sink_printf(o, "<text id=\"matched\" x=\"%d\" y=\"%d\"> </text>\n", WIDTH - XPAD,
			 height - 12);
	shim_sink_puts(o, "<g id=\"frames\">\n");
	looks = looks_make(m);
	if (!looks)
		goto out;
	for (size_t i = 0; i < t.len; i++) {
		/* a frame too thin to see is left out (its children are thinner) */
		if (i && (double)t.n[i].count * scale < MIN_PX)
			continue;
		frame(o, m, looks, &t.n[i], scale, total, height);
	}
	shim_sink_puts(o, "</g>\n</svg>\n");
	rc = o->failed ? -1 : 0;
out:
	looks_free(looks, m->nfuncs + 2);
	free(t.n);
	free(t.slot);
	return rc;
}

int shim_export_flamegraph(const struct shim_model *m, struct shim_sink *o)
{
	struct src s = {m->funcs, m->nfuncs, m->locs, m->stacks, m->nstacks, "samples"};
	char title[320], sub[320];
	uint64_t total = 0;

	for (size_t i = 0; i < m->nstacks; i++)
		if (m->stacks[i].depth)
			total += m->stacks[i].count;
	snprintf(title, sizeof(title), "CPU flame graph: %s (pid %d)", m->exe, m->pid);
	if (total)
		snprintf(sub, sizeof(sub), "%llu samples (%s time), effective period %.3f ms "
					   "(%.0f Hz), %llu dropped; colour = module",
			 (unsigned long long)total, m->clock_wall ? "wall" : "CPU",
			 m->period_ns / 1e6, m->period_ns > 0 ? 1e9 / m->period_ns : 0.0,
			 (unsigned long long)m->samples_dropped);
	else
		snprintf(sub, sizeof(sub), "%s", m->hz ? "no CPU samples were taken"
						       : "no CPU samples: sampling is off (SHIMMER_HZ=0)");
	return render(&s, title, sub, o);
}

int shim_export_flamegraph_heap(const struct shim_model *m, struct shim_sink *o)
{
	const struct shim_model_heap *h = &m->heap;
	struct src s = {h->funcs, h->nfuncs, h->locs, h->stacks, h->nstacks, "bytes"};
	char title[320], sub[320];

	snprintf(title, sizeof(title), "Heap flame graph (bytes allocated): %s (pid %d)", m->exe,
		 m->pid);
	snprintf(sub, sizeof(sub), "%llu bytes in %llu allocations (estimated from %llu samples, "
				   "one every %llu bytes on average), %llu dropped; colour = module",
		 (unsigned long long)h->alloc_space, (unsigned long long)h->alloc_objects,
		 (unsigned long long)h->samples, (unsigned long long)h->mean,
		 (unsigned long long)h->dropped);
	return render(&s, title, sub, o);
}
