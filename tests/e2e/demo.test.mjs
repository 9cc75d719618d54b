// The demo (`make demo`): the landing page and its campaign as the collector serves them show
// lead capture whole (issue 9): the quote form fires Base Form Sold with its fields, its consent
// evidence and its TrustedForm certificate (the SSN digits held back), the offer link carries the
// lead, the call button fires Base Call Sold, and the dashboard shows the lead's consent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { count, errors, ready, start, until } from './harness.mjs';

let env;
before(async () => {
  env = await start(readFileSync(new URL('../../collector/demo.json', import.meta.url), 'utf8'), { campaign: 'demo' });
});
after(async () => { await env.stop(); });

test('the demo landing page: Form Sold with fields, consent and certificate; offer link; Call Sold', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  const sent = [];
  page.on('request', (r) => { if (r.url().includes('/v1/events') && r.postData()) sent.push(r.postData()); });
  await page.goto(`${env.collector}/?utm_source=google&sub1=S1`);
  const txn = await ready(page, { triggers: true });
  await page.check('#tcpa');
  await page.click('#quote button[type=submit]');
  // The offer link is decorated as it is pressed (the browser then follows it).
  await page.dispatchEvent('#offer', 'mousedown');
  assert.equal(await page.getAttribute('#offer', 'href'), `https://offers.example.com/safedrive?transaction_id=${txn}&utm_source=google&sub1=S1`);
  await page.evaluate(() => document.getElementById('call').dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true })));
  const events = await until(async () => {
    const e = await env.lead(txn);
    return count(e, 'form_sold') === 1 && count(e, 'call_sold') === 1 && e;
  }, 12000);
  assert.ok(events, 'Form Sold and Call Sold arrived');
  const sold = events.find((e) => e.event_id === 'form_sold');
  assert.deepEqual(sold.data, {
    zip: '94107', vehicles: '1', email: 'driver@example.com', phone: '(415) 555-0100', tcpa_consent: 'on',
    xxTrustedFormCertUrl: 'https://cert.trustedform.com/demo0123456789',
  });
  assert.equal(sold.consent.checked, true);
  assert.equal(sold.consent.visible, true, sold.consent.hidden_by);
  assert.match(sold.consent.text, /^By checking this box and clicking "Get my quotes" I agree/);
  assert.equal(events.find((e) => e.event_id === 'call_sold').data.number, '+18005550199');
  // The SSN digits never left the page: not stored, not in any request (as a JSON string: four
  // bare digits turn up in timestamps and UUIDs).
  assert.ok(sent.length > 0 && sent.every((b) => !b.includes('ssn4') && !b.includes('"1234"')));
  assert.ok(!JSON.stringify(events).includes('"1234"'));

  const dashboard = await env.dashboard(context, `/dashboard?lead=${txn}`);
  const row = await dashboard.waitForSelector('#timeline tr.event-form_sold');
  assert.match(await row.textContent(), /checked at .+; visible"By checking this box/);
  assert.deepEqual(await errors(page), []);
  assert.deepEqual(await errors(dashboard), []);
  await context.close();
});
