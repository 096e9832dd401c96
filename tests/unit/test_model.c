/* SPDX-License-Identifier: MIT */
/* shim/model.c (and the recorders it reads): calls recorded through the
 * record.h API from known functions and threads, merged by shim_model_build
 * into exact totals, callers grouped by function, errors by errno, resources,
 * and drop counters that account for every call a full table turned away. */
#include "unit.h"

#include <errno.h>
#include <pthread.h>

#include "../../shim/fdtab.h"
#include "../../shim/model.h"
#include "../../shim/record.h"
#include "../../shim/thread.h"

static volatile int sink;

/* Record one call of fn made from the function that calls rec(). */
UNIT_VISIBLE void rec(unsigned fn, int64_t bytes, int err, int fd)
{
	shim_rec_call(fn, __builtin_return_address(0), shim_clock_now(), bytes, err, fd);
}

UNIT_VISIBLE void caller_one(unsigned fn, int n)
{
	for (int i = 0; i < n; i++)
		rec(fn, 10, 0, -1);
}

UNIT_VISIBLE void caller_two(unsigned fn, int n)
{
	for (int i = 0; i < n; i++)
		rec(fn, 5, i == 0 ? EIO : 0, -1);
	rec(fn, 5, 0, -1); /* a second call site in the same function */
	sink++;		   /* not a tail call: the return address stays in here */
}

static int setup(void **state)
{
	(void)state;
	/* the constructor (shim/init.c is linked in) has set the tables up
	 * unless the environment disabled it */
	if (!shim_active && (shim_thread_init() != 0 || shim_fd_init() != 0))
		return -1;
	return 0;
}

static const struct shim_model_call *find_call(const struct shim_model *m, unsigned fn)
{
	for (size_t i = 0; i < m->ncalls; i++)
		if (m->calls[i].fn == fn)
			return &m->calls[i];
	return NULL;
}

static const struct shim_model_caller *find_caller(const struct shim_model_call *c,
						   const char *func)
{
	for (size_t i = 0; i < c->ncallers; i++)
		if (strcmp(c->callers[i].where.func, func) == 0)
			return &c->callers[i];
	return NULL;
}

static uint64_t err_count(const struct shim_model *m, unsigned fn, int err)
{
	for (size_t i = 0; i < m->nerrs; i++)
		if (m->errs[i].fn == fn && m->errs[i].err == err)
			return m->errs[i].count;
	return 0;
}

static const struct shim_model_res *find_res(const struct shim_model *m, const char *name)
{
	for (size_t i = 0; i < m->nres; i++)
		if (strcmp(m->res[i].name, name) == 0)
			return &m->res[i];
	return NULL;
}

/* Every timed call is in a caller or in the dropped count; every failure is in an
 * errno counter or in the dropped count. */
static void check_conservation(const struct shim_model *m)
{
	uint64_t calls = 0, in_callers = 0, errors = 0, in_errs = 0;

	for (size_t i = 0; i < m->ncalls; i++) {
		if (m->calls[i].family == SHIM_FAM_ALLOC)
			continue; /* counted per function only: no caller sites */
		calls += m->calls[i].calls;
		errors += m->calls[i].errors;
		for (size_t j = 0; j < m->calls[i].ncallers; j++)
			in_callers += m->calls[i].callers[j].calls;
	}
	for (size_t i = 0; i < m->nerrs; i++)
		in_errs += m->errs[i].count;
	assert_true(calls <= shim_model_total_calls(m));
	assert_int_equal(in_callers + m->dropped.sites, calls);
	assert_int_equal(in_errs + m->dropped.errs, errors);
}

static void test_totals_and_callers(void **state)
{
	struct shim_model m;
	const struct shim_model_call *c;
	const struct shim_model_caller *one, *two;
	(void)state;

	caller_one(SHIM_FN_write, 7);
	caller_two(SHIM_FN_write, 3);
	assert_int_equal(shim_model_build(&m), 0);
	c = find_call(&m, SHIM_FN_write);
	assert_non_null(c);
	assert_string_equal(c->name, "write");
	assert_string_equal(c->module, "libc.so.6");
	assert_int_equal(c->family, SHIM_FAM_FILE);
	assert_int_equal(c->calls, 11);
	assert_int_equal(c->bytes, 7 * 10 + 4 * 5);
	assert_int_equal(c->errors, 1);
	assert_true(c->seconds >= 0);
	/* grouped by function: caller_two's two call sites are one caller */
	assert_int_equal(c->ncallers, 2);
	one = find_caller(c, "caller_one");
	two = find_caller(c, "caller_two");
	assert_non_null(one);
	assert_non_null(two);
	assert_int_equal(one->calls, 7);
	assert_int_equal(one->bytes, 70);
	assert_int_equal(one->errors, 0);
	assert_int_equal(two->calls, 4);
	assert_int_equal(two->errors, 1);
	assert_string_equal(one->where.module, "test_model");
	assert_int_equal(err_count(&m, SHIM_FN_write, EIO), 1);
	assert_true(m.pid == getpid());
	assert_true(m.threads >= 1);
	check_conservation(&m);
	shim_model_free(&m);
	assert_null(m.calls);
	assert_int_equal(m.ncalls, 0);
}

