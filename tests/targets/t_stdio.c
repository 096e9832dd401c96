/* SPDX-License-Identifier: MIT */
/* Stdio calls with exact, known counts and bytes, each from its own named
 * function: fwrite records, fputs lines read back with fgets and getline,
 * fread blocks, getdelim fields, failed fopens and freads on a write-only
 * stream (errors only when the call sets the error indicator).
 * Usage: t_stdio DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fortified entry points, called directly (targets build without fortify). */
extern size_t __fread_chk(void *buf, size_t buflen, size_t size, size_t n, FILE *s);
extern char *__fgets_chk(char *buf, size_t buflen, int n, FILE *s);

static volatile int nrec = 200, nlines = 40, nmiss = 4, nbad = 3;
static char dir[512];

static const char *at(const char *name)
{
	static char buf[2][600];
	static int i;
	i = (i + 1) % 2;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void die(const char *what)
{
	printf("FAIL %s errno=%d\n", what, errno);
	exit(2);
}

FILE *open_or_die(const char *name, const char *mode)
{
	FILE *f = fopen(at(name), mode);
	if (!f)
		die(name);
	return f;
}

void write_records(FILE *f) /* 200 fwrite of 5 items of 10 bytes: 10000 bytes */
{
	char rec[50];
	memset(rec, 'r', sizeof(rec));
	for (int i = 0; i < nrec; i++)
		if (fwrite(rec, 10, 5, f) != 5)
			die("fwrite");
}

void write_lines(FILE *f) /* 40 fputs of 10 bytes */
{
	for (int i = 0; i < nlines; i++)
		if (fputs("abcdefghi\n", f) == EOF)
			die("fputs");
}

int read_fgets(FILE *f) /* 41 fgets (the last at EOF): 400 bytes */
{
	char line[64];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n++;
	return n;
}

int read_getline(FILE *f) /* 41 getline (the last at EOF): 400 bytes */
{
	char *line = NULL;
	size_t cap = 0;
	int n = 0;
	while (getline(&line, &cap, f) >= 0)
		n++;
	free(line);
	return n;
}

size_t read_blocks(FILE *f) /* fread 30 x 100: 30, 30, 30, 10, 0 items */
{
	char buf[3000];
	size_t items = 0, got;
	do {
		got = fread(buf, 100, 30, f);
		items += got;
	} while (got > 0);
	return items;
}

int read_fields(FILE *f) /* getdelim(',') of "a,bb,ccc,": 3 fields + EOF */
{
	char *field = NULL;
	size_t cap = 0;
	int n = 0;
	while (getdelim(&field, &cap, ',', f) >= 0)
		n++;
	free(field);
	return n;
}

int fail_fopens(void) /* 4 fopen ENOENT */
{
	int n = 0;
	for (int i = 0; i < nmiss; i++)
		if (!fopen(at("missing/file"), "r") && errno == ENOENT)
			n++;
	return n;
}

int bad_freads(FILE *w) /* 3 fread on a write-only stream: EBADF each */
{
	char b[8];
	int n = 0;
	for (int i = 0; i < nbad; i++) {
		clearerr(w);
		errno = 0;
		if (fread(b, 1, sizeof(b), w) == 0 && ferror(w) && errno == EBADF)
			n++;
	}
	return n;
}

void do_fortified(FILE *f) /* 2 __fgets_chk (10 bytes each), 1 __fread_chk of 20 */
{
	char b[64];
	for (int i = 0; i < 2; i++)
		if (!__fgets_chk(b, sizeof(b), sizeof(b), f))
			die("__fgets_chk");
	if (__fread_chk(b, sizeof(b), 1, 20, f) != 20)
		die("__fread_chk");
}

void redirect_stdout(void) /* fflush, freopen stdout to a file, 3 fputs of 11 bytes */
{
	if (fflush(stdout) != 0)
		die("fflush stdout");
	if (!freopen(at("redirected.txt"), "w", stdout))
		die("freopen");
	for (int i = 0; i < 3; i++)
		fputs("0123456789\n", stdout);
}

int main(int argc, char **argv)
{
	FILE *f;
	if (argc < 2)
		return 1;
	snprintf(dir, sizeof(dir), "%s", argv[1]);

	f = open_or_die("records.bin", "w");
	write_records(f);
	if (fflush(f) != 0)
		die("fflush");
	printf("bad freads: %d\n", bad_freads(f));
	fclose(f);

	f = open_or_die("lines.txt", "w");
	write_lines(f);
	fclose(f);

	f = open_or_die("lines.txt", "r");
	printf("fgets lines: %d\n", read_fgets(f));
	fclose(f);

	f = open_or_die("lines.txt", "r");
	printf("getline lines: %d\n", read_getline(f));
	fclose(f);

	f = open_or_die("lines.txt", "r");
	do_fortified(f);
	fclose(f);

	f = open_or_die("records.bin", "r");
	printf("fread items: %zu\n", read_blocks(f));
	fclose(f);

	f = open_or_die("fields.txt", "w+");
	fputs("a,bb,ccc,", f);
	rewind(f);
	printf("getdelim fields: %d\n", read_fields(f));
	fclose(f);

	printf("failed fopens: %d\n", fail_fopens());
	redirect_stdout();
	return 0;
}
