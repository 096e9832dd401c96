#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Import profile files into speedscope's built app (npm `speedscope`, pinned) in
// Debian's headless Chromium driven by playwright-core, the way a person would:
// the app and the files are served from 127.0.0.1 by this process, each file is
// opened with `#profileURL=`, and what the page then shows is printed as JSON.
// Usage: check.mjs [--shots DIR] FILE... ; exit 1 when the browser run fails.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const APP = path.join(path.dirname(require.resolve('speedscope/package.json')), 'dist', 'release');
const CHROMIUM = process.env.SHIMMER_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WIDTH = 1200;
const HEIGHT = 800;
const STEP_MS = 20000; // the wait for the import at most
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.png': 'image/png', '.ico': 'image/x-icon',
  '.wasm': 'application/wasm', '.woff2': 'font/woff2' };

// The static server: the app at /app/, file i at /p/i/<its own name> (speedscope
// picks some importers by file name, e.g. `.speedscope.json`).
function serve(files) {
  const srv = http.createServer((req, res) => {
    const u = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    let p = null;
    const m = /^\/p\/(\d+)\/[^/]+$/.exec(u);
    if (m && files[Number(m[1])]) p = files[Number(m[1])];
    else if (u.startsWith('/app/') && !u.includes('..')) p = path.join(APP, u.slice(5) || 'index.html');
    fs.readFile(p || '/nonexistent', (err, body) => {
      if (err) { res.writeHead(404); res.end(); return; }
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(p)] || 'application/octet-stream',
        'Cache-Control': 'no-store' });
      res.end(body);
    });
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

// Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium's screenshots are).
function decodePng(buf) {
  let i = 8, w = 0, h = 0, ctype = 0;
  const idat = [];
  while (i < buf.length) {
    const n = buf.readUInt32BE(i), kind = buf.toString('latin1', i + 4, i + 8);
    if (kind === 'IHDR') {
      w = buf.readUInt32BE(i + 8); h = buf.readUInt32BE(i + 12);
      if (buf[i + 16] !== 8 || buf[i + 20] !== 0) throw new Error('unexpected PNG depth/interlace');
      ctype = buf[i + 17];
    } else if (kind === 'IDAT') idat.push(buf.subarray(i + 8, i + 8 + n));
    i += 12 + n;
  }
  const bpp = ctype === 6 ? 4 : ctype === 2 ? 3 : 0;
  if (!bpp) throw new Error('unexpected PNG colour type ' + ctype);
  const raw = zlib.inflateSync(Buffer.concat(idat)), stride = w * bpp;
  const px = Buffer.alloc(h * stride);
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)], src = y * (stride + 1) + 1, dst = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? px[dst + x - bpp] : 0, b = y ? px[dst - stride + x] : 0;
      const c = x >= bpp && y ? px[dst - stride + x - bpp] : 0;
      let v = raw[src + x];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[dst + x] = v & 255;
    }
  }
  return { w, h, bpp, px };
}

// Coloured (not grey, white or black) pixels below y0: the flame chart's frames.
function colouredPixels(png, y0) {
  let n = 0;
  for (let y = y0; y < png.h; y++) {
    for (let x = 0; x < png.w; x++) {
      const o = (y * png.w + x) * png.bpp, r = png.px[o], g = png.px[o + 1], b = png.px[o + 2];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 24) n++;
    }
  }
  return n;
}

// Whether fn(arg) holds in the page within ms.
function holds(page, fn, arg, ms) {
  return page.waitForFunction(fn, arg, { timeout: ms, polling: 100 }).then(() => true, () => false);
}

// What the page shows now: the toolbar's middle (the profile's name), the
// sandwich table's rows [total, self, name] and the profile list's rows.
function shown() {
  // One profile: its name is a text node of the toolbar; several: a span.
  const at = document.elementFromPoint(innerWidth / 2, 8);
  let toolbar = null;
  if (at && at.querySelector('div')) {
    toolbar = [...at.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
  } else if (at) toolbar = at.textContent.trim();
  const rows = [], list = [];
  for (const tr of document.querySelectorAll('tr')) {
    const cells = [...tr.children].map((c) => c.textContent.trim());
    if (cells.length === 3 && /%\)$/.test(cells[0])) rows.push(cells);
    else if (cells.length === 3 && /^\d+$/.test(cells[0])) list.push(cells);
  }
  const text = document.body.innerText;
  return { toolbar, rows, list, title: document.title,
    wentWrong: text.includes('Something went wrong'), text: text.slice(0, 2000) };
}

