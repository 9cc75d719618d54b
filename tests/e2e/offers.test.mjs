// Offer links and calls (issue 9): a link to an offer domain carries the lead on every kind of
// click, PT.decorate does the same in code, and a tel: link fires Base Call Sold.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { count, errors, ready, start, until } from './harness.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env.stop(); });

async function visitor() {
  return { context: await env.visitor() };
}

async function open(context) {
  const page = await context.newPage();
  await page.goto(`${env.publisher}/offers.html?sub1=S1&utm_source=google&other=no`);
  const txn = await ready(page, { triggers: true });
  const port = new URL(env.publisher).port;
  return { page, txn, port };
}

const decorated = (txn, port) => `http://offer.lp.test:${port}/land?x=1&transaction_id=${txn}&sub1=S1&utm_source=google#top`;

test('a left click on an offer link follows it with the transaction and the sub parameters', async () => {
  const { context } = await visitor();
  const { page, txn, port } = await open(context);
  await page.click('#offer');
  await page.waitForURL('http://offer.lp.test:*/**');
  assert.equal(page.url(), decorated(txn, port));
  await context.close();
});

test('middle and ctrl clicks open the offer in a new tab, decorated', async () => {
  const { context } = await visitor();
  const { page, txn, port } = await open(context);
  for (const click of [{ button: 'middle' }, { modifiers: ['Control'] }]) {
    const [tab] = await Promise.all([context.waitForEvent('page'), page.click('#offer-sub', click)]);
    // A new tab starts at about:blank; under load its navigation commits later, so wait for it
    // to reach the offer (whatever its query) before reading its URL.
    await tab.waitForURL(/\/other\?/);
    assert.equal(tab.url(), `http://www.offer.lp.test:${port}/other?transaction_id=${txn}&sub1=S1&utm_source=google`, JSON.stringify(click));
    await tab.close();
  }
  // The context menu's "open in new tab" follows the href the right click left: decorated.
  await page.click('#offer-sub', { button: 'right' });
  assert.equal(await page.getAttribute('#offer-sub', 'href'), `http://www.offer.lp.test:${port}/other?transaction_id=${txn}&sub1=S1&utm_source=google`);
  // A link elsewhere is left as it is.
  await page.click('#elsewhere');
  await page.waitForURL('http://elsewhere.lp.test:*/**');
  assert.equal(page.url(), `http://elsewhere.lp.test:${port}/page`);
  await context.close();
});

test('PT.decorate decorates offer URLs for pages that navigate in code, and leaves the rest', async () => {
  const { context } = await visitor();
  const { page, txn } = await open(context);
  const out = await page.evaluate(() => [
    PT.decorate('https://offer.lp.test/land?x=1#top'),
    PT.decorate('https://OFFER.lp.test/land?transaction_id=old&x=1'),
    PT.decorate('/local/page'),
    PT.decorate('https://elsewhere.lp.test/'),
    PT.decorate(5),
  ]);
  assert.deepEqual(out, [
    `https://offer.lp.test/land?x=1&transaction_id=${txn}&sub1=S1&utm_source=google#top`,
    `https://offer.lp.test/land?transaction_id=${txn}&x=1&sub1=S1&utm_source=google`,
    '/local/page',
    'https://elsewhere.lp.test/',
    5,
  ]);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('a click on a tel: link fires Base Call Sold with the number, once per lead', async () => {
  const { context } = await visitor();
  const { page, txn } = await open(context);
  await page.click('#call');
  await page.click('#call');
  assert.equal(await page.evaluate(() => PT.flush()), true);
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'call_sold') >= 1 && e; });
  assert.equal(count(events, 'call_sold'), 1);
  assert.deepEqual(events.find((e) => e.event_id === 'call_sold').data, { number: '+18005550199' });
  assert.deepEqual(await errors(page), []);
  await context.close();
});
