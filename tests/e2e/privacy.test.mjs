// Privacy signals (issue 9): every event records Global Privacy Control and Do Not Track;
// PT.optOut() stops all capture for the visitor on the site, kept across pages, with nothing
// queued sent, and PT.optIn() resumes it; a campaign may send only the bare Base Event for
// visitors with GPC. The signals are the visitor's browser settings, set here as a browser with
// them on reports them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { count, errors, ready, sleep, start, until } from './harness.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env.stop(); });

/** A visitor whose browser sends GPC and DNT. */
async function privateVisitor() {
  const context = await env.visitor();
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true });
    Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1', configurable: true });
  });
  return context;
}

test('every event records the GPC and DNT signals', async () => {
  for (const [context, on] of [[await privateVisitor(), true], [await env.visitor(), false]]) {
    const page = await context.newPage();
    await page.goto(`${env.publisher}/landing.html`);
    const txn = await ready(page);
    await page.evaluate(() => PT.event('quote_requested', { n: 1 }));
    const events = await until(async () => { const e = await env.lead(txn); return e.length >= 3 && e; });
    assert.ok(events, 'events arrived');
    for (const e of events) assert.deepEqual([e.event_id, e.gpc, e.dnt], [e.event_id, on, on]);
    assert.deepEqual(await errors(page), []);
    await context.close();
  }
});

test('PT.optOut() stops capture for the site, drops what is queued, and is kept; PT.optIn() resumes', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/landing.html`);
  const txn = await ready(page);
  assert.equal(await page.evaluate(() => PT.flush()), true);
  // Queued behind an outage, then the visitor opts out: it never goes.
  await env.pause(true, 1);
  try {
    await page.evaluate(() => PT.event('quote_requested', { queued: 1 }));
    await sleep(300);
    await page.evaluate(() => PT.optOut());
  } finally {
    await env.pause(false);
  }
  await page.evaluate(() => PT.event('quote_requested', { after: 1 }));
  assert.equal(await page.evaluate(() => PT.flush()), true, 'nothing left to send');
  // A later page of the site: no new lead, no Base Event, nothing sent.
  const posts = [];
  const next = await context.newPage();
  next.on('request', (r) => { if (r.url().includes('/v1/events')) posts.push(r.postData()); });
  await next.goto(`${env.publisher}/landing.html?utm_source=again`);
  await ready(next);
  await next.evaluate(() => PT.event('quote_requested', { next: 1 }));
  await sleep(1500);
  assert.deepEqual(posts, []);
  // Nothing of the lead is kept on the site: no transaction cookie, no stored record.
  const cookies = (await context.cookies(env.publisher)).map((c) => c.name);
  assert.ok(cookies.includes('pt_optout') && !cookies.some((n) => n.startsWith('pt_txn_')), cookies.join());
  assert.equal(await next.evaluate(() => localStorage.getItem('pt_id_e2e')), null);
  assert.equal(await next.evaluate(() => PT.transactionId()), null, 'no transaction handed out');
  let events = await env.lead(txn);
  assert.equal(count(events, 'quote_requested'), 0);
  assert.equal(count(events, 'base'), 1);
  // Opted in again: capture resumes.
  await next.evaluate(() => PT.optIn());
  await next.evaluate(() => PT.event('quote_requested', { back: 1 }));
  events = await until(async () => { const e = await env.lead(await next.evaluate(() => PT.transactionId())); return count(e, 'quote_requested') >= 1 && e; });
  assert.deepEqual(events.filter((e) => e.event_id === 'quote_requested').map((e) => e.data), [{ back: 1 }]);
  assert.deepEqual(await errors(page), []);
  assert.deepEqual(await errors(next), []);
  await context.close();
});

test('a campaign that sends only the Base Event under GPC: bare Base Event, nothing else', async () => {
  const context = await privateVisitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/lead-form.html?c=gpc&utm_source=g`);
  const txn = await ready(page, { triggers: true });
  await page.evaluate(() => PT.event('quote_requested', { n: 1 }));
  await page.evaluate(() => document.getElementById('lead').requestSubmit());
  assert.equal(await page.evaluate(() => PT.flush()), true);
  await sleep(500);
  const events = await env.lead(txn);
  assert.deepEqual(events.map((e) => e.event_id), ['base']);
  assert.deepEqual(events[0].data, {});
  assert.equal(events[0].gpc, true);
  // A visitor without GPC gets the campaign's capture as usual.
  const plain = await env.visitor();
  const other = await plain.newPage();
  await other.goto(`${env.publisher}/lead-form.html?c=gpc`);
  const txn2 = await ready(other, { triggers: true });
  await other.evaluate(() => document.getElementById('lead').requestSubmit());
  const all = await until(async () => { const e = await env.lead(txn2); return count(e, 'quote_requested') === 1 && e; });
  assert.ok(all, 'the form\'s event arrived');
  assert.deepEqual(await errors(page), []);
  await context.close();
  await plain.close();
});

test('the fallback (no WebAssembly) records the signals and honours the opt-out too', async () => {
  const context = await privateVisitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/csp.html?utm_source=csp`);
  const txn = await until(() => page.evaluate(() => PT.transactionId()));
  const events = await until(async () => { const e = await env.lead(txn); return e.length >= 3 && e; });
  assert.ok(events, 'the fallback delivered');
  for (const e of events) assert.deepEqual([e.gpc, e.dnt], [true, true]);
  await page.evaluate(() => PT.optOut());
  const posts = [];
  const next = await context.newPage();
  next.on('request', (r) => { if (r.url().includes('/v1/events')) posts.push(r.postData()); });
  await next.goto(`${env.publisher}/csp.html?utm_source=again`);
  await until(() => next.evaluate(() => PT.v && PT.q.push !== Array.prototype.push));
  await next.evaluate(() => PT.event('purchase', { plan: 'no' }));
  await sleep(1000);
  assert.deepEqual(posts, []);
  assert.deepEqual(await errors(next), []);
  await context.close();
});
