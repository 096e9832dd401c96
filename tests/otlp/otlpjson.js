// SPDX-License-Identifier: MIT
// Strict OTLP/JSON decoder for the test receiver: walks a request against the
// official opentelemetry-proto definitions (protobufjs reflection over the
// .proto files of a pinned npm package), applies the OTLP/JSON mapping rules,
// round-trips the result through the protobuf binary encoding and returns a
// canonical object (defaults filled, 64-bit integers as strings, ids as hex).
'use strict';

const path = require('path');
const protobuf = require('protobufjs');

// The .proto files: opentelemetry-proto v1.4.0 as shipped (verbatim, with
// their tag noted in opentelemetry/proto/collector/README.md) by this package.
const PROTO_PKG = '@elastic/mockotlpserver';
const PROTO_DIR = path.dirname(require.resolve(PROTO_PKG + '/package.json'));
const PROTO_FILES = [
  'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  'opentelemetry/proto/collector/logs/v1/logs_service.proto',
  'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
];

const REQUESTS = {
  traces: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
  logs: 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest',
  metrics: 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest',
};
const RESPONSES = {
  traces: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse',
  logs: 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse',
  metrics: 'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse',
};

// OTLP/JSON: these bytes fields are hex strings of a fixed size, not base64.
const ID_BYTES = { traceId: 16, spanId: 8, parentSpanId: 8 };

let ROOT = null;

/** The protobufjs Root with every OTLP service definition loaded and resolved. */
function root() {
  if (ROOT) return ROOT;
  const r = new protobuf.Root();
  r.resolvePath = (origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target));
  r.loadSync(PROTO_FILES, { keepCase: false });
  r.resolveAll();
  ROOT = r;
  return r;
}

function snake(name) {
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

const INT32 = { int32: [-2147483648n, 2147483647n], sint32: [-2147483648n, 2147483647n],
  sfixed32: [-2147483648n, 2147483647n], uint32: [0n, 4294967295n], fixed32: [0n, 4294967295n] };
const INT64 = { int64: [-(2n ** 63n), 2n ** 63n - 1n], sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n], uint64: [0n, 2n ** 64n - 1n], fixed64: [0n, 2n ** 64n - 1n] };

class Ctx {
  constructor() { this.errors = []; this.warnings = []; }
  err(p, msg) { this.errors.push(p + ': ' + msg); }
  warn(p, msg) { this.warnings.push(p + ': ' + msg); }
}

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'string' ? 'string ' + JSON.stringify(v.slice(0, 40)) : typeof v + ' ' + String(v);
}

function intValue(ctx, p, v, type) {
  const range = INT32[type] || INT64[type];
  const wide = !!INT64[type];
  let big;
  if (typeof v === 'string') {
    if (!/^-?(0|[1-9][0-9]*)$/.test(v)) { ctx.err(p, `${type} string is not a decimal integer: ${describe(v)}`); return undefined; }
    big = BigInt(v);
    if (!wide) ctx.warn(p, `${type} as a string (canonical OTLP/JSON is a number)`);
  } else if (typeof v === 'number') {
    if (!Number.isInteger(v)) { ctx.err(p, `${type} is not an integer: ${describe(v)}`); return undefined; }
    big = BigInt(v);
    if (wide) ctx.warn(p, `${type} as a JSON number (canonical OTLP/JSON is a decimal string)`);
  } else {
    ctx.err(p, `expected ${type}, got ${describe(v)}`);
    return undefined;
  }
  if (big < range[0] || big > range[1]) { ctx.err(p, `${type} out of range: ${v}`); return undefined; }
  if (!wide) return Number(big);
  return protobuf.util.Long.fromString(big.toString(), type.startsWith('u') || type === 'fixed64');
}

function floatValue(ctx, p, v, type) {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    if (/^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(v)) {
      ctx.warn(p, `${type} as a string`);
      return Number(v);
    }
  }
  ctx.err(p, `expected ${type}, got ${describe(v)}`);
  return undefined;
}

