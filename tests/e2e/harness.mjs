// End-to-end harness: the real collector (release build, fresh SQLite file), a publisher's web
// server on another origin serving the fixture pages, and Debian's headless Chromium.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The README's snippet for calling PT before the tag has loaded, as the README prints it. */
const readmeSnippet = (() => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = readme.slice(readme.indexOf('<!-- snippet -->'), readme.indexOf('<!-- /snippet -->'));
  return block.replace('<!-- snippet -->', '').replace(/```html|```/g, '').trim();
})();
export const ADMIN_TOKEN = 'e2e-admin-token';
/** What the publisher's server serves under /vendor/, from node_modules (package.json pins them). */
const VENDOR = {
  '/vendor/page.js': 'page/page.js',
  '/vendor/react.js': 'react/umd/react.production.min.js',
  '/vendor/react-dom.js': 'react-dom/umd/react-dom.production.min.js',
  '/vendor/react-hook-form.js': 'react-hook-form/dist/index.umd.js',
  '/vendor/vue.js': 'vue/dist/vue.global.prod.js',
  '/vendor/jquery.js': 'jquery/dist/jquery.min.js',
  '/vendor/htmx.js': 'htmx.org/dist/htmx.min.js',
  '/vendor/alpine.js': 'alpinejs/dist/cdn.min.js',
};

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` until it returns a truthy value or `ms` pass; returns the last value. */
export async function until(f, ms = 8000, step = 100) {
  const end = Date.now() + ms;
  let v;
  while (Date.now() < end) {
    v = await f();
    if (v) return v;
    await sleep(step);
  }
  return v;
}

/** The collector's database for a run in `dir`: a SQLite file, or with CLICKSCRIPT_TEST_POSTGRES
    (tools/with-postgres.sh) a schema of its own on that server, which the collector makes. */
export function database(dir) {
  const base = process.env.CLICKSCRIPT_TEST_POSTGRES;
  if (!base) return join(dir, 'events.db');
  const schema = `e2e_${basename(dir).replace(/[^a-z0-9]/gi, '_').toLowerCase()}`;
  return `${base}${base.includes('?') ? '&' : '?'}options=-csearch_path%3D${schema}`;
}

/** Starts the collector (with `configText`, the test configuration by default) and the
    publisher's server; returns what the tests need. */
export async function start(configText = readFileSync(join(root, 'tests/e2e/config.json'), 'utf8'), { campaign = 'e2e', args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'clickscript-e2e-'));
  const [port, pubPort] = [await freePort(), await freePort()];
  const collector = `http://127.0.0.1:${port}`;
  // The publisher is another origin (localhost, not 127.0.0.1): cross-origin like a real site.
  const publisher = `http://localhost:${pubPort}`;
  // (The demo's configuration allows the demo's own origin, on port 8080: here the collector's.)
  const config = configText.replaceAll('__PUBLISHER__', publisher).replaceAll('__PUBPORT__', String(pubPort))
    .replaceAll('127.0.0.1:8080"', `127.0.0.1:${port}"`);
  writeFileSync(join(dir, 'config.json'), config);
  const proc = spawn(join(root, 'target/release/collector'), [
    '--config', join(dir, 'config.json'), '--db', database(dir), '--port', String(port),
    '--www', join(root, 'www'), '--pkg', join(root, 'pkg'), '--admin-token', ADMIN_TOKEN,
    // Every page of the suite comes from 127.0.0.1: one client address, many visitors.
    ...(args.includes('--rate-per-client') ? [] : ['--rate-per-client', '1000']), ...args,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  proc.stdout.on('data', (d) => log.push(...String(d).trim().split('\n')));
  proc.stderr.on('data', (d) => process.stderr.write(d));
  await until(() => fetch(`${collector}/v1/campaigns/${campaign}/config`).then((r) => r.ok, () => false), 15000);

  const pages = join(root, 'tests/e2e/pages');
  const server = createServer((req, res) => {
    const url = new URL(req.url, publisher);
    if (VENDOR[url.pathname]) {
      // The single-page app's router and the frameworks of the form pages, from npm.
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(readFileSync(join(root, 'node_modules', VENDOR[url.pathname])));
      return;
    }
    // The single-page app answers every /spa/ path with its one page.
    const name = url.pathname === '/' ? 'landing.html' : url.pathname.startsWith('/spa/') ? 'spa.html' : url.pathname.slice(1);
    let body;
    try { body = readFileSync(join(pages, name.replace(/[^a-z0-9_.-]/gi, '')), 'utf8'); } catch {
      res.writeHead(404); res.end('not found'); return;
    }
    // no-store keeps pages fresh, and out of the back/forward cache: except the page that tests it.
    const headers = { 'content-type': 'text/html; charset=utf-8', 'cache-control': name === 'bfcache.html' ? 'no-cache' : 'no-store' };
    // A strict policy without 'wasm-unsafe-eval': WebAssembly cannot compile on this page.
    if (name.startsWith('csp')) headers['content-security-policy'] = `script-src 'unsafe-inline' ${collector}; connect-src ${collector}`;
    res.writeHead(200, headers);
    res.end(body.replaceAll('__COLLECTOR__', collector).replace('__README_SNIPPET__', readmeSnippet));
  });
  await new Promise((r) => server.listen(pubPort, '127.0.0.1', r));
  const launch = {
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync',
      // Two sites of one publisher (www. and shop.lp.test) on the loopback publisher server.
      '--host-resolver-rules=MAP *.lp.test 127.0.0.1'],
  };
  const browser = await chromium.launch(launch);
  return {
    collector, publisher, browser, log,
    /** A second browser with the back/forward cache on (Playwright turns it off by default). */
    async bfcacheBrowser() {
      return chromium.launch({ ...launch, ignoreDefaultArgs: ['--disable-back-forward-cache'] });
    },
    /** A fresh browser profile (a new visitor) whose pages record every uncaught error;
     *  `options` are Playwright's context options (time zone, locale, ...). */
    async visitor(options = {}) {
      const context = await browser.newContext(options);
      await context.addInitScript(() => {
        window.__errors = [];
        addEventListener('error', (e) => window.__errors.push(String(e.message || e)));
        addEventListener('unhandledrejection', (e) => window.__errors.push('unhandled: ' + String(e.reason)));
      });
      return context;
    },
    async lead(txn) {
      const r = await fetch(`${collector}/v1/leads/${txn}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return (await r.json()).events;
    },
    async events(id = campaign) {
      const r = await fetch(`${collector}/v1/campaigns/${id}/events?limit=1000`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      return (await r.json()).events;
    },
    /** Opens the dashboard at `path` (`/dashboard?…`) in `context`, signing in with the admin
     *  token on the sign-in page it is sent to; returns the page. */
    async dashboard(context, path = '/dashboard', credential = ADMIN_TOKEN) {
      const page = await context.newPage();
      await page.goto(`${collector}${path}`);
      if (new URL(page.url()).pathname === '/dashboard/sign-in') {
        await page.fill('#credential', credential);
        await Promise.all([page.waitForURL((u) => u.pathname === '/dashboard'), page.click('button[type=submit]')]);
      }
      return page;
    },
    /** Calls the collector's admin API; returns [status, JSON body]. */
    async admin(method, path, body) {
      const r = await fetch(`${collector}${path}`, {
        method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: body === undefined ? undefined : JSON.stringify(body),
      });
      return [r.status, await r.json()];
    },
    /** Pauses ingest (503 with `Retry-After: retryAfter` seconds) or lifts the pause. */
    async pause(paused, retryAfter = undefined) {
      const r = await fetch(`${collector}/admin/ingest`, {
        method: 'PUT', headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ paused, retry_after: retryAfter }),
      });
      if (!r.ok) throw new Error(`pause: ${r.status}`);
    },
    async stop() {
      await browser.close();
      server.close();
      proc.kill();
    },
  };
}

/** Waits until the clickscript on `page` has started (and with `triggers`, the campaign's triggers
 * extension too) and returns the transaction ID. */
export async function ready(page, { triggers = false } = {}) {
  await page.waitForFunction(() => window.PT && window.PT.q && window.PT.q.push !== Array.prototype.push, null, { timeout: 10000 });
  if (triggers) await page.waitForFunction(() => window.PT.triggers === true, null, { timeout: 10000 });
  return page.evaluate(() => PT.transactionId());
}

/** How many of `events` are of event `id`. */
export const count = (events, id) => events.filter((e) => e.event_id === id).length;

/** The paths of the wasm files a page downloaded. */
export const wasmFiles = (page) => page.evaluate(() => performance.getEntriesByType('resource')
  .map((e) => new URL(e.name).pathname).filter((p) => p.endsWith('.wasm')));

/** The uncaught errors the page saw. */
export const errors = (page) => page.evaluate(() => window.__errors);

/** The shape of a wire batch: its fields and their JSON types, the free maps (`data`, `params`,
 *  `click_ids`) and the optional amounts left aside. What the clickscript and the fallback send
 *  must have the shape of the golden fixture (tests/fixtures/wire/batch.json), which the core's
 *  wire type reads (core/tests/wire_fixtures.rs). */
export function wireShape(v, key = '') {
  if (Array.isArray(v)) return v.length ? [wireShape(v[0])] : [];
  if (v && typeof v === 'object') {
    if (['data', 'params', 'click_ids'].includes(key)) return 'map';
    const out = {};
    for (const k of Object.keys(v).sort()) if (k !== 'revenue' && k !== 'payout') out[k] = wireShape(v[k], k);
    return out;
  }
  return v === null ? 'null' : typeof v;
}

/** The packages' content-hashed names, as the build wrote them and the collector serves them. */
export const packages = JSON.parse(readFileSync(join(root, 'pkg/packages.json'), 'utf8'));

/** The golden batch's shape. */
export const goldenShape = wireShape(JSON.parse(readFileSync(join(root, 'tests/fixtures/wire/batch.json'), 'utf8')));
