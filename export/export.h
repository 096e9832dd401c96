/* SPDX-License-Identifier: MIT */
/* One writer a format. Each reads only the model and appends to a sink;
 * returns 0, or -1 when it could not render (the sink's failed flag says out of
 * memory). Export time only. */
#ifndef SHIM_EXPORT_H
#define SHIM_EXPORT_H

#include "../shim/model.h"
#include "../shim/sink.h"

/* profile.txt: the cProfile-style table (pstats.print_stats layout), the
 * callers section (print_callers layout), then errors and resources. */
int shim_export_table(const struct shim_model *m, struct shim_sink *out);

#endif
