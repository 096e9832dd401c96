/* SPDX-License-Identifier: MIT */
/* The run folder ($SHIMMER_OUT/<exe>.<pid>/) and writing each enabled output
 * into it: 0600, O_EXCL|O_NOFOLLOW; a temp file then an atomic rename, except
 * a file the last flush (not on the worker) writes for the first time. */
#ifndef SHIM_OUTPUT_H
#define SHIM_OUTPUT_H

/* Build the model and write every output of this process image. Returns 0, or
 * -1 after one "shimmer: ..." line per failure kind (unwritable folder, full
 * disk); the target is never affected. Flushes are serialized by one lock (the
 * worker's periodic or on-demand flush and the final one at exit never
 * interleave; a file written before is replaced by rename). Export time only:
 * allocates, does I/O, takes the flush lock; the caller holds
 * shim_tls.internal. */
int shim_output_flush(void);

/* Create this image's run folder now if it does not exist yet (the control
 * socket lives in it). Returns 0 or -1 (one "shimmer: " line). Takes the flush
 * lock. Export time / worker only. */
int shim_output_make_dir(void);

/* Fork handlers: prepare takes the flush lock (a flush in progress on the
 * worker finishes first, so the child never inherits it held), parent drops
 * it, child re-initializes it and forgets the parent's run folder. */
void shim_output_fork_prepare(void);
void shim_output_fork_parent(void);
void shim_output_fork_child(void);

/* The run folder of this image, or "" when none was made yet. */
const char *shim_output_dir(void);

#endif
