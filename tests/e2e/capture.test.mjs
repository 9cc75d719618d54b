// Lead capture (issue 9): a submitted form's fields travel with its event, and no secret leaves
// the page: neither in what the collector stored nor in any request body the page sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { count, errors, ready, start, until } from './harness.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env.stop(); });

const LEAD = {
  first_name: 'Ada',
  email: 'ada@example.com',
  zip: '94107',
  state: 'NY',
  coverage: 'home,auto',
  tcpa: 'yes',
  xxTrustedFormCertUrl: 'https://cert.trustedform.com/0123456789abcdef',
  universal_leadid: '4C3B2A10-AAAA-BBBB-CCCC-0123456789AB',
};
// The PIN as a JSON string (quoted): four bare digits turn up in timestamps and UUIDs.
const SECRETS = ['SECRET', '"7788"', '4111 1111 1111 1111', '219-09-9999'];

test('a tagged form sends its lead fields once per submission, and no secret leaves the page', async () => {
  const context = await env.visitor();
  const bodies = [];
  context.on('request', (r) => { if (r.method() === 'POST') bodies.push(r.postData() || ''); });
  const page = await context.newPage();
  await page.goto(`${env.publisher}/lead-form.html`);
  const txn = await ready(page, { triggers: true });
  // A double click: two submits of the same fields, one event.
  await page.dblclick('#send');
  assert.equal(await page.evaluate(() => window.__submits), 2, 'the page saw two submits');
  let events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') >= 1 && e; });
  assert.ok(events, 'the submit\'s event arrived');
  // A re-dispatched submit of the same fields is a copy too.
  await page.evaluate(() => document.getElementById('lead').requestSubmit());
  // Changed fields make a new submission.
  await page.fill('input[name=first_name]', 'Grace');
  await page.click('#send');
  // The form rendered after load.
  await page.click('#late-send');
  assert.equal(await page.evaluate(() => PT.flush()), true);
  events = await env.lead(txn);
  const sent = events.filter((e) => e.event_id === 'quote_requested');
  assert.equal(sent.length, 3, 'two submissions of the first form, one of the late one');
  const data = sent.map((e) => e.data);
  assert.deepEqual(data.find((d) => d.first_name === 'Ada'), LEAD);
  // The form's consent text goes with its events (the late form has none of its own).
  assert.equal(sent.find((e) => e.data.first_name === 'Ada').consent.text, 'By clicking "Get my quote" I agree to be contacted by phone and email.');
  assert.equal(sent.find((e) => e.data.phone).consent, null);
  assert.deepEqual(data.find((d) => d.first_name === 'Grace'), { ...LEAD, first_name: 'Grace' });
  // The page's certificates (in the first form) certify the page: they travel with the late form's event too.
  const { xxTrustedFormCertUrl, universal_leadid } = LEAD;
  assert.deepEqual(data.find((d) => d.phone), { phone: '+1 415 555 0100', xxTrustedFormCertUrl, universal_leadid });
  const stored = JSON.stringify(events);
  for (const s of [...SECRETS, 'late-SECRET']) assert.ok(!stored.includes(s), `the collector never got ${s}`);
  assert.ok(bodies.length > 0);
  for (const body of bodies) for (const s of SECRETS) assert.ok(!body.includes(s), `no request carried ${s}`);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('debug mode names each field held back and why, never its value', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(m.text()));
  await page.goto(`${env.publisher}/lead-form.html?pt_debug=1`);
  await ready(page, { triggers: true });
  await page.click('#send');
  await until(() => logs.some((l) => l.includes('field held back')));
  const held = logs.filter((l) => l.includes('field held back'));
  for (const [field, why] of [
    ['password', 'password'], ['cc', 'autocomplete'], ['otp', 'autocomplete'], ['cardNumber', 'named like a secret'],
    ['user_ssn', 'named like a secret'], ['f7', 'named like a secret'], ['pin', 'named like a secret'],
    ['comments', 'card number'], ['reference', 'SSN'], ['internal_note', 'data-pt-ignore'], ['csrf', 'hidden input'],
    ['Mothers_Maiden', 'excluded by the campaign'], ['confirm_password', 'named like a secret'],
    ['leadid_token', 'data-pt-ignore'],
  ]) {
    assert.ok(held.some((l) => l.includes(why) && l.includes(field)), `${field}: ${why}\n${held.join('\n')}`);
  }
  for (const l of logs) for (const s of SECRETS) assert.ok(!l.includes(s), `the console never shows ${s}: ${l}`);
  await context.close();
});

test('a campaign that asks for it gets email and phone as SHA-256 of their normalised form', async () => {
  const context = await env.visitor();
  const bodies = [];
  context.on('request', (r) => { if (r.method() === 'POST') bodies.push(r.postData() || ''); });
  const page = await context.newPage();
  await page.goto(`${env.publisher}/lead-form.html?c=hashed`);
  const txn = await ready(page, { triggers: true });
  await page.click('#send');
  await page.click('#late-send');
  assert.equal(await page.evaluate(() => PT.flush()), true);
  const sent = (await env.lead(txn)).filter((e) => e.event_id === 'quote_requested').map((e) => e.data);
  assert.equal(sent.length, 2);
  // sha256("ada@example.com") and sha256("14155550100"), as coreutils' sha256sum writes them.
  const lead = sent.find((d) => d.first_name);
  assert.equal(lead.email, 'b5fc85e55755f9e0d030a10ab4429b6b2944855f9a0d60077fe832becbc41d72');
  assert.equal(sent.find((d) => d.phone).phone, '5e7ec4c79ccac6e420876e65ad0e6b4b2ccf73ec3dccb50297bf2890a1ec73b9');
  assert.equal(lead.Mothers_Maiden, 'excluded-SECRET-10', 'this campaign excludes nothing more');
  for (const body of bodies) for (const v of ['ada@example.com', '415 555 0100']) assert.ok(!body.includes(v), `no request carried ${v}`);
  assert.deepEqual(await errors(page), []);
  await context.close();
});
