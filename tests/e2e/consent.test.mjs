// Consent (TCPA) as evidence (issue 9): the text marked data-pt-consent travels with the form's
// event as rendered, with its checkbox (checked or not, and when), whether the visitor could see
// it (each way of hiding it named), when it was on screen, the submit time and the page URL; the
// collector stores it and the lead's timeline shows it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { count, errors, ready, start, until, wireShape } from './harness.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env.stop(); });

const golden = wireShape(JSON.parse(readFileSync(new URL('../fixtures/wire/form_sold.json', import.meta.url), 'utf8')));

/** Opens the consent form with `query`, runs `act` on it, submits it; returns the stored event's
 *  consent and the consent each request body carried. */
async function submit(query, act = async () => {}) {
  const context = await env.visitor();
  const page = await context.newPage();
  const sent = [];
  page.on('request', (r) => {
    if (r.url().includes('/v1/events') && r.postData()) {
      for (const e of JSON.parse(r.postData()).events) if (e.event_id === 'quote_requested') sent.push(JSON.parse(r.postData()));
    }
  });
  await page.goto(`${env.publisher}/consent-form.html${query}`);
  const txn = await ready(page, { triggers: true });
  await act(page);
  await page.evaluate(() => document.getElementById('quote').requestSubmit());
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') >= 1 && e; }, 10000);
  assert.ok(events, 'the event arrived');
  assert.equal(count(events, 'quote_requested'), 1);
  assert.deepEqual(await errors(page), []);
  const stored = events.find((e) => e.event_id === 'quote_requested');
  await context.close();
  return { stored, sent, txn };
}

test('visible consent text with its box checked: the evidence, as stored and as sent', async () => {
  const before = Date.now();
  const { stored, sent } = await submit('', (page) => page.check('#tcpa'));
  const c = stored.consent;
  assert.equal(c.text, 'By clicking "Get my quote" I agree that Example Insurance and its partners may call me at the number I gave, including by autodialer.');
  assert.equal(c.checkbox, true);
  assert.equal(c.checked, true);
  assert.equal(c.visible, true, c.hidden_by);
  assert.equal(c.hidden_by, '');
  assert.equal(c.font_size, 14);
  assert.ok(c.contrast > 14 && c.contrast <= 21, String(c.contrast));
  assert.ok(c.seen_at >= before && c.seen_at <= c.checked_at, 'seen before it was checked');
  assert.ok(c.checked_at <= c.submitted_at && c.submitted_at <= Date.now());
  assert.match(c.url, /\/consent-form\.html$/);
  // The request the page sent carried the same evidence, in the golden wire shape.
  assert.equal(sent.length >= 1, true);
  assert.deepEqual(sent[0].events.find((e) => e.event_id === 'quote_requested').consent, c);
  assert.deepEqual(wireShape(sent[0]), golden);
});

test('an unchecked box still sends its event, reported unchecked', async () => {
  const { stored } = await submit('');
  assert.equal(stored.consent.checkbox, true);
  assert.equal(stored.consent.checked, false);
  assert.equal(stored.consent.checked_at, null);
  assert.equal(stored.consent.visible, true);
});

test('a box checked then unchecked is unchecked; consent without a box says so', async () => {
  const { stored } = await submit('', async (page) => { await page.check('#tcpa'); await page.uncheck('#tcpa'); });
  assert.equal(stored.consent.checked, false);
  assert.equal(stored.consent.checked_at, null);
  const none = (await submit('?box=0')).stored.consent;
  assert.equal(none.checkbox, false);
  assert.equal(none.checked, false);
});

test('hidden consent text is told apart from visible text, each way named', async () => {
  const ways = {
    display: 'display:none',
    visibility: 'visibility:hidden',
    opacity: 'opacity:0',
    tiny: 'font size under 10px',
    faint: 'contrast under 4.5:1',
    below: 'never on screen',
    // Off to the side, "for screen readers only", inside a parent that clips it away.
    left: 'never on screen',
    sronly: 'zero size',
    clipped: 'never on screen',
  };
  for (const [v, reason] of Object.entries(ways)) {
    const { stored } = await submit(`?v=${v}`);
    const c = stored.consent;
    assert.equal(c.visible, false, `${v}: ${JSON.stringify(c)}`);
    assert.ok(c.hidden_by.split(', ').includes(reason), `${v}: ${c.hidden_by}`);
    assert.ok(c.text.startsWith('By clicking'), v);
  }
});

test("the dashboard's lead timeline shows the consent and the certificates", async () => {
  const { txn } = await submit('', (page) => page.check('#tcpa'));
  const context = await env.visitor();
  const dashboard = await env.dashboard(context, `/dashboard?campaign=e2e&lead=${txn}`);
  const row = await dashboard.waitForSelector('#timeline tr.event-quote_requested');
  // The consent cell by its class, the certificates in the last cell: columns may be added.
  const consent = await row.$eval('td.consent', (td) => td.textContent);
  const cells = await row.$$eval('td', (tds) => tds.map((td) => td.textContent));
  assert.match(consent, /^checked at .+; visible"By clicking "Get my quote" I agree/);
  assert.match(consent, /14px, contrast \d+(\.\d+)?:1, seen .+, submitted .+ on http:\/\/localhost:\d+\/consent-form\.html\)$/);
  assert.equal(cells.at(-1), 'TrustedForm: https://cert.trustedform.com/e2e-consent');
  assert.deepEqual(await errors(dashboard), []);
  await context.close();
});