function bytesValue(ctx, p, v, name) {
  if (typeof v !== 'string') { ctx.err(p, `expected a string for bytes, got ${describe(v)}`); return undefined; }
  const size = ID_BYTES[name];
  if (size) {
    if (v === '') return Buffer.alloc(0);
    if (!/^[0-9a-fA-F]*$/.test(v) || v.length !== 2 * size) {
      ctx.err(p, `${name} must be ${2 * size} hex characters (OTLP/JSON ids are hex, not base64), got ${describe(v)}`);
      return undefined;
    }
    if (/^0+$/.test(v)) { ctx.err(p, `${name} is all zeros (an invalid id)`); return undefined; }
    return Buffer.from(v, 'hex');
  }
  if (!/^[A-Za-z0-9+/\-_]*={0,2}$/.test(v)) { ctx.err(p, `bytes is not base64: ${describe(v)}`); return undefined; }
  return Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function scalar(ctx, p, field, v) {
  const t = field.type;
  if (field.resolvedType instanceof protobuf.Enum) {
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      ctx.err(p, `enum ${field.resolvedType.name} must be an integer in OTLP/JSON, got ${describe(v)}`);
      return undefined;
    }
    if (v < -2147483648 || v > 2147483647) { ctx.err(p, `enum out of int32 range: ${v}`); return undefined; }
    if (field.resolvedType.valuesById[v] === undefined) ctx.warn(p, `value ${v} is not a defined ${field.resolvedType.name}`);
    return v;
  }
  if (field.resolvedType instanceof protobuf.Type) return message(ctx, p, field.resolvedType, v);
  if (t === 'string') {
    if (typeof v !== 'string') { ctx.err(p, `expected a string, got ${describe(v)}`); return undefined; }
    return v;
  }
  if (t === 'bool') {
    if (typeof v !== 'boolean') { ctx.err(p, `expected a boolean, got ${describe(v)}`); return undefined; }
    return v;
  }
  if (t === 'double' || t === 'float') return floatValue(ctx, p, v, t);
  if (t === 'bytes') return bytesValue(ctx, p, v, field.name);
  if (INT32[t] || INT64[t]) return intValue(ctx, p, v, t);
  ctx.err(p, `unsupported field type ${t}`);
  return undefined;
}

function message(ctx, p, type, json) {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    ctx.err(p, `expected a JSON object for ${type.name}, got ${describe(json)}`);
    return undefined;
  }
  const out = {};
  const oneofSeen = {};
  const bySnake = {};
  for (const f of type.fieldsArray) bySnake[snake(f.name)] = f.name;
  for (const key of Object.keys(json)) {
    const field = Object.prototype.hasOwnProperty.call(type.fields, key) ? type.fields[key] : null;
    const fp = p + '.' + key;
    if (!field) {
      if (bySnake[key] && bySnake[key] !== key) ctx.err(fp, `key is not lowerCamelCase (OTLP/JSON requires "${bySnake[key]}")`);
      continue; // unknown fields are ignored, as receivers must
    }
    const v = json[key];
    if (v === null) continue; // null means the default value
    if (field.partOf) {
      const o = field.partOf.name;
      if (oneofSeen[o]) { ctx.err(fp, `oneof ${o} already set by "${oneofSeen[o]}"`); continue; }
      oneofSeen[o] = key;
    }
    if (field.map) { ctx.err(fp, 'map fields are not used by OTLP'); continue; }
    if (field.repeated) {
      if (!Array.isArray(v)) { ctx.err(fp, `expected an array, got ${describe(v)}`); continue; }
      const arr = [];
      v.forEach((item, i) => {
        const x = scalar(ctx, `${fp}[${i}]`, field, item);
        if (x !== undefined) arr.push(x);
      });
      out[key] = arr;
    } else {
      const x = scalar(ctx, fp, field, v);
      if (x !== undefined) out[key] = x;
    }
  }
  return out;
}

// Ids back from base64 (protobufjs toObject) to hex, everywhere they appear.
function idsToHex(obj) {
  if (Array.isArray(obj)) { obj.forEach(idsToHex); return obj; }
  if (obj && typeof obj === 'object') {
    for (const k of Object.keys(obj)) {
      if (ID_BYTES[k] && typeof obj[k] === 'string') obj[k] = Buffer.from(obj[k], 'base64').toString('hex');
      else idsToHex(obj[k]);
    }
  }
  return obj;
}

