// The collector's defences as a page meets them: over its rate, ingest answers 429 with
// Retry-After, and the clickscript waits that long and delivers everything once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, ready, until, count, errors } from './harness.mjs';

let env;
// One batch a second from an address, bursts of five.
before(async () => { env = await start(undefined, { args: ['--rate-per-client', '1'] }); });
after(async () => { await env.stop(); });

test('over the rate limit the clickscript honours 429 Retry-After and loses nothing', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  const answers = [];
  page.on('response', (r) => { if (r.url().endsWith('/v1/events')) answers.push([r.status(), Date.now(), r.headers()['retry-after']]); });
  await page.goto(`${env.publisher}/?utm_source=flood`);
  const txn = await ready(page);
  // Eight batches in quick succession: the sixth or so is over the burst.
  for (let i = 0; i < 8; i++) await page.evaluate((n) => { PT.event('quote_requested', { n }); return PT.flush(); }, i);
  const limited = answers.findIndex(([s]) => s === 429);
  assert.ok(limited >= 0, `a 429 came: ${JSON.stringify(answers)}`);
  assert.ok(Number(answers[limited][2]) >= 1, 'with Retry-After');
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') === 8 && e; }, 30000);
  assert.ok(events, 'every event arrived after the wait');
  const next = await until(() => answers[limited + 1], 5000);
  assert.ok(next && next[1] - answers[limited][1] >= 900, `the retry waited for Retry-After: ${JSON.stringify(answers)}`);
  assert.deepEqual(events.filter((e) => e.event_id === 'quote_requested').map((e) => e.data.n).sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(count(events, 'base'), 1);
  assert.ok(env.log.some((l) => l.includes('rate limit per client') && l.includes('status=429')));
  assert.deepEqual(await errors(page), []);
  await context.close();
});
