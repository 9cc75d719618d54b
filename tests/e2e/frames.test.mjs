// Frames (issue 9): a form embedded from another origin shares its parent's lead through a
// postMessage hand-off limited to the campaign's allowed origins, and takes the parent's
// attribution with it; a frame of an origin the campaign does not allow gets nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { count, errors, ready, sleep, start, until } from './harness.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env.stop(); });

test('an embedded form of an allowed origin shares the parent\'s lead and attribution', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  const bodies = [];
  page.on('request', (r) => { if (r.url().includes('/v1/events') && r.postData()) bodies.push(JSON.parse(r.postData())); });
  await page.goto(`${env.publisher}/frame-parent.html?utm_source=frame&gclid=G1`);
  const txn = await ready(page);
  const frame = await until(() => page.frames().find((f) => f.url().startsWith('http://forms.lp.test:')));
  assert.ok(frame, 'the form is embedded');
  await ready(frame, { triggers: true });
  assert.equal(await until(() => frame.evaluate((t) => PT.transactionId() === t && t, txn)), txn, 'the frame took the parent\'s transaction');
  assert.equal(await frame.evaluate(() => PT.ready()), txn, 'PT.ready() in the frame resolves with the parent\'s lead');
  await frame.click('#send');
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') === 1 && e; });
  assert.ok(events, 'the embedded form\'s event arrived on the parent\'s lead');
  const sold = events.find((e) => e.event_id === 'quote_requested');
  assert.match(sold.page.url, /^http:\/\/forms\.lp\.test:\d+\/frame-form\.html$/);
  assert.equal(sold.attribution.params.utm_source, 'frame');
  assert.equal(sold.attribution.click_ids.gclid, 'G1');
  assert.deepEqual(sold.data, { email: 'ada@example.com' });
  // One lead: the parent's Base Event only (the frame knew it had fired).
  const sent = bodies.flatMap((b) => b.events);
  assert.equal(sent.filter((e) => e.event_id === 'base').length, 1);
  assert.equal(count(events, 'base'), 1);
  assert.deepEqual(await errors(page), []);
  assert.deepEqual(await frame.evaluate(() => window.__errors), []);
  await context.close();
});

/** What a frame on `host` that asks for the e2e campaign's lead is answered, and the parent's lead. */
async function asked(host) {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/frame-parent.html?host=${host}&frame=frame-spy.html&utm_source=spied`);
  const txn = await ready(page);
  const frame = await until(() => page.frames().find((f) => f.url().startsWith(`http://${host}:`)));
  await frame.waitForFunction(() => Array.isArray(window.answers));
  await sleep(1500);
  const answers = await frame.evaluate(() => window.answers);
  assert.deepEqual(await errors(page), []);
  await context.close();
  return { answers, txn };
}

test('a frame of an origin the campaign does not allow gets no answer; an allowed one gets the lead', async () => {
  assert.deepEqual((await asked('spy.lp.test')).answers, []);
  const { answers, txn } = await asked('forms.lp.test');
  assert.ok(answers.length >= 1);
  assert.deepEqual(answers[0], { pt: 'pt:lead', campaign: 'e2e', txn, fired: ['base', 'click_sold'], params: { host: 'forms.lp.test', frame: 'frame-spy.html', utm_source: 'spied' }, click_ids: {} });
});

test('a page of an origin the campaign does not allow cannot hand a frame a forged lead', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  const forged = '11111111-2222-4333-8444-555555555555';
  await page.goto(`http://evil.lp.test:${new URL(env.publisher).port}/frame-evil.html?txn=${forged}`);
  const frame = await until(() => page.frames().find((f) => f.url().startsWith('http://forms.lp.test:')));
  await ready(frame);
  await sleep(1500);
  const txn = await frame.evaluate(() => PT.transactionId());
  assert.ok(txn && txn !== forged, txn);
  await context.close();
});
