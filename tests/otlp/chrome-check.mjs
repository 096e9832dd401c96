#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Read a Chrome Trace Event file with a real trace-event parser (the DevTools
// Performance panel's trace engine, @paulirish/trace_engine, pinned) and print
// what it made of it as JSON: per process and thread, the names from the M
// events, the X entries it placed, the nodes of its call tree and whether the
// entries nest (TreeHelpers.canBuildTreesFromEvents). Exit 1 if it fails.
import fs from 'node:fs';
import * as Trace from '@paulirish/trace_engine';
import { canBuildTreesFromEvents } from '@paulirish/trace_engine/models/trace/helpers/TreeHelpers.js';

// The engine needs window.DOMRect, which Node lacks (its README says so).
globalThis.DOMRect = class DOMRect {
  constructor(x = 0, y = 0, width = 0, height = 0) {
    Object.assign(this, { x, y, width, height });
  }
};

async function main() {
  const file = process.argv[2];
  if (!file) throw new Error('usage: chrome-check.mjs FILE');
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const events = Array.isArray(json) ? json : json.traceEvents;
  if (!Array.isArray(events)) throw new Error('no traceEvents array');
  const model = Trace.TraceModel.Model.createWithAllHandlers();
  await model.parse(events);
  const data = model.parsedTrace().data;
  const out = { events: events.length, processes: {} };
  for (const [pid, m] of data.Meta.processNames) {
    out.processes[pid] = { name: m.args && m.args.name, threads: {} };
  }
  for (const [pid, proc] of data.Renderer.processes) {
    const p = out.processes[pid] || (out.processes[pid] = { name: null, threads: {} });
    for (const [tid, t] of proc.threads) {
      let nodes = 0;
      const walk = (n) => { nodes++; for (const c of n.children) walk(c); };
      if (t.tree) for (const r of t.tree.roots) walk(r);
      const sorted = [...t.entries].sort((a, b) => a.ts - b.ts || (b.dur ?? 0) - (a.dur ?? 0));
      p.threads[tid] = { name: t.name || null, entries: t.entries.length, treeNodes: nodes,
        nests: canBuildTreesFromEvents(sorted) };
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`chrome-check: ${e.stack || e}\n`);
  process.exit(1);
});