static void test_resources(void **state)
{
	struct shim_model m;
	const struct shim_model_res *r, *d;
	char path[] = "/tmp/shimmer-model-XXXXXX";
	uint32_t dns;
	int fd;
	(void)state;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	shim_fd_set_path(fd, SHIM_KIND_FILE, path);
	rec(SHIM_FN_read, 100, 0, fd);
	rec(SHIM_FN_read, 100, 0, fd);
	rec(SHIM_FN_read, -1, EAGAIN, fd);
	rec(SHIM_FN_pwrite, 42, 0, fd);
	dns = shim_res_intern(SHIM_KIND_DNS, "example.invalid", 15);
	shim_rec_call_res(SHIM_FN_getaddrinfo, __builtin_return_address(0), shim_clock_now(), -1,
			  EHOSTUNREACH, dns);

	assert_int_equal(shim_model_build(&m), 0);
	r = find_res(&m, path);
	assert_non_null(r);
	assert_int_equal(r->kind, SHIM_KIND_FILE);
	assert_int_equal(r->ops, 4);
	assert_int_equal(r->rbytes, 200);
	assert_int_equal(r->wbytes, 42);
	assert_int_equal(r->errors, 1);
	d = find_res(&m, "example.invalid");
	assert_non_null(d);
	assert_int_equal(d->kind, SHIM_KIND_DNS);
	assert_int_equal(d->ops, 1);
	assert_int_equal(d->errors, 1);
	assert_int_equal(err_count(&m, SHIM_FN_read, EAGAIN), 1);
	/* sorted by time, descending */
	for (size_t i = 1; i < m.nres; i++)
		assert_true(m.res[i - 1].seconds >= m.res[i].seconds);
	check_conservation(&m);
	shim_model_free(&m);
	close(fd);
	shim_fd_clear(fd);
	unlink(path);
}

static void test_long_resource_name(void **state)
{
	struct shim_model m;
	char name[SHIM_RES_NAME + 50];
	const struct shim_model_res *r = NULL;
	int fd = 60100;
	(void)state;

	memset(name, 'n', sizeof(name) - 1);
	name[0] = '/';
	name[sizeof(name) - 1] = '\0';
	shim_fd_set_path(fd, SHIM_KIND_FILE, name);
	rec(SHIM_FN_fsync, -1, 0, fd);
	shim_fd_clear(fd);
	assert_int_equal(shim_model_build(&m), 0);
	for (size_t i = 0; i < m.nres; i++)
		if (strncmp(m.res[i].name, "/nnn", 4) == 0)
			r = &m.res[i];
	assert_non_null(r);
	assert_int_equal(strlen(r->name), SHIM_RES_NAME + 3);
	assert_string_equal(r->name + SHIM_RES_NAME, "...");
	assert_memory_equal(r->name, name, SHIM_RES_NAME);
	shim_model_free(&m);
}

static void test_counted_only_calls(void **state)
{
	struct shim_model m;
	const struct shim_model_call *c;
	unsigned saved = shim_active;
	(void)state;

	/* allocations are counted per function, with no caller sites */
	shim_active |= SHIM_FAM(ALLOC);
	shim_rec_alloc(SHIM_FN_malloc, 100, 0);
	shim_rec_alloc(SHIM_FN_malloc, 1u << 20, 1);
	shim_rec_alloc(SHIM_FN_free, 0, 0);
	shim_active = saved;
	assert_int_equal(shim_model_build(&m), 0);
	c = find_call(&m, SHIM_FN_malloc);
	assert_non_null(c);
	assert_int_equal(c->calls, 2);
	assert_int_equal(c->errors, 1);
	assert_int_equal(c->bytes, 100 + (1u << 20));
	assert_int_equal(c->ncallers, 0);
	assert_true(c->seconds == 0);
	assert_int_equal(c->family, SHIM_FAM_ALLOC);
	assert_int_equal(find_call(&m, SHIM_FN_free)->calls, 1);
	shim_model_free(&m);
}

