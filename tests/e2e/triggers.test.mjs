// The campaign's triggers in headless Chromium against the real collector: each fires where it
// must and not where it must not.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { errors, ready, sleep, start } from './harness.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env?.stop(); });

const count = (events, id) => events.filter((e) => e.event_id === id).length;

async function open(context, query = '') {
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => { if (m.text().includes('[clickscript]')) logs.push(m.text()); });
  await page.goto(`${env.publisher}/triggers.html${query}`);
  return { page, logs, txn: await ready(page) };
}

async function settle(page, txn) {
  assert.equal(await page.evaluate(() => PT.flush()), true);
  await sleep(200);
  return env.lead(txn);
}

test('a rebound Base Click Sold fires on its offer click, not on load, and once', async () => {
  const context = await env.visitor();
  const { page, txn } = await open(context);
  let events = await settle(page, txn);
  assert.equal(count(events, 'base'), 1, 'the Base Event keeps its page-load trigger');
  assert.equal(count(events, 'click_sold'), 0, 'rebound: not on load');
  await page.click('#offer-text');
  await page.click('a.offer');
  events = await settle(page, txn);
  assert.equal(count(events, 'click_sold'), 1);
  assert.equal(events.find((e) => e.event_id === 'click_sold').data.href, '#offer');
  await page.click('#call');
  events = await settle(page, txn);
  assert.equal(count(events, 'call_sold'), 1);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('a multi-trigger event clicked three times fires three times, a once event once', async () => {
  const context = await env.visitor();
  const { page, txn } = await open(context);
  for (let i = 0; i < 3; i++) {
    await page.click('.cta');
    await page.click('#signup');
  }
  await page.mouse.click(5, 500); // a click elsewhere fires nothing
  const events = await settle(page, txn);
  assert.equal(count(events, 'cta_click'), 3, 'the binding the browser refused adds nothing, the valid one runs');
  assert.equal(count(events, 'signup'), 1);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('Base Form Sold fires only when every condition holds, with the fields but never a password or ignored field', async () => {
  const context = await env.visitor();
  const { page, txn } = await open(context);
  await page.click('#go');
  let events = await settle(page, txn);
  assert.equal(count(events, 'form_sold'), 0, 'zip 10001 does not match 9*');
  await page.fill('input[name=zip]', '94107');
  await page.fill('input[name=age]', '17');
  await page.click('#go');
  events = await settle(page, txn);
  assert.equal(count(events, 'form_sold'), 0, 'age 17 is not between 18 and 99');
  await page.fill('input[name=age]', '30');
  await page.selectOption('select[name=state]', 'TX');
  await page.click('#go');
  events = await settle(page, txn);
  assert.equal(count(events, 'form_sold'), 0, 'TX is not one of CA, NY');
  await page.selectOption('select[name=state]', 'CA');
  await page.click('#go');
  await page.click('#go');
  events = await settle(page, txn);
  assert.equal(count(events, 'form_sold'), 1, 'sold once, though submitted twice');
  const sold = events.find((e) => e.event_id === 'form_sold');
  assert.equal(sold.category, 'conversion');
  assert.deepEqual(sold.data, { zip: '94107', age: '30', state: 'CA', email: 'driver@example.com' });
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('a page-load trigger with a URL pattern fires on matching pages only; debug mode names the refused binding', async () => {
  const context = await env.visitor();
  const first = await open(context, '?step=form&pt_debug=1');
  let events = await settle(first.page, first.txn);
  assert.equal(count(events, 'thanks_view'), 0);
  assert.ok(first.logs.some((l) => l.includes('binding left out') && l.includes('no-such-pseudo-class')), first.logs.join('\n'));
  const thanks = await open(context, '?step=thanks');
  assert.equal(thanks.txn, first.txn);
  events = await settle(thanks.page, thanks.txn);
  assert.equal(count(events, 'thanks_view'), 1);
  assert.deepEqual(await errors(thanks.page), []);
  await context.close();
});
