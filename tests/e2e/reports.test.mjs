// The dashboard's reports: for a known data set sent through the real ingest, every number the
// page shows (totals, funnel, the chart's series, the tables by source and by event) is the
// report API's, for each view a person picks (by day, by hour, another source, bots counted in,
// the organization); the page asks no other host for anything (its chart library is served by
// the collector); a screenshot of each view is written to target/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, errors, ADMIN_TOKEN } from './harness.mjs';

const shots = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'target', 'screenshots');
const D = Date.UTC(2025, 10, 24); // 2025-11-24T00:00Z, the data set's first day
const H = 3600 * 1000;
const M = 60 * 1000;
const TXN = (lead) => `5f0c1f0e-8a51-4c1b-9a63-${String(lead).padStart(12, '0')}`;
let env;
let n = 0;

function ev(lead, id, category, ts, params, extra = {}) {
  n += 1;
  const scope = ['base', 'click_sold', 'form_sold', 'call_sold'].includes(id) ? 'system' : 'org';
  return {
    uid: `0193b8a2-f00c-7c1e-8e4a-${String(n).padStart(12, '0')}`, event_id: id, category, scope, txn: TXN(lead),
    visitor: '6f0c1f0e-8a51-4c1b-9a63-2d0c7f9a1e11', session: '7f0c1f0e-8a51-4c1b-9a63-2d0c7f9a1e11', ts, seq: n,
    page: { url: 'https://lp.example/auto?utm_source=x', title: 'Compare quotes' },
    attribution: { params, click_ids: {} }, data: {}, consent: null, bot: false, ...extra,
  };
}

async function ingest(cid, events) {
  const r = await fetch(`${env.collector}/v1/events`, {
    method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8' },
    body: JSON.stringify({ v: 1, cid, sent_at: Date.now(), events }),
  });
  const body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  assert.equal(body.accepted.length, events.length, JSON.stringify(body));
}

before(async () => {
  env = await start();
  // The organization's purchase becomes the conversion event of its campaigns.
  const [status, body] = await env.admin('PUT', '/admin/orgs/e2e_org/events/purchase',
    { id: 'purchase', category: 'conversion', revenue: 25, payout: 5, conversion: true });
  assert.equal(status, 200, JSON.stringify(body));
  const google = { utm_source: 'google', sub1: 'aff-1' };
  const bing = { utm_source: 'bing', sub1: 'aff-2' };
  const none = {};
  const click = { revenue: 1.5, payout: 0.5 };
  await ingest('e2e', [
    // Day 1: two leads from google (one buys), one from bing, a bot.
    ev(1, 'base', 'lead', D + 9 * H, google),
    ev(1, 'click_sold', 'click', D + 9 * H + M, google, click),
    ev(1, 'quote_requested', 'engagement', D + 9 * H + 2 * M, google, { data: { xxTrustedFormCertUrl: 'https://cert.trustedform.com/0123456789abcdef' } }),
    ev(1, 'form_sold', 'conversion', D + 9 * H + 4 * M, google, { revenue: 20, payout: 8 }),
    ev(1, 'purchase', 'conversion', D + 10 * H, google, { revenue: 25, payout: 5 }),
    ev(2, 'base', 'lead', D + 14 * H, google),
    ev(2, 'click_sold', 'click', D + 14 * H + M, google, click),
    ev(3, 'base', 'lead', D + 16 * H, bing),
    ev(3, 'quote_requested', 'engagement', D + 16 * H + M, bing),
    ev(4, 'base', 'lead', D + 17 * H, google, { bot: true }),
    ev(4, 'click_sold', 'click', D + 17 * H + M, google, { ...click, bot: true }),
    // Day 2: a lead without a source calls; lead 3 buys.
    ev(5, 'base', 'lead', D + 24 * H + 8 * H, none),
    ev(5, 'click_sold', 'click', D + 24 * H + 8 * H + M, none, click),
    ev(5, 'call_sold', 'conversion', D + 24 * H + 8 * H + 5 * M, none, { revenue: 40, payout: 15 }),
    ev(3, 'purchase', 'conversion', D + 24 * H + 11 * H, bing, { revenue: 25, payout: 5 }),
  ]);
  // Another campaign of the organization, for its report.
  await ingest('hashed', [ev(6, 'base', 'lead', D + 12 * H, google), ev(6, 'click_sold', 'click', D + 12 * H + M, google, click)]);
  mkdirSync(shots, { recursive: true });
});
after(async () => { await env.stop(); });