/* ---- threads: exited ones are merged at their exit, live ones at build ---- */

static pthread_barrier_t live_in, live_out;

UNIT_VISIBLE void caller_thread(unsigned fn, int n)
{
	for (int i = 0; i < n; i++)
		rec(fn, 1, 0, -1);
}

static void *short_lived(void *arg)
{
	(void)arg;
	caller_thread(SHIM_FN_pwrite64, 100);
	return NULL;
}

static void *long_lived(void *arg)
{
	(void)arg;
	caller_thread(SHIM_FN_pwrite64, 50);
	pthread_barrier_wait(&live_in);
	pthread_barrier_wait(&live_out);
	return NULL;
}

static void test_threads(void **state)
{
	struct shim_model m;
	const struct shim_model_call *c;
	const struct shim_model_caller *t;
	pthread_t th[3], live;
	uint64_t seen0 = shim_thread_seen();
	(void)state;

	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, short_lived, NULL), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_init(&live_in, NULL, 2);
	pthread_barrier_init(&live_out, NULL, 2);
	assert_int_equal(pthread_create(&live, NULL, long_lived, NULL), 0);
	pthread_barrier_wait(&live_in);

	assert_int_equal(shim_model_build(&m), 0);
	c = find_call(&m, SHIM_FN_pwrite64);
	assert_non_null(c);
	assert_int_equal(c->calls, 350);
	assert_int_equal(c->bytes, 350);
	t = find_caller(c, "caller_thread");
	assert_non_null(t);
	assert_int_equal(t->calls, 350);
	assert_int_equal(shim_thread_seen(), seen0 + 4);
	check_conservation(&m);
	shim_model_free(&m);

	pthread_barrier_wait(&live_out);
	pthread_join(live, NULL);
	/* after its exit the live thread's calls are still counted, once */
	assert_int_equal(shim_model_build(&m), 0);
	assert_int_equal(find_call(&m, SHIM_FN_pwrite64)->calls, 350);
	shim_model_free(&m);
	pthread_barrier_destroy(&live_in);
	pthread_barrier_destroy(&live_out);
}

/* ---- full tables drop and count, never lose a total ---- */

static void *many_errnos(void *arg)
{
	(void)arg;
	for (int e = 1; e <= SHIM_ERR_CAP + 72; e++)
		rec(SHIM_FN_fdatasync, -1, e, -1);
	return NULL;
}

static void *many_sites(void *arg)
{
	(void)arg;
	/* made-up return addresses in unmapped low memory: distinct callers */
	for (uintptr_t i = 0; i < SHIM_SITE_CAP + 1000; i++)
		shim_rec_call(SHIM_FN_lseek, (const void *)(0x10000 + 16 * i), shim_clock_now(), -1,
			      0, -1);
	return NULL;
}

static void test_full_tables(void **state)
{
	struct shim_model m;
	const struct shim_model_call *c;
	pthread_t th;
	(void)state;

	assert_int_equal(pthread_create(&th, NULL, many_errnos, NULL), 0);
	pthread_join(th, NULL);
	assert_int_equal(pthread_create(&th, NULL, many_sites, NULL), 0);
	pthread_join(th, NULL);

	assert_int_equal(shim_model_build(&m), 0);
	c = find_call(&m, SHIM_FN_fdatasync);
	assert_non_null(c);
	assert_int_equal(c->calls, SHIM_ERR_CAP + 72);
	assert_int_equal(c->errors, SHIM_ERR_CAP + 72);
	assert_true(m.dropped.errs >= 72);
	c = find_call(&m, SHIM_FN_lseek);
	assert_non_null(c);
	assert_int_equal(c->calls, SHIM_SITE_CAP + 1000);
	assert_true(m.dropped.sites >= 1000);
	assert_true(c->ncallers <= SHIM_SITE_CAP);
	check_conservation(&m);
	shim_model_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_totals_and_callers),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_long_resource_name),
		cmocka_unit_test(test_counted_only_calls),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_full_tables),
	};
	return unit_exit(cmocka_run_group_tests(tests, setup, NULL));
}