async function checkOne(browser, base, idx, file, shots) {
  const r = { file, importedAs: [], console: [], consoleErrors: [], pageErrors: [], dialogs: [],
    badResponses: [], offsite: [], profiles: [] };
  const ctx = await browser.newContext({ viewport: { width: WIDTH, height: HEIGHT } });
  try {
    const page = await ctx.newPage();
    await page.route('**/*', (route) => {
      if (route.request().url().startsWith(base + '/')) return route.continue();
      r.offsite.push(route.request().url());
      return route.abort();
    });
    page.on('console', (m) => {
      const t = m.text();
      r.console.push(m.type() + ': ' + t);
      if (m.type() === 'error') r.consoleErrors.push(t);
      const imp = /^Importing as (.*)$/.exec(t);
      if (imp) r.importedAs.push(imp[1]);
    });
    page.on('pageerror', (e) => r.pageErrors.push(String(e && e.stack || e)));
    page.on('dialog', (d) => { r.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
    page.on('response', (resp) => {
      if (resp.status() >= 400) r.badResponses.push(resp.status() + ' ' + resp.url());
    });
    const url = `${base}/p/${idx}/${encodeURIComponent(path.basename(file))}`;
    await page.goto(`${base}/app/index.html#profileURL=${encodeURIComponent(url)}`);
    // Imported (the title names the profile), failed (error text) or a dialog.
    const deadline = Date.now() + STEP_MS;
    for (;;) {
      const s = await page.evaluate(() => ({ title: document.title,
        wrong: document.body.innerText.includes('Something went wrong') }));
      if (s.title !== 'speedscope' || s.wrong || r.dialogs.length) break;
      if (Date.now() > deadline) throw new Error('timed out waiting for the import');
      await page.waitForTimeout(100);
    }
    r.first = await page.evaluate(shown);
    if (r.first.wentWrong || r.dialogs.length || r.first.title === 'speedscope') return r;
    // The flame chart: wait until its frames are drawn (coloured pixels).
    for (let tries = 0; ; tries++) {
      const png = await page.screenshot();
      r.flameColoured = colouredPixels(decodePng(png), 140);
      if (r.flameColoured > 0 || tries >= 50) {
        if (shots) fs.writeFileSync(path.join(shots, `speedscope-${idx}-${path.basename(file)}.png`), png);
        break;
      }
      await page.waitForTimeout(100);
    }
    // Each profile in the sandwich view: its name and its table of functions.
    // Its keyboard shortcut (a click on the tab's text could land on the
    // toolbar's middle, which opens the profile list instead).
    let sandwich = false;
    for (let attempt = 1; attempt <= 3 && !sandwich; attempt++) {
      await page.keyboard.press('3');
      sandwich = await holds(page, () => [...document.querySelectorAll('tr')].some((tr) =>
        tr.firstElementChild && /%\)$/.test(tr.firstElementChild.textContent.trim())), null, 5000);
    }
    if (!sandwich) { // e.g. "No symbols found.": the test judges it
      r.last = await page.evaluate(shown);
      return r;
    }
    // Several profiles: pick each in turn from the toolbar's profile list, as a
    // person does (its rows are [#, name, total weight]); speedscope opens the
    // file's activeProfileIndex first.
    const count = (s) => { const m = /\((\d+)\/(\d+)\)$/.exec(s.toolbar || ''); return m ? +m[2] : 1; };
    let s = await page.evaluate(shown);
    const n = count(s), names = new Map(s.list.map((row) => [Number(row[0]), row[1]]));
    for (let i = 1; i <= n; i++) {
      if (n > 1 && !s.toolbar.endsWith(`(${i}/${n})`)) {
        if (!names.has(i)) throw new Error(`profile ${i} is not in the profile list`);
        const row = page.locator(`tr[title=${JSON.stringify(names.get(i))}]`);
        for (let attempt = 1; ; attempt++) {
          if (!(await row.isVisible())) await page.mouse.click(WIDTH / 2, 8);
          await row.click({ timeout: 5000 }).catch(() => {});
          const ok = await holds(page, (want) => {
            const at = document.elementFromPoint(innerWidth / 2, 8);
            return at && at.textContent.trim().endsWith(want);
          }, `(${i}/${n})`, 5000);
          if (ok) break;
          if (attempt === 3) throw new Error(`timed out switching to profile ${i}`);
        }
        s = await page.evaluate(shown);
      }
      r.profiles.push({ toolbar: s.toolbar, rows: s.rows, list: s.list });
    }
    r.last = await page.evaluate(shown);
    return r;
  } finally {
    await ctx.close();
  }
}

async function main() {
  const argv = process.argv.slice(2);
  let shots = null;
  if (argv[0] === '--shots') { shots = argv[1]; argv.splice(0, 2); }
  if (!argv.length) throw new Error('usage: check.mjs [--shots DIR] FILE...');
  const files = argv.map((f) => path.resolve(f));
  const srv = await serve(files);
  const base = `http://127.0.0.1:${srv.address().port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS,
    timeout: 60000 });
  const out = { speedscope: require('speedscope/package.json').version,
    browser: browser.version(), results: [] };
  try {
    for (let i = 0; i < files.length; i++) {
      out.results.push(await checkOne(browser, base, i, files[i], shots).catch((e) => {
        throw new Error(`${files[i]}: ${e.message}`);
      }));
    }
  } finally {
    await browser.close();
    srv.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`speedscope check: ${e.stack || e}\n`);
  process.exit(1);
});
