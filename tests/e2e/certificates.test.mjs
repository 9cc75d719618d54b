// Lead certificates (issue 9): TrustedForm's and Jornaya's fields, filled by their scripts after
// the page loaded, travel with the form's event; the event waits for them a bounded time, and a
// page that goes away sends it at once with what is there.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { count, errors, ready, start, until } from './harness.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env.stop(); });

async function submitted(query) {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/cert-form.html${query}`);
  const txn = await ready(page, { triggers: true });
  await page.click('#send');
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') >= 1 && e; }, 10000);
  assert.ok(events, 'the event arrived');
  assert.equal(count(events, 'quote_requested'), 1);
  return { context, page, data: events.find((e) => e.event_id === 'quote_requested').data };
}

test('certificate fields filled after the submit travel with the event', async () => {
  const { context, page, data } = await submitted('');
  assert.deepEqual(data, {
    email: 'ada@example.com',
    xxTrustedFormCertUrl: 'https://cert.trustedform.com/abc123',
    universal_leadid: 'LEADID-0001',
  });
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('certificate fields never filled: the event goes without them after the wait', async () => {
  const { context, data } = await submitted('?fill=0');
  assert.deepEqual(data, { email: 'ada@example.com' });
  await context.close();
});

test('a submit that navigates away sends the event at once, with what is there', async () => {
  const { context, page, data } = await submitted('?navigate=1&fill=5000');
  assert.match(page.url(), /plain\.html/);
  assert.deepEqual(data, { email: 'ada@example.com' });
  await context.close();
});

test('PT.ready() resolves with the transaction once the certificate fields are filled, and at most after the wait', async () => {
  const filled = await submitted('?ready=1&fill=1200');
  const r = await filled.page.waitForFunction(() => window.__ready, null, { timeout: 8000 }).then((h) => h.jsonValue());
  assert.equal(r.txn, await filled.page.evaluate(() => PT.transactionId()));
  assert.equal(r.trustedForm, 'https://cert.trustedform.com/abc123');
  assert.equal(r.leadid, 'LEADID-0001');
  assert.ok(r.ms >= 1100 && r.ms < 3000, String(r.ms));
  // With the fields filled, it resolves at once.
  const again = await filled.page.evaluate(async () => { const t = Date.now(); const txn = await PT.ready(); return { txn, ms: Date.now() - t }; });
  assert.equal(again.txn, r.txn);
  assert.ok(again.ms < 500, String(again.ms));
  await filled.context.close();
  const never = await submitted('?ready=1&fill=0');
  const late = await never.page.waitForFunction(() => window.__ready, null, { timeout: 8000 }).then((h) => h.jsonValue());
  assert.equal(late.trustedForm, '');
  assert.ok(late.ms >= 2800 && late.ms < 5000, String(late.ms));
  assert.equal(late.txn, await never.page.evaluate(() => PT.transactionId()));
  await never.context.close();
});
