#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// A strict OTLP/HTTP JSON receiver for Shimmer's tests (loopback only): decodes
// every POST /v1/{traces,logs,metrics} with otlpjson.js, answers 200 {} or 400,
// appends one NDJSON record per request to --out (and serves them on
// GET /received); fault modes answer 503/429 first or never answer at all.
// `--validate FILE` checks a file of requests, one per line, offline.
'use strict';

const fs = require('fs');
const http = require('http');
const zlib = require('zlib');
const otlp = require('./otlpjson');

const USAGE = `usage: receiver.js [--port N] [--out FILE] [--fail N] [--fail-status CODE]
                   [--retry-after SECONDS] [--hang] [--max-body BYTES]
       receiver.js --validate FILE [--kind traces|logs|metrics] [--out FILE]
Serves on 127.0.0.1 and prints {"port":N,"pid":P} on stdout when ready.
  --fail N          answer the first N POSTs with --fail-status (default 503)
  --retry-after S   send Retry-After: S with those answers
  --hang            read every POST and never answer it
  --validate FILE   decode each line of FILE as an OTLP/JSON request; print a JSON
                    summary; exit 1 when a line is invalid`;

function parseArgs(argv) {
  const o = { port: 0, out: null, fail: 0, failStatus: 503, retryAfter: null, hang: false,
    maxBody: 64 << 20, validate: null, kind: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const num = () => {
      const v = next();
      if (!/^[0-9]+$/.test(v)) throw new Error(`${a}: not a number: ${v}`);
      return Number(v);
    };
    if (a === '--port') o.port = num();
    else if (a === '--out') o.out = next();
    else if (a === '--fail') o.fail = num();
    else if (a === '--fail-status') o.failStatus = num();
    else if (a === '--retry-after') o.retryAfter = next();
    else if (a === '--hang') o.hang = true;
    else if (a === '--max-body') o.maxBody = num();
    else if (a === '--validate') o.validate = next();
    else if (a === '--kind') o.kind = next();
    else if (a === '-h' || a === '--help') { process.stdout.write(USAGE + '\n'); process.exit(0); }
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

const SIGNALS = { '/v1/traces': 'traces', '/v1/logs': 'logs', '/v1/metrics': 'metrics' };

function kindOf(json) {
  if (json.includes('"resourceLogs"')) return 'logs';
  if (json.includes('"resourceMetrics"')) return 'metrics';
  return 'traces';
}

function countSpans(req) {
  let n = 0;
  for (const rs of (req && req.resourceSpans) || []) for (const ss of rs.scopeSpans) n += ss.spans.length;
  return n;
}

function validateFile(o) {
  const text = fs.readFileSync(o.validate, 'utf8');
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const sum = { file: o.validate, lines: lines.length, valid: 0, spans: 0, errors: [], warnings: [] };
  const records = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') { sum.errors.push({ line: i + 1, errors: ['empty line'] }); return; }
    const kind = o.kind || kindOf(line);
    const r = otlp.decode(kind, line);
    if (r.ok) {
      sum.valid++;
      sum.spans += countSpans(r.request);
    } else {
      sum.errors.push({ line: i + 1, errors: r.errors });
    }
    r.warnings.forEach((w) => sum.warnings.push(`line ${i + 1}: ${w}`));
    records.push({ seq: i + 1, signal: kind, status: r.ok ? 200 : 400, errors: r.errors,
      warnings: r.warnings, request: r.request });
  });
  if (o.out) fs.writeFileSync(o.out, records.map((r) => JSON.stringify(r) + '\n').join(''));
  process.stdout.write(JSON.stringify(sum) + '\n');
  return sum.errors.length ? 1 : 0;
}

function serve(o) {
  const received = [];
  let posts = 0;
  const hung = [];

  function record(rec) {
    rec.seq = received.length + 1;
    rec.timeMs = Date.now();
    rec.time = new Date(rec.timeMs).toISOString();
    received.push(rec);
    if (o.out) fs.appendFileSync(o.out, JSON.stringify(rec) + '\n');
  }

  function answer(res, status, body, headers) {
    res.writeHead(status, Object.assign({ 'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body) }, headers || {}));
    res.end(body);
  }

  function onPost(req, res, signal, raw) {
    posts++;
    const rec = { method: 'POST', path: req.url, signal, bytes: raw.length,
      headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host')),
      status: 0, injected: false, hung: false, errors: [], warnings: [], request: null };
    const ctype = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
    const enc = (req.headers['content-encoding'] || 'identity').trim().toLowerCase();
    let body = raw;
    let status = 200;
    if (ctype !== 'application/json') {
      status = 415;
      rec.errors.push(`Content-Type must be application/json, got "${req.headers['content-type'] || ''}"`);
    } else if (enc === 'gzip') {
      try {
        body = zlib.gunzipSync(raw);
      } catch (e) {
        status = 400;
        rec.errors.push('Content-Encoding gzip but the body does not gunzip: ' + e.message);
      }
    } else if (enc !== 'identity') {
      status = 415;
      rec.errors.push(`unsupported Content-Encoding "${enc}"`);
    }
    if (status === 200) {
      const r = otlp.decode(signal, body.toString('utf8'));
      rec.errors = r.errors;
      rec.warnings = r.warnings;
      rec.request = r.request;
      if (!r.ok) status = 400;
    }
    if (o.hang) {
      rec.hung = true;
      record(rec);
      hung.push(res); // never answered; the socket stays open until we are killed
      return;
    }
    if (posts <= o.fail) {
      rec.status = o.failStatus;
      rec.injected = true;
      record(rec);
      const hdr = o.retryAfter !== null ? { 'Retry-After': o.retryAfter } : {};
      answer(res, o.failStatus, JSON.stringify({ code: 14, message: 'injected failure' }), hdr);
      return;
    }
    rec.status = status;
    record(rec);
    if (status === 200) answer(res, 200, otlp.emptyResponse(signal));
    else answer(res, status, JSON.stringify({ code: 3, message: rec.errors.slice(0, 5).join('; ') }));
  }

  const server = http.createServer((req, res) => {
    const url = req.url.split('?')[0];
    if (req.method === 'GET' && url === '/received') {
      answer(res, 200, JSON.stringify(received));
      return;
    }
    if (req.method === 'GET' && url === '/healthz') {
      answer(res, 200, '{}');
      return;
    }
    const signal = SIGNALS[url];
    if (!signal) {
      record({ method: req.method, path: req.url, signal: null, status: 404, errors: [`no such path ${url}`] });
      answer(res, 404, JSON.stringify({ message: `no such path ${url}` }));
      return;
    }
    if (req.method !== 'POST') { answer(res, 405, JSON.stringify({ message: 'POST only' })); return; }
    const chunks = [];
    let size = 0;
    let over = false;
    req.on('data', (c) => {
      size += c.length;
      if (size > o.maxBody) over = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      if (over) {
        record({ method: 'POST', path: url, signal, bytes: size, status: 413, errors: ['body too large'] });
        answer(res, 413, JSON.stringify({ message: 'body too large' }));
        return;
      }
      onPost(req, res, signal, Buffer.concat(chunks));
    });
  });
  server.keepAliveTimeout = 30000;
  server.listen(o.port, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port, pid: process.pid }) + '\n');
  });
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`receiver.js: ${e.message}\n${USAGE}\n`);
    process.exit(2);
  }
  otlp.root(); // load the .proto files before anything is accepted
  if (o.validate) process.exit(validateFile(o));
  serve(o);
}

main();