/**
 * Decode one OTLP/JSON request of `kind` ('traces' | 'logs' | 'metrics') from a
 * JSON text. Returns {ok, errors, warnings, request}: errors are violations of
 * the OTLP/JSON rules (the request is invalid), warnings are accepted but
 * non-canonical forms and semantic oddities; request is the canonical object.
 */
function decode(kind, text) {
  const ctx = new Ctx();
  const typeName = REQUESTS[kind];
  if (!typeName) return { ok: false, errors: [`unknown signal ${kind}`], warnings: [], request: null };
  let json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: ['body is not JSON: ' + e.message], warnings: [], request: null };
  }
  const type = root().lookupType(typeName);
  const obj = message(ctx, '$', type, json);
  if (ctx.errors.length) return { ok: false, errors: ctx.errors, warnings: ctx.warnings, request: null };
  const bad = type.verify(obj);
  if (bad) return { ok: false, errors: ['protobuf verify: ' + bad], warnings: ctx.warnings, request: null };
  const wire = type.encode(type.fromObject(obj)).finish();
  const back = type.decode(wire);
  const request = idsToHex(type.toObject(back, {
    longs: String, enums: Number, bytes: String, defaults: true, arrays: true, json: true,
  }));
  if (kind === 'traces') lintTraces(ctx, request);
  if (ctx.errors.length) return { ok: false, errors: ctx.errors, warnings: ctx.warnings, request: null };
  return { ok: true, errors: [], warnings: ctx.warnings, request, wireBytes: wire.length };
}

// Semantic checks beyond the wire format: required ids are errors, the rest
// (accepted by a receiver, but odd) are warnings.
function lintTraces(ctx, req) {
  const seen = new Set();
  req.resourceSpans.forEach((rs, i) => {
    const rp = `$.resourceSpans[${i}]`;
    const attrs = (rs.resource && rs.resource.attributes) || [];
    lintAttrs(ctx, rp + '.resource.attributes', attrs);
    if (!attrs.some((a) => a.key === 'service.name')) ctx.warn(rp + '.resource', 'no service.name attribute');
    rs.scopeSpans.forEach((ss, j) => {
      ss.spans.forEach((s, k) => {
        const sp = `${rp}.scopeSpans[${j}].spans[${k}]`;
        if (!s.name) ctx.warn(sp + '.name', 'empty span name');
        if (s.kind < 1 || s.kind > 5) ctx.warn(sp + '.kind', `kind ${s.kind} (expected 1..5)`);
        if (s.status && (s.status.code < 0 || s.status.code > 2)) ctx.warn(sp + '.status.code', `code ${s.status.code}`);
        const st = BigInt(s.startTimeUnixNano);
        const en = BigInt(s.endTimeUnixNano);
        if (st === 0n || en === 0n) ctx.warn(sp, 'zero start or end time');
        if (en < st) ctx.warn(sp, 'end time before start time');
        if (!s.traceId || !s.spanId) ctx.err(sp, 'a span needs a traceId and a spanId');
        s.links.forEach((l, m) => {
          if (!l.traceId || !l.spanId) ctx.err(`${sp}.links[${m}]`, 'a link needs a traceId and a spanId');
        });
        const id = s.traceId + '/' + s.spanId;
        if (seen.has(id)) ctx.warn(sp + '.spanId', 'duplicate span id in the request');
        seen.add(id);
        lintAttrs(ctx, sp + '.attributes', s.attributes);
      });
    });
  });
}

function lintAttrs(ctx, p, attrs) {
  const keys = new Set();
  attrs.forEach((kv, i) => {
    if (!kv.key) ctx.warn(`${p}[${i}]`, 'empty attribute key');
    if (keys.has(kv.key)) ctx.warn(`${p}[${i}]`, `duplicate attribute key ${kv.key}`);
    keys.add(kv.key);
  });
}

/** The canonical JSON text of an empty Export*ServiceResponse (what we answer). */
function emptyResponse(kind) {
  const type = root().lookupType(RESPONSES[kind]);
  return JSON.stringify(type.toObject(type.create({}), { json: true }));
}

module.exports = { decode, emptyResponse, root, PROTO_PKG, PROTO_DIR };