// The page's formatting of the API's numbers, written apart from the page's.
const count = (v) => v.toLocaleString('en-US');
const money = (v) => (v == null ? '–' : v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
const rate = (v) => (v == null ? '–' : `${(v * 100).toFixed(1)}%`);
const METRICS = {
  leads: count, clicks: count, forms_sold: count, calls_sold: count, conversions: count, conversion_rate: rate,
  revenue: money, payout: money, margin: money, epc: money, bots: count,
};

async function api(path) {
  const r = await fetch(`${env.collector}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(r.status, 200, path);
  return r.json();
}

/** Waits for the page's reports; checks every number shown against the API's answers to the
 *  same requests; returns those answers. */
async function sameAsApi(page) {
  await page.waitForFunction(() => ['1', 'error'].includes(document.getElementById('reports').dataset.ready));
  const asked = await page.evaluate(() => ({ ...document.getElementById('reports').dataset }));
  assert.equal(asked.ready, '1', await page.textContent('#report-error'));
  const [time, sources, events] = await Promise.all([api(asked.time), api(asked.sources), api(asked.events)]);

  const cards = await page.$$eval('#totals .card', (cs) => cs.map((c) => [c.dataset.metric, c.querySelector('b').textContent]));
  assert.deepEqual(cards, Object.entries(METRICS).map(([m, f]) => [m, f(time.totals[m])]));
  const funnel = await page.$$eval('#funnel .funnel-step', (rows) => rows.map((r) => [r.dataset.metric, r.querySelector('b').textContent]));
  assert.deepEqual(funnel, ['leads', 'clicks', 'forms_sold', 'calls_sold', 'conversions'].map((m) => [m, count(time.totals[m])]));
  // The chart: one series per event, one point per hour or day of the range, each value the API's.
  const chart = await page.evaluate(() => ({ ...document.getElementById('chart').dataset, canvas: !!document.querySelector('#chart canvas') }));
  assert.deepEqual(chart, { series: String(time.events.length), points: String(time.rows.length), canvas: true });
  const legend = await page.$$eval('#chart .u-legend .u-series .u-label', (ls) => ls.map((l) => l.textContent));
  assert.deepEqual(legend, time.events.map((e) => e.name));

  const sourceRows = await page.$$eval('#sources tbody tr', (trs) => trs.map((tr) => [tr.dataset.key,
    Object.fromEntries([...tr.querySelectorAll('td[data-metric]')].map((td) => [td.dataset.metric, td.textContent]))]));
  assert.deepEqual(sourceRows, sources.rows.map((r) => [r.key ?? '',
    Object.fromEntries(Object.entries(METRICS).map(([m, f]) => [m, f(r[m])]))]));
  const eventRows = await page.$$eval('#by-event tbody tr', (trs) => trs.map((tr) => [tr.dataset.key,
    Object.fromEntries([...tr.querySelectorAll('td[data-metric]')].map((td) => [td.dataset.metric, td.textContent]))]));
  assert.deepEqual(eventRows, events.rows.map((r) => [r.key,
    { count: count(r.count), revenue: money(r.revenue), payout: money(r.payout), margin: money(r.margin), bots: count(r.bots) }]));
  return { time, sources, events };
}

test('the reports on the dashboard are the API\'s numbers, view by view, with nothing from another host', async () => {
  const context = await env.visitor({ viewport: { width: 1280, height: 900 }, timezoneId: 'UTC', locale: 'en-US' });
  const hosts = new Set();
  context.on('request', (r) => hosts.add(new URL(r.url()).origin));
  const page = await env.dashboard(context, '/dashboard?campaign=e2e&from=2025-11-24&to=2025-11-25');

  // By day: the data set's own numbers (the bot left out), and the page shows the same.
  let r = await sameAsApi(page);
  assert.equal(r.time.conversion_events.e2e, 'purchase');
  assert.deepEqual(
    [r.time.totals.leads, r.time.totals.clicks, r.time.totals.forms_sold, r.time.totals.calls_sold, r.time.totals.conversions, r.time.totals.bots],
    [4, 3, 1, 1, 2, 2]);
  assert.deepEqual([r.time.totals.revenue, r.time.totals.payout, r.time.totals.margin, r.time.totals.epc], [114.5, 34.5, 80, 38.166667]);
  assert.deepEqual(r.time.rows.map((row) => [row.key, row.leads]), [['2025-11-24', 3], ['2025-11-25', 1]]);
  assert.deepEqual(r.sources.rows.map((row) => [row.key, row.leads, row.revenue]), [['google', 2, 48], ['bing', 1, 25], [null, 1, 41.5]]);
  await page.locator('#reports').screenshot({ path: join(shots, 'reports-by-day.png') });

  // By hour.
  await page.selectOption('#report-group', 'hour');
  r = await sameAsApi(page);
  assert.equal(r.time.rows.length, 48);
  assert.equal(r.time.rows.find((row) => row.key === '2025-11-24T09:00').leads, 1);
  await page.locator('#reports').screenshot({ path: join(shots, 'reports-by-hour.png') });

  // Traffic sources by sub1, bots counted in.
  await page.selectOption('#report-source', 'sub1');
  await page.check('#report-bots');
  r = await sameAsApi(page);
  assert.equal(r.time.include_bots, true);
  assert.equal(r.time.totals.leads, 5);
  assert.deepEqual(r.sources.rows.map((row) => [row.key, row.leads, row.bots]), [['aff-1', 3, 2], ['aff-2', 1, 0], [null, 1, 0]]);
  await page.locator('#sources').screenshot({ path: join(shots, 'reports-sources-sub1-with-bots.png') });

  // The organization: both its campaigns with data.
  await page.uncheck('#report-bots');
  await page.selectOption('#report-scope', 'org');
  r = await sameAsApi(page);
  assert.equal(r.time.org, 'e2e_org');
  assert.equal(r.time.totals.leads, 5);
  assert.equal(r.time.conversion_events.hashed, 'purchase');
  await page.locator('#reports').screenshot({ path: join(shots, 'reports-organization.png') });

  // The view is in the URL: a reload shows the same.
  const url = new URL(page.url());
  assert.deepEqual(Object.fromEntries([...url.searchParams].filter(([k]) => k !== 'campaign')),
    { scope: 'org', from: '2025-11-24', to: '2025-11-25', group: 'hour', source: 'sub1' });
  await page.reload();
  await sameAsApi(page);
  await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });

  // A lead's timeline, with its certificate, above the reports.
  await page.goto(`${env.collector}/dashboard?campaign=e2e&lead=${TXN(1)}&from=2025-11-24&to=2025-11-25`);
  const row = await page.waitForSelector('#timeline tr.event-quote_requested');
  assert.match(await row.textContent(), /TrustedForm: https:\/\/cert\.trustedform\.com\/0123456789abcdef/);
  assert.equal(await page.$$eval('#timeline tr', (trs) => trs.length), 5);
  await sameAsApi(page);
  await page.locator('#lead').screenshot({ path: join(shots, 'lead-timeline.png') });

  // A bad range is shown with the API's reason.
  await page.fill('#report-from', '2025-11-26');
  await page.dispatchEvent('#report-from', 'change');
  await page.waitForFunction(() => document.getElementById('reports').dataset.ready === 'error');
  assert.match(await page.textContent('#report-error'), /^from: the range is empty/);

  assert.deepEqual([...hosts], [env.collector], 'every request went to the collector');
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('the chart library is the pinned uPlot, served by the collector itself', async () => {
  const r = await fetch(`${env.collector}/pkg/dashboard/uPlot.iife.min.js`, { headers: { 'accept-encoding': 'br' } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-encoding'), 'br');
  assert.match(await r.text(), /uPlot/);
  const css = await fetch(`${env.collector}/pkg/dashboard/uPlot.min.css`);
  assert.equal(css.status, 200);
});
