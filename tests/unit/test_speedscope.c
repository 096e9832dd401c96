/* SPDX-License-Identifier: MIT */
/* profile.speedscope.json from the hand-built model, parsed back with jansson
 * and checked against speedscope's file-format-spec: shared frames, one
 * sampled profile per thread, stacks root first, weights in nanoseconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../export/export.h"
#include "model_fixture.h"

static json_t *render(int samples)
{
	struct shim_model m;
	struct shim_sink s;
	json_error_t err;
	json_t *j;

	fixture_build(&m, samples);
	shim_sink_init(&s);
	assert_int_equal(shim_export_speedscope(&m, &s), 0);
	j = json_loads(s.buf, 0, &err);
	if (!j)
		fail_msg("not JSON: %s at %d", err.text, err.position);
	shim_sink_free(&s);
	return j;
}

static void speedscope_shape(void **state)
{
	json_t *j = render(1), *frames, *profiles, *p, *samples, *weights;
	json_int_t sum = 0;
	(void)state;

	assert_string_equal(json_string_value(json_object_get(j, "$schema")),
			    "https://www.speedscope.app/file-format-schema.json");
	assert_string_equal(json_string_value(json_object_get(j, "exporter")), "shimmer@0.1");
	frames = json_object_get(json_object_get(j, "shared"), "frames");
	assert_int_equal(json_array_size(frames), F_N);
	assert_string_equal(json_string_value(json_object_get(json_array_get(frames, F_SPIN), "name")),
			    "spin");
	assert_string_equal(json_string_value(json_object_get(json_array_get(frames, F_SPIN), "file")),
			    "t.c");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(frames, F_SPIN), "line")), 40);
	assert_string_equal(json_string_value(json_object_get(json_array_get(frames, F_BAD), "name")),
			    "bad?name");
	assert_null(json_object_get(json_array_get(frames, F_WRITE), "line"));

	profiles = json_object_get(j, "profiles");
	assert_int_equal(json_array_size(profiles), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "activeProfileIndex")), 0);
	p = json_array_get(profiles, 0);
	assert_string_equal(json_string_value(json_object_get(p, "type")), "sampled");
	assert_string_equal(json_string_value(json_object_get(p, "name")), "t_prog (tid 100)");
	assert_string_equal(json_string_value(json_object_get(p, "unit")), "nanoseconds");
	samples = json_object_get(p, "samples");
	weights = json_object_get(p, "weights");
	assert_int_equal(json_array_size(samples), 3);
	assert_int_equal(json_array_size(weights), 3);
	/* root first: main, work, spin; 60 samples of 10 ms */
	assert_int_equal(json_integer_value(json_array_get(json_array_get(samples, 0), 0)), F_MAIN);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(samples, 0), 2)), F_SPIN);
	assert_int_equal(json_integer_value(json_array_get(weights, 0)), 600000000);
	for (size_t i = 0; i < 3; i++)
		sum += json_integer_value(json_array_get(weights, i));
	assert_int_equal(json_integer_value(json_object_get(p, "endValue")), sum);
	assert_int_equal(sum, 950000000);
	p = json_array_get(profiles, 1);
	assert_string_equal(json_string_value(json_object_get(p, "name")), "worker (tid 101)");
	assert_int_equal(json_integer_value(json_object_get(p, "endValue")), 150000000);
	json_decref(j);
}

static void speedscope_empty(void **state)
{
	json_t *j = render(0), *p;
	(void)state;

	p = json_array_get(json_object_get(j, "profiles"), 0);
	assert_non_null(p);
	assert_int_equal(json_array_size(json_object_get(p, "samples")), 0);
	assert_string_equal(json_string_value(json_object_get(p, "name")), "tid 4242");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(speedscope_shape),
		cmocka_unit_test(speedscope_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
