/* SPDX-License-Identifier: MIT */
/* The run folder ($SHIMMER_OUT/<exe>.<pid>/) and writing each enabled output
 * into it: 0600, O_EXCL|O_NOFOLLOW temp file, then an atomic rename. */
#ifndef SHIM_OUTPUT_H
#define SHIM_OUTPUT_H

/* Build the model and write every output of this process image. Returns 0, or
 * -1 after one "shimmer: ..." line per failure kind (unwritable folder, full
 * disk); the target is never affected. Export time only: allocates, does I/O;
 * the caller holds shim_tls.internal. */
int shim_output_flush(void);

/* Create this image's run folder now if it does not exist yet (metrics.port
 * goes in it). Returns 0 or -1 (one "shimmer: " line). Export time, the
 * constructor or the worker only. */
int shim_output_make_dir(void);

/* Forget the run folder chosen by the parent (fork child). */
void shim_output_fork_child(void);

/* The run folder of this image, or "" when none was made yet. */
const char *shim_output_dir(void);

#endif
