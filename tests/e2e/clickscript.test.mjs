// The clickscript in headless Chromium against the real collector: what must arrive, once, and
// what must not.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { count, errors, goldenShape, packages, ready, start, until, wasmFiles, wireShape } from './harness.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env?.stop(); });


async function openLanding(context, query = '') {
  const page = await context.newPage();
  await page.goto(`${env.publisher}/${query}`);
  return { page, txn: await ready(page) };
}

test('a landing URL gives one Base Event and one Base Click Sold with every parameter', async () => {
  const context = await env.visitor({ timezoneId: 'America/Denver' });
  const bodies = [];
  context.on('request', (r) => { if (r.url().endsWith('/v1/events')) bodies.push(r.postData()); });
  const query = '?utm_source=google&utm_medium=cpc&utm_campaign=spring%20sale&utm_term=auto&utm_content=ad1'
    + '&gclid=G1&gbraid=GB&wbraid=WB&fbclid=F1&msclkid=M1&ttclid=T1&li_fat_id=L1&twclid=TW'
    + '&sub1=a&sub2=b&sub3=c&sub4=d&sub5=e&subid=s&pid=42&source_id=src&extra=x&empty=';
  const { page, txn } = await openLanding(context, query);
  const events = await until(async () => { const e = await env.lead(txn); return e.length >= 2 && e; });
  assert.deepEqual(events.map((e) => e.event_id).sort(), ['base', 'click_sold']);
  const base = events.find((e) => e.event_id === 'base');
  assert.equal(base.category, 'lead');
  assert.equal(base.txn, txn);
  assert.deepEqual(base.attribution.click_ids, { gclid: 'G1', gbraid: 'GB', wbraid: 'WB', fbclid: 'F1', msclkid: 'M1', ttclid: 'T1', li_fat_id: 'L1', twclid: 'TW' });
  assert.deepEqual(base.attribution.params, {
    utm_source: 'google', utm_medium: 'cpc', utm_campaign: 'spring sale', utm_term: 'auto', utm_content: 'ad1',
    sub1: 'a', sub2: 'b', sub3: 'c', sub4: 'd', sub5: 'e', subid: 's', pid: '42', source_id: 'src', extra: 'x', empty: '',
  });
  assert.equal(base.page.title, 'E2E landing');
  assert.match(base.page.url, /utm_source=google/);
  assert.match(base.page.viewport, /^\d+x\d+$/);
  assert.equal(base.page.time_zone, 'America/Denver');
  // The extension (triggers, forms' lead capture) comes after the first event, for every campaign.
  await page.waitForFunction(() => window.PT.triggers === true);
  assert.deepEqual(await wasmFiles(page), [`${packages.pkg}_bg.wasm`, `${packages.ext}_bg.wasm`], 'the clickscript first, then the extension');
  assert.match(packages.pkg, /^\/pkg\/clickscript-[0-9a-f]{12}$/, 'content-hashed');
  assert.equal(events.find((e) => e.event_id === 'click_sold').category, 'click');
  assert.ok(bodies.length > 0);
  for (const body of bodies) assert.deepEqual(wireShape(JSON.parse(body)), goldenShape, 'the clickscript writes the golden batch\'s shape');
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('a reload resumes the lead without a second Base Event; a new visitor gets a new lead', async () => {
  const context = await env.visitor();
  const { page, txn } = await openLanding(context, '?utm_source=a');
  await until(async () => (await env.lead(txn)).length >= 2);
  await page.reload();
  assert.equal(await ready(page), txn);
  await page.evaluate(() => PT.event('quote_requested', { after: 'reload' }));
  assert.equal(await page.evaluate(() => PT.flush()), true);
  const events = await env.lead(txn);
  assert.equal(count(events, 'base'), 1);
  assert.equal(count(events, 'click_sold'), 1);
  assert.equal(count(events, 'quote_requested'), 1);
  assert.deepEqual(await errors(page), []);
  const other = await env.visitor();
  const second = await openLanding(other);
  assert.notEqual(second.txn, txn);
  await until(async () => (await env.lead(second.txn)).length >= 2);
  assert.equal(count(await env.lead(second.txn), 'base'), 1);
  await context.close();
  await other.close();
});

test('PT calls made before the WebAssembly loaded and after it arrive once each, in order', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/queued.html`);
  const txn = await ready(page);
  assert.equal(await page.evaluate(() => window.clickPromise), txn, 'PT.click resolves to the transaction');
  await page.evaluate(() => PT.event('quote_requested', { step: 3 }));
  assert.equal(await page.evaluate(() => PT.flush()), true);
  const events = await env.lead(txn);
  const quotes = events.filter((e) => e.event_id === 'quote_requested');
  assert.deepEqual(quotes.map((e) => e.data.step), [1, 2, 3]);
  assert.ok(quotes[0].seq < quotes[1].seq && quotes[1].seq < quotes[2].seq);
  assert.equal(count(events, 'base'), 1);
  assert.equal(count(events, 'click_sold'), 1);
  assert.equal(new Set(events.map((e) => e.uid)).size, events.length);
  assert.equal(await page.evaluate(() => PT.urlParameter('nope')), null);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('PT.event then navigating away at once: the event arrives (20 of 20)', async () => {
  const txns = [];
  for (let i = 0; i < 20; i++) {
    const context = await env.visitor();
    const { page, txn } = await openLanding(context);
    await page.evaluate((n) => { PT.event('purchase', { try: n }); location.href = '/plain.html'; }, i);
    await page.waitForURL('**/plain.html');
    assert.deepEqual(await errors(page), []);
    await context.close();
    txns.push(txn);
  }
  const arrived = await until(async () => {
    const leads = await Promise.all(txns.map((t) => env.lead(t)));
    return leads.every((e) => count(e, 'purchase') === 1) && leads;
  }, 10000);
  assert.ok(arrived, 'every purchase arrived');
  for (const events of arrived) assert.equal(count(events, 'purchase'), 1);
});

test('a burst of 1,000 PT.event calls in one task: every event arrives, once', async () => {
  // Larger than the stored outbox (256 KiB) and than what keepalive requests may have in flight.
  const context = await env.visitor();
  const { page, txn } = await openLanding(context);
  await page.evaluate(() => { for (let i = 0; i < 1000; i++) PT.event('quote_requested', { n: i }); });
  const events = await until(async () => {
    const e = await env.lead(txn);
    return count(e, 'quote_requested') >= 1000 && e;
  }, 20000, 250);
  assert.ok(events, 'all 1,000 arrived');
  const ns = events.filter((e) => e.event_id === 'quote_requested').map((e) => e.data.n);
  assert.equal(new Set(ns).size, 1000, 'each call once');
  assert.equal(await page.evaluate(() => PT.flush()), true, 'the outbox is empty');
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('a backlog on the wire when the page leaves: every event arrives, once', async () => {
  // 60 events (about 32 KiB) fired in one task go at its end as a batch too large for keepalive
  // and a small rest, and the page leaves at once: its beacons carry what the navigation cancels.
  // The visitor stays on the next page (a closed browser would cancel the beacons in flight).
  const visits = [];
  for (let i = 0; i < 3; i++) {
    const context = await env.visitor();
    const { page, txn } = await openLanding(context);
    await page.evaluate(() => {
      for (let n = 0; n < 60; n++) PT.event('quote_requested', { n });
      setTimeout(() => { location.href = '/plain.html'; }, 0);
    });
    await page.waitForURL('**/plain.html');
    assert.deepEqual(await errors(page), []);
    visits.push({ context, txn });
  }
  for (const { context, txn } of visits) {
    const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') >= 60 && e; }, 10000);
    assert.ok(events, 'all 60 arrived');
    assert.equal(new Set(events.filter((e) => e.event_id === 'quote_requested').map((e) => e.data.n)).size, 60);
    await context.close();
  }
});

test('the collector answering 503 for a while: every event arrives exactly once', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  const logs = [];
  const answers = [];
  page.on('console', (m) => { if (m.text().includes('[clickscript]')) logs.push(m.text()); });
  page.on('response', (r) => { if (r.url().endsWith('/v1/events')) answers.push(r.status()); });
  await env.pause(true);
  let txn;
  try {
    await page.goto(`${env.publisher}/?utm_source=outage&pt_debug=1`);
    txn = await ready(page);
    for (let i = 0; i < 5; i++) await page.evaluate((n) => PT.event('quote_requested', { n }), i);
    assert.equal(await page.evaluate(() => PT.flush()), false, 'flush reports the failed attempt');
    // The page keeps trying through the outage, and the collector refuses every attempt.
    assert.ok(await until(() => answers.length >= 3, 10000), `the page retried: ${answers}`);
    assert.ok(answers.every((s) => s === 503), `${answers}`);
    assert.ok(logs.some((l) => l.includes('will retry') && l.includes('503')), 'debug mode logs each retry with its reason');
  } finally {
    await env.pause(false);
  }
  const events = await until(async () => { const e = await env.lead(txn); return e.length >= 7 && e; }, 20000);
  assert.ok(events, 'events arrived after the outage');
  assert.equal(await page.evaluate(() => PT.flush()), true, 'nothing left to send');
  const final = await env.lead(txn);
  assert.equal(final.length, 7);
  assert.equal(count(final, 'base'), 1);
  assert.deepEqual(final.filter((e) => e.event_id === 'quote_requested').map((e) => e.data.n).sort(), [0, 1, 2, 3, 4]);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('the tag on the page twice (and a static copy): no duplicate events', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/twice.html`);
  const txn = await ready(page);
  await page.evaluate(() => PT.event('quote_requested'));
  // Everything the page sent has been answered.
  assert.equal(await page.evaluate(() => PT.flush()), true);
  const events = await env.lead(txn);
  assert.equal(count(events, 'base'), 1);
  assert.equal(count(events, 'click_sold'), 1);
  assert.equal(count(events, 'quote_requested'), 1);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('the static tag with data-campaign fetches its configuration and works', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/static.html?sub1=static`);
  const txn = await ready(page);
  const events = await until(async () => { const e = await env.lead(txn); return e.length >= 2 && e; });
  assert.equal(count(events, 'base'), 1);
  assert.equal(events[0].attribution.params.sub1, 'static');
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('a CSP that forbids WebAssembly: the fallback still delivers the Base Event and queued calls', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  const bodies = [];
  page.on('request', (r) => { if (r.url().endsWith('/v1/events')) bodies.push(r.postData()); });
  await page.goto(`${env.publisher}/csp.html?utm_source=csp`);
  const txn = await until(() => page.evaluate(() => PT.transactionId()));
  assert.ok(txn, 'the fallback made a transaction');
  // PT.ready() resolves with it too (the fallback captures no forms: nothing to wait for).
  assert.equal(await page.evaluate(() => PT.ready()), txn);
  const events = await until(async () => { const e = await env.lead(txn); return e.length >= 3 && e; });
  assert.deepEqual(events.map((e) => e.event_id).sort(), ['base', 'click_sold', 'purchase']);
  const purchase = events.find((e) => e.event_id === 'purchase');
  assert.equal(purchase.data.plan, 'csp');
  assert.equal(purchase.revenue, 25);
  assert.equal(purchase.payout, 5);
  assert.equal(purchase.scope, 'org');
  assert.equal(events.find((e) => e.event_id === 'base').scope, 'system');
  assert.equal(purchase.attribution.params.utm_source, 'csp');
  assert.ok(bodies.length > 0);
  for (const body of bodies) assert.deepEqual(wireShape(JSON.parse(body)), goldenShape, 'the fallback writes the golden batch\'s shape');
  assert.deepEqual(await errors(page), []);
  await context.close();
});

/** Counts the frames added to the page (the JSON guard adds one only on a page whose JSON fails). */
const countFrames = () => {
  window.__frames = 0;
  new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes) if (n.nodeName === 'IFRAME') window.__frames++; })
    .observe(document, { childList: true, subtree: true });
};

/** In the page: whether Array.prototype.toJSON is the page's own, and whether it is enumerable. */
const toJSONAsDefined = () => {
  const d = Object.getOwnPropertyDescriptor(Array.prototype, 'toJSON');
  return [d.value === window.__toJSON, d.enumerable];
};

test('a CSP that forbids WebAssembly on a page that broke JSON: the fallback still writes whole events', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/csp-json.html?utm_source=cspjson`);
  const txn = await until(() => page.evaluate(() => PT.transactionId()));
  assert.ok(txn, 'the fallback made a transaction');
  // PT.ready() resolves with it too (the fallback captures no forms: nothing to wait for).
  assert.equal(await page.evaluate(() => PT.ready()), txn);
  const events = await until(async () => { const e = await env.lead(txn); return e.length >= 3 && e; });
  assert.deepEqual(events.map((e) => e.event_id).sort(), ['base', 'click_sold', 'purchase']);
  assert.equal(events.find((e) => e.event_id === 'purchase').data.plan, 'csp-json');
  assert.deepEqual(await page.evaluate(toJSONAsDefined), [true, false]);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('the fallback replaces a lone surrogate in a page\'s text rather than losing the batch', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/csp.html`);
  const txn = await until(() => page.evaluate(() => PT.transactionId()));
  await page.evaluate(() => { document.title = 'cut \uD800'; PT.event('quote_requested', { note: 'a\uDC00b' }); });
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') && e; });
  assert.ok(events, 'delivered');
  const quote = events.find((e) => e.event_id === 'quote_requested');
  assert.equal(quote.data.note, 'a\uFFFDb');
  assert.equal(quote.page.title, 'cut \uFFFD');
  await context.close();
});

test('a batch the collector refuses (4xx) is dropped, not retried', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  const posts = [];
  const logs = [];
  page.on('request', (r) => { if (r.url().endsWith('/v1/events')) posts.push(r.method()); });
  page.on('console', (m) => { if (m.text().includes('[clickscript]')) logs.push(m.text()); });
  await page.goto(`${env.publisher}/closed.html?pt_debug=1`);
  await ready(page);
  // The outbox is empty, so nothing is left to retry.
  assert.equal(await page.evaluate(() => PT.flush()), true, 'the outbox is empty: the refused batch was dropped');
  assert.equal(posts.filter((m) => m === 'POST').length, 1, 'one attempt, no retries');
  assert.ok(logs.some((l) => l.includes('refused the batch') && l.includes('403') && l.includes('may not send events for campaign')),
    `debug mode logs the drop with the collector's own reason: ${logs.join('\n')}`);
  assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('pt_ob_')).length), 0);
  assert.equal((await env.events('closed')).length, 0);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('a dropped network: events wait in the outbox and arrive once it is back', async () => {
  const context = await env.visitor();
  const { page, txn } = await openLanding(context);
  assert.equal(await page.evaluate(() => PT.flush()), true);
  await context.setOffline(true);
  await page.evaluate(() => { PT.event('quote_requested', { n: 1 }); PT.event('quote_requested', { n: 2 }); });
  assert.equal(await page.evaluate(() => PT.flush()), false);
  assert.equal(count(await env.lead(txn), 'quote_requested'), 0);
  await context.setOffline(false);
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') >= 2 && e; }, 15000);
  assert.ok(events, 'delivered after the network came back');
  assert.equal(await page.evaluate(() => PT.flush()), true, 'nothing left to send');
  assert.equal(count(await env.lead(txn), 'quote_requested'), 2);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('what a closed tab could not deliver is adopted by the next tab and arrives once', async () => {
  const context = await env.visitor();
  await env.pause(true);
  let txn;
  try {
    const first = await context.newPage();
    await first.goto(`${env.publisher}/`);
    txn = await ready(first);
    await first.evaluate(() => PT.event('quote_requested', { tab: 1 }));
    assert.equal(await first.evaluate(() => PT.flush()), false);
    const pending = await first.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('pt_ob_')).length);
    assert.equal(pending, 1, 'the undelivered events wait in the first tab\'s outbox');
    await first.close({ runBeforeUnload: true });
  } finally {
    await env.pause(false);
  }
  const second = await context.newPage();
  await second.goto(`${env.publisher}/plain.html`);
  await second.goto(`${env.publisher}/`);
  assert.equal(await ready(second), txn, 'same visitor, same lead');
  const events = await until(async () => { const e = await env.lead(txn); return e.length >= 3 && e; }, 15000);
  assert.ok(events, 'the second tab delivered the first tab\'s events');
  assert.equal(await second.evaluate(() => PT.flush()), true, 'nothing left to send');
  const final = await env.lead(txn);
  assert.deepEqual(final.map((e) => e.event_id).sort(), ['base', 'click_sold', 'quote_requested']);
  assert.equal(await second.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('pt_ob_')).length), 0);
  await context.close();
});

test('a visitor who leaves before the WebAssembly loaded: the queued call arrives once', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/early.html`);
  await page.waitForURL('**/landing.html');
  const txn = await ready(page);
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'purchase') >= 1 && e; });
  assert.ok(events, 'the early purchase arrived');
  assert.equal(await page.evaluate(() => PT.flush()), true, 'nothing left to send');
  const final = await env.lead(txn);
  assert.equal(count(final, 'purchase'), 1);
  const purchase = final.find((e) => e.event_id === 'purchase');
  assert.equal(purchase.data.early, 1);
  assert.match(purchase.page.url, /early\.html/, 'the call keeps the URL it was made on');
  assert.equal(count(final, 'base'), 1);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('a double click fires a once-per-lead event once and a multi-trigger event twice', async () => {
  const context = await env.visitor();
  const { page, txn } = await openLanding(context);
  await page.dblclick('#buy');
  await page.dblclick('#quote');
  assert.equal(await page.evaluate(() => PT.flush()), true);
  const events = await env.lead(txn);
  assert.equal(count(events, 'purchase'), 1);
  assert.equal(count(events, 'quote_requested'), 2);
  const purchase = events.find((e) => e.event_id === 'purchase');
  assert.deepEqual([purchase.scope, purchase.category, purchase.revenue, purchase.payout], ['org', 'conversion', 25, 5]);
  assert.equal(events.find((e) => e.event_id === 'base').scope, 'system');
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('debug mode names each problem in the console; without it the clickscript is silent', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => { if (m.text().includes('[clickscript]')) logs.push(`${m.type()} ${m.text()}`); });
  await page.goto(`${env.publisher}/?pt_debug=1`);
  const txn = await ready(page);
  await page.evaluate(() => { PT.event('no_such_event'); PT.event('quote_requested', { nested: { a: 1 }, ok: 'yes', revenue: 'lots' }); });
  assert.equal(await page.evaluate(() => PT.flush()), true);
  assert.ok(logs.some((l) => l.startsWith('error') && l.includes('unknown event ID') && l.includes('no_such_event')), logs.join('\n'));
  assert.ok(logs.some((l) => l.includes('data field dropped') && l.includes('nested')), logs.join('\n'));
  assert.ok(logs.some((l) => l.includes('revenue must be a non-negative number')), logs.join('\n'));
  assert.ok(logs.some((l) => l.includes('event') && l.includes('"event_id":"base"')), 'every event is logged');
  assert.ok(logs.some((l) => l.includes('delivered')), 'deliveries are logged');
  const events = await env.lead(txn);
  assert.equal(count(events, 'no_such_event'), 0);
  const quote = events.find((e) => e.event_id === 'quote_requested');
  assert.deepEqual(quote.data, { ok: 'yes' });
  assert.equal(quote.revenue, undefined);

  logs.length = 0;
  const quiet = await context.newPage();
  quiet.on('console', (m) => { if (m.text().includes('[clickscript]')) logs.push(m.text()); });
  await quiet.goto(`${env.publisher}/`);
  await ready(quiet);
  await quiet.evaluate(() => { PT.event('no_such_event'); PT.event(42); PT.click('garbage'); PT.event('quote_requested', { nested: {} }); });
  await quiet.evaluate(() => PT.flush());
  assert.deepEqual(logs, []);
  assert.deepEqual(await errors(page), []);
  assert.deepEqual(await errors(quiet), []);
  await context.close();
});

test('a hostile page (throwing storage, polluted prototypes, a foreign PT): events still arrive, nothing thrown', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/hostile.html?sub1=h`);
  const txn = await ready(page);
  await page.evaluate(() => PT.event('quote_requested', { n: 1 }));
  assert.equal(await page.evaluate(() => PT.flush()), true);
  const events = await env.lead(txn);
  assert.deepEqual(events.map((e) => e.event_id).sort(), ['base', 'click_sold', 'quote_requested']);
  assert.equal(events[0].attribution.params.sub1, 'h');
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('two tabs open at once through an outage: every event of both arrives exactly once', async () => {
  const context = await env.visitor();
  await env.pause(true);
  let txn, a, b;
  try {
    a = await context.newPage();
    await a.goto(`${env.publisher}/`);
    txn = await ready(a);
    b = await context.newPage();
    await b.goto(`${env.publisher}/plain.html`);
    await b.goto(`${env.publisher}/?tab=b`);
    assert.equal(await ready(b), txn, 'one visitor, one lead in both tabs');
    for (let i = 0; i < 3; i++) {
      await a.evaluate((n) => PT.event('quote_requested', { tab: 'a', n }), i);
      await b.evaluate((n) => PT.event('quote_requested', { tab: 'b', n }), i);
    }
  } finally {
    await env.pause(false);
  }
  // Backoff grows per event, so the oldest (the lead's own events) may come last.
  const events = await until(async () => { const e = await env.lead(txn); return e.length >= 8 && e; }, 30000);
  assert.ok(events, 'both tabs delivered everything after the outage');
  assert.deepEqual([await a.evaluate(() => PT.flush()), await b.evaluate(() => PT.flush())], [true, true], 'nothing left to send');
  const final = await env.lead(txn);
  const quotes = final.filter((e) => e.event_id === 'quote_requested').map((e) => `${e.data.tab}${e.data.n}`).sort();
  assert.deepEqual(quotes, ['a0', 'a1', 'a2', 'b0', 'b1', 'b2']);
  assert.equal(count(final, 'base'), 1);
  assert.equal(count(final, 'click_sold'), 1);
  await context.close();
});

test('an event created through the admin API reaches new pages and is delivered', async () => {
  const [status, body] = await env.admin('POST', '/admin/orgs/e2e_org/events', { id: 'newsletter', category: 'engagement' });
  assert.equal(status, 201, JSON.stringify(body));
  const context = await env.visitor();
  const { page, txn } = await openLanding(context);
  assert.equal(await page.evaluate(() => PT.event('newsletter', { list: 'weekly' })), undefined);
  assert.equal(await page.evaluate(() => PT.flush()), true);
  const events = await env.lead(txn);
  assert.equal(count(events, 'newsletter'), 1);
  const [gone] = await env.admin('DELETE', '/admin/orgs/e2e_org/events/newsletter');
  assert.equal(gone, 200);
  const later = await env.visitor();
  const second = await openLanding(later);
  await second.page.evaluate(() => PT.event('newsletter'));
  await second.page.evaluate(() => PT.flush());
  assert.equal(count(await env.lead(second.txn), 'newsletter'), 0, 'a deactivated event is neither served nor sent');
  assert.deepEqual(await errors(page), []);
  await context.close();
  await later.close();
});

test('a once-per-lead event fired in one tab is not sent again from another tab of the lead', async () => {
  const context = await env.visitor();
  const a = await context.newPage();
  await a.goto(`${env.publisher}/`);
  const txn = await ready(a);
  const b = await context.newPage();
  await b.goto(`${env.publisher}/plain.html`);
  await b.goto(`${env.publisher}/`);
  assert.equal(await ready(b), txn);
  const sentFromB = [];
  b.on('request', (r) => { if (r.url().endsWith('/v1/events')) sentFromB.push(r.postData()); });
  await a.evaluate(() => PT.event('purchase', { tab: 'a' }));
  assert.equal(await a.evaluate(() => PT.flush()), true);
  await b.evaluate(() => PT.event('purchase', { tab: 'b' }));
  await b.evaluate(() => PT.event('quote_requested', { tab: 'b' }));
  assert.equal(await b.evaluate(() => PT.flush()), true);
  assert.ok(sentFromB.length > 0, 'tab b sent its multi-trigger event');
  assert.ok(sentFromB.every((body) => !body.includes('"event_id":"purchase"')), 'tab b did not send the purchase again');
  const events = await env.lead(txn);
  assert.equal(count(events, 'purchase'), 1);
  assert.equal(events.find((e) => e.event_id === 'purchase').data.tab, 'a');
  await context.close();
});

test('a PT.click queued before load keeps the URL and time of the call, and registers its options', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/queued-click.html`);
  const txn = await ready(page);
  assert.equal(await page.evaluate(() => window.clickPromise), txn, 'the queued call resolves to the transaction');
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'click_sold') >= 1 && e; });
  assert.ok(events, 'the click arrived');
  const click = events.find((e) => e.event_id === 'click_sold');
  assert.match(click.page.url, /\/queued-click\.html$/, 'the URL of the call, not the one at replay');
  assert.ok(click.ts <= await page.evaluate(() => window.clickedAt), 'the time of the call');
  const { pid, sub1, sub2, source_id: source } = click.attribution.params;
  assert.deepEqual([pid, sub1, sub2, source], ['5', 'a', 'b', 'src']);
  assert.match(events.find((e) => e.event_id === 'base').page.url, /moved=1/, 'the Base Event went at load');
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('PT.click hands a lead over by transaction_id; a transaction_id in the URL resumes it', async () => {
  const handed = randomUUID();
  const context = await env.visitor();
  const { page, txn } = await openLanding(context);
  assert.notEqual(txn, handed);
  assert.equal(await page.evaluate((t) => PT.click({ transaction_id: t, pid: 9, parameters: { offer: 'gold' } }), handed), handed);
  assert.equal(await page.evaluate(() => PT.transactionId()), handed);
  assert.equal(await page.evaluate(() => PT.flush()), true);
  const events = await env.lead(handed);
  assert.deepEqual(events.map((e) => e.event_id).sort(), ['base', 'click_sold']);
  assert.deepEqual([events[0].attribution.params.pid, events[0].attribution.params.offer], ['9', 'gold']);
  // Another domain of the funnel receives the lead in its URL.
  const next = await env.visitor();
  const second = await openLanding(next, `?transaction_id=${handed}`);
  assert.equal(second.txn, handed, 'the URL hands the lead over');
  assert.equal(await second.page.evaluate(() => PT.flush()), true);
  const later = await env.lead(handed);
  assert.equal(count(later, 'base'), 1, 'the other domain\'s Base Event is the same lead\'s: the collector answers it as a duplicate');
  assert.equal(later.length, 2);
  await context.close();
  await next.close();
});

test('PT.urlParameter answers what the attribution captured, before and after the WebAssembly loaded', async () => {
  const context = await env.visitor();
  const { page, txn } = await openLanding(context, '?gclid=&gclid=G2&utm_source=&utm_source=mail&empty=');
  assert.deepEqual(await page.evaluate(() => [PT.urlParameter('gclid'), PT.urlParameter('utm_source'), PT.urlParameter('empty'), PT.urlParameter('nope')]),
    ['G2', 'mail', '', null]);
  const base = (await until(async () => { const e = await env.lead(txn); return e.length >= 1 && e; })).find((e) => e.event_id === 'base');
  assert.equal(base.attribution.click_ids.gclid, 'G2');
  assert.equal(base.attribution.params.utm_source, 'mail');
  // The loader answers until the clickscript has loaded (here it never does: no WebAssembly).
  const csp = await context.newPage();
  await csp.goto(`${env.publisher}/csp.html?gclid=&gclid=G2&empty=`);
  assert.deepEqual(await csp.evaluate(() => [PT.urlParameter('gclid'), PT.urlParameter('empty'), PT.urlParameter('nope')]), ['G2', '', null]);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('a once-per-lead event the collector refused can fire again once the operator allows it', async () => {
  const event = { id: 'signup_once', category: 'conversion' };
  assert.equal((await env.admin('POST', '/admin/orgs/e2e_org/events', event))[0], 201);
  const context = await env.visitor();
  const { page, txn } = await openLanding(context);
  assert.equal(await page.evaluate(() => PT.flush()), true);
  // The operator deactivates it after the page loaded: the collector refuses the page's event.
  assert.equal((await env.admin('DELETE', '/admin/orgs/e2e_org/events/signup_once'))[0], 200);
  const logs = [];
  page.on('console', (m) => { if (m.text().includes('[clickscript]')) logs.push(m.text()); });
  await page.evaluate(() => PT.event('signup_once', { try: 1 }));
  assert.equal(await page.evaluate(() => PT.flush()), true, 'dropped, not retried');
  assert.equal(count(await env.lead(txn), 'signup_once'), 0);
  const fired = () => page.evaluate(() => (localStorage.getItem('pt_id_e2e') || '').split('|')[7]);
  assert.ok(!(await fired()).includes('signup_once'), 'the refused event does not count as fired');
  // Allowed again: the same lead fires it, once.
  assert.equal((await env.admin('PUT', '/admin/orgs/e2e_org/events/signup_once', { ...event, active: true }))[0], 200);
  await page.reload();
  assert.equal(await ready(page), txn);
  await page.evaluate(() => PT.event('signup_once', { try: 2 }));
  assert.equal(await page.evaluate(() => PT.flush()), true);
  // Now it counts: a third call is not sent.
  await page.evaluate(() => PT.event('signup_once', { try: 3 }));
  assert.equal(await page.evaluate(() => PT.flush()), true);
  const events = await env.lead(txn);
  assert.deepEqual(events.filter((e) => e.event_id === 'signup_once').map((e) => e.data.try), [2]);
  assert.ok((await fired()).includes('signup_once'));
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('the fallback resolves cookie_domain auto and holds events to the collector\'s limits', async () => {
  const port = new URL(env.publisher).port;
  const context = await env.visitor();
  const page = await context.newPage();
  const long = 'é'.repeat(400); // 800 bytes in UTF-8, 400 UTF-16 units
  // 60 parameters, one of them long (the publisher's server reads request lines up to 16 KB).
  const query = Array.from({ length: 60 }, (_, i) => `p${i}=${i ? 'v' : encodeURIComponent(long)}`).join('&');
  await page.goto(`http://www.lp.test:${port}/csp-sites.html?${query}`);
  const txn = await until(() => page.evaluate(() => PT.transactionId()));
  assert.ok(txn, 'the fallback made a transaction');
  const cookie = (await context.cookies()).find((c) => c.name === 'pt_txn_sites');
  assert.equal(cookie.domain, '.lp.test', 'the registrable domain, not the literal "auto"');
  await page.evaluate((v) => {
    const props = {};
    for (let i = 0; i < 60; i++) props[`f${i}`] = v;
    PT.event('purchase', props);
  }, long);
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'purchase') >= 1 && e; });
  assert.ok(events, 'the collector accepted the fallback\'s events');
  const purchase = events.find((e) => e.event_id === 'purchase');
  assert.equal(Object.keys(purchase.data).length, 50);
  assert.ok(Object.values(purchase.data).every((v) => Buffer.byteLength(v) <= 512));
  assert.equal(Object.keys(purchase.attribution.params).length, 50);
  assert.ok(Buffer.byteLength(purchase.attribution.params.p0) <= 512);
  assert.equal(count(events, 'base'), 1);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('a tag whose campaign the collector does not serve gives its queue up instead of saving it on every page', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  const refused = page.waitForResponse((r) => r.url().includes('/v1/campaigns/no_such_campaign/config'));
  await page.goto(`${env.publisher}/static-unknown.html`);
  assert.equal((await refused).status(), 404);
  // The loader's answer to the refusal runs in the page's next task at the latest.
  await page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
  await page.goto(`${env.publisher}/plain.html`);
  assert.equal(await page.evaluate(() => localStorage.getItem('pt_q_no_such_campaign')), null);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('the README\'s snippet queues every PT call made before an async tag has loaded', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/snippet.html?gclid=&gclid=G7`);
  const txn = await ready(page);
  const early = await page.evaluate(async () => ({
    click: await window.early.click, flush: await window.early.flush, ready: await window.early.ready, txn: window.early.txn, gclid: window.early.gclid,
  }));
  assert.deepEqual(early, { click: txn, flush: true, ready: txn, txn: null, gclid: 'G7' });
  const events = await env.lead(txn);
  assert.deepEqual(events.filter((e) => e.event_id === 'quote_requested').map((e) => e.data.early), [1]);
  assert.equal(count(events, 'base'), 1);
  assert.equal(events.find((e) => e.event_id === 'base').attribution.params.pid, undefined, 'the click came after the lead\'s load');
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('the collector\'s Retry-After holds the next attempt back in the browser', async () => {
  const context = await env.visitor();
  const { page, txn } = await openLanding(context);
  assert.equal(await page.evaluate(() => PT.flush()), true);
  const posts = [];
  page.on('request', (r) => { if (r.url().endsWith('/v1/events')) posts.push(Date.now()); });
  await env.pause(true, 3);
  try {
    await page.evaluate(() => PT.event('quote_requested', { retry: 'after' }));
    assert.ok(await until(() => posts.length >= 2, 10000), 'the page tried again');
    // The first backoff alone would be 0.5 to 1 s.
    assert.ok(posts[1] - posts[0] >= 2900, `the retry waited for Retry-After: 3: ${posts[1] - posts[0]} ms`);
  } finally {
    await env.pause(false);
  }
  assert.ok(await until(async () => count(await env.lead(txn), 'quote_requested') === 1, 10000));
  await context.close();
});

test('an open tab adopts, through the storage event, what a closed tab could not deliver', async () => {
  const context = await env.visitor();
  const b = await context.newPage();
  await b.goto(`${env.publisher}/`);
  const txn = await ready(b);
  assert.equal(await b.evaluate(() => PT.flush()), true, 'tab b has nothing waiting of its own');
  await env.pause(true);
  try {
    const a = await context.newPage();
    await a.goto(`${env.publisher}/plain.html`);
    await a.goto(`${env.publisher}/`);
    assert.equal(await ready(a), txn);
    await a.evaluate(() => PT.event('quote_requested', { tab: 'a' }));
    assert.equal(await a.evaluate(() => PT.flush()), false);
    // Tab a's outbox (tab b's is empty); b takes it over, and removes it, once a has gone.
    const outboxes = () => b.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('pt_ob_')));
    const [aKey] = await outboxes();
    assert.ok(aKey, 'tab a keeps its event in its outbox');
    await a.close({ runBeforeUnload: true });
    // Still paused (so tab a's beacon is refused too): tab b is not reloaded, and only tab a's
    // heartbeat going to 0 (a storage event) tells it.
    assert.ok(await until(async () => !(await outboxes()).includes(aKey), 10000), 'tab b adopted tab a\'s outbox');
  } finally {
    await env.pause(false);
  }
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') >= 1 && e; }, 15000);
  assert.ok(events, 'tab b delivered tab a\'s event');
  assert.equal(await b.evaluate(() => PT.flush()), true);
  assert.equal(count(await env.lead(txn), 'quote_requested'), 1);
  assert.equal(await b.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('pt_ob_')).length), 0);
  await context.close();
});

test('data-debug on a static tag turns debug mode on', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  const logs = [];
  page.on('console', (m) => { if (m.text().includes('[clickscript]')) logs.push(m.text()); });
  await page.goto(`${env.publisher}/static-debug.html`);
  const txn = await ready(page);
  assert.equal(await page.evaluate(() => PT.flush()), true);
  assert.ok(logs.some((l) => l.includes('lead') && l.includes(txn)), logs.join('\n'));
  assert.ok(logs.some((l) => l.includes('delivered')), logs.join('\n'));
  await context.close();
});

test('a form tagged data-pt-event fires its event once on submit, though the page leaves', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/form-tag.html`);
  const txn = await ready(page);
  await page.click('#send');
  await page.waitForURL('**/plain.html?zip=90210');
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') >= 1 && e; });
  assert.ok(events, 'the submit\'s event arrived');
  assert.equal(count(events, 'quote_requested'), 1);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('a page that breaks fetch after the tag loaded still gets its events delivered, by beacon', async () => {
  const context = await env.visitor();
  const { page, txn } = await openLanding(context);
  assert.equal(await page.evaluate(() => PT.flush()), true);
  // Each way a page's fetch can break: a rejection, a throw, no promise, a promise of no Response.
  // One at a time: each is installed, the backoff of the last failure released (`online`), and
  // its event fired; it must have been called, and the event must arrive (by beacon).
  const broken = [
    '() => Promise.reject(new TypeError("blocked by the page"))',
    '() => { throw new TypeError("blocked by the page"); }',
    '() => undefined',
    '() => Promise.resolve({ status: 200 })',
  ];
  await page.evaluate(() => { window.__calls = []; });
  for (const [i, fetch] of broken.entries()) {
    await page.evaluate(([f, n]) => {
      const broken = eval(f);
      window.__calls[n] = 0;
      window.fetch = (...args) => { window.__calls[n]++; return broken(...args); };
      dispatchEvent(new Event('online'));
      PT.event('quote_requested', { n });
    }, [fetch, i]);
    const arrived = await until(async () => (await env.lead(txn)).some((e) => e.event_id === 'quote_requested' && e.data.n === i));
    assert.ok(arrived, `event ${i} delivered though fetch was ${fetch}`);
    assert.ok(await page.evaluate((n) => window.__calls[n], i) > 0, `fetch ${fetch} was tried`);
  }
  const events = await env.lead(txn);
  const sent = events.filter((e) => e.event_id === 'quote_requested').map((e) => e.data.n).sort();
  assert.deepEqual(sent, [0, 1, 2, 3]);
  // Nothing reached the page, and the clickscript still answers.
  assert.deepEqual(await errors(page), []);
  assert.equal(await page.evaluate(() => PT.transactionId()), txn);
  await context.close();
});

/** Opens `path` on a page whose fetch is broken (by `broken`) before the tag ran, and checks
 *  that its lead's Base Event arrives with the landing's sub1 and nothing reaches the page. */
async function leadDespiteBrokenFetch(path, broken, sub1) {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.addInitScript(broken);
  await page.goto(`${env.publisher}/${path}?sub1=${sub1}`);
  const txn = await ready(page);
  const base = await until(async () => (await env.lead(txn)).find((e) => e.event_id === 'base'));
  assert.ok(base, 'the Base Event arrived');
  assert.equal(base.attribution.params.sub1, sub1);
  assert.deepEqual(await errors(page), []);
  await context.close();
}

test('a page whose fetch is broken before the tag ran: the fallback delivers the lead', () =>
  leadDespiteBrokenFetch('', () => { window.fetch = () => undefined; }, 'nofetch'));

test('a page that broke JSON before the tag (replaced, and toJSON on the prototypes): events still arrive whole', async () => {
  const context = await env.visitor();
  await context.addInitScript(countFrames);
  const page = await context.newPage();
  await page.goto(`${env.publisher}/broken-json.html?sub1=json`);
  const txn = await ready(page);
  await page.evaluate(() => PT.event('quote_requested', { plan: 'gold', n: 2 }));
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') && e; });
  assert.ok(events, 'delivered');
  assert.deepEqual(events.map((e) => e.event_id).sort(), ['base', 'click_sold', 'quote_requested']);
  const quote = events.find((e) => e.event_id === 'quote_requested');
  assert.deepEqual(quote.data, { plan: 'gold', n: 2 });
  assert.equal(quote.attribution.params.sub1, 'json');
  // The page's own toJSON is back in place as it was (non-enumerable), and nothing reached the page.
  assert.deepEqual(await page.evaluate(toJSONAsDefined), [true, false]);
  // One empty frame lent its JSON, once.
  assert.equal(await page.evaluate(() => window.__frames), 1);
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('a page that breaks JSON and Number after the tag ran: events still arrive whole', async () => {
  const context = await env.visitor();
  await context.addInitScript(countFrames);
  const { page, txn } = await openLanding(context);
  await page.evaluate(() => {
    window.Number = () => { throw new Error('the page broke Number'); };
    JSON.stringify = () => '{"broken":true}';
    JSON.parse = () => { throw new SyntaxError('the page broke JSON.parse'); };
    Array.prototype.toJSON = function () { return 'array'; };
    PT.event('quote_requested', { plan: 'late' });
  });
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') && e; });
  assert.ok(events, 'delivered');
  assert.deepEqual(events.find((e) => e.event_id === 'quote_requested').data, { plan: 'late' });
  assert.deepEqual(await errors(page), []);
  // The page's JSON was taken when it still worked: no frame was needed.
  assert.equal(await page.evaluate(() => window.__frames), 0);
  await context.close();
});

test('in debug mode, a page whose console throws: nothing reaches the page and the clickscript keeps working', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.addInitScript(() => {
    console.log = console.error = () => { throw new Error('the page broke its console'); };
  });
  await page.goto(`${env.publisher}/?pt_debug=1`);
  const txn = await ready(page);
  // Each call logs in debug mode; the second only runs if the first left the tracker usable.
  await page.evaluate(() => { PT.event('quote_requested', { n: 1 }); PT.event('not_an_event'); });
  await page.evaluate(() => PT.event('quote_requested', { n: 2 }));
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') >= 2 && e; });
  assert.ok(events, 'both events delivered');
  assert.equal(count(events, 'base'), 1);
  // Delivered by the clickscript itself, not handed over to the fallback.
  assert.equal(await page.evaluate(() => typeof window.__ptFallback), 'undefined');
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test('back from the back/forward cache, the page is alive again: its events arrive once, no second lead', async () => {
  const browser = await env.bfcacheBrowser();
  try {
    const context = await browser.newContext();
    await context.addInitScript(() => {
      window.__errors = [];
      addEventListener('error', (e) => window.__errors.push(String(e.message || e)));
      addEventListener('unhandledrejection', (e) => window.__errors.push('unhandled: ' + String(e.reason)));
      addEventListener('pageshow', (e) => { window.__restored = e.persisted; });
    });
    const page = await context.newPage();
    await page.goto(`${env.publisher}/bfcache.html?sub1=bf`);
    const txn = await ready(page);
    assert.equal(await page.evaluate(() => PT.flush()), true);
    await page.click('#next');
    await page.waitForURL(/plain\.html/);
    // A page restored from the cache fires pageshow (persisted), not load.
    await page.goBack({ waitUntil: 'commit' });
    const restored = await page.waitForFunction(() => window.__restored === true, null, { timeout: 5000 }).then(() => true, () => false);
    assert.ok(restored, 'restored from the back/forward cache');
    // The same lead and tracker: an event fired now is delivered, once, and no second Base Event.
    assert.equal(await page.evaluate(() => PT.transactionId()), txn);
    await page.evaluate(() => PT.event('quote_requested', { after: 'back' }));
    assert.equal(await page.evaluate(() => PT.flush()), true);
    const events = await env.lead(txn);
    assert.equal(count(events, 'quote_requested'), 1);
    assert.equal(count(events, 'base'), 1);
    // Its outbox is its own again: the heartbeat the pagehide zeroed is live.
    const beat = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('pt_hb_e2e_')).map((k) => Number(localStorage.getItem(k))));
    assert.ok(beat.length === 1 && beat[0] > 0, `heartbeat ${beat}`);
    assert.deepEqual(await page.evaluate(() => window.__errors), []);
  } finally {
    await browser.close();
  }
});

test('a static tag on a page whose fetch is broken before the tag: the configuration still comes, the lead is delivered', () =>
  leadDespiteBrokenFetch('static.html', () => { window.fetch = () => { throw new TypeError('the page broke fetch'); }; }, 'static-nofetch'));

test('the time zone is kept for the visitor with its UTC offset, and looked up again when the offset changed', async () => {
  // Tokyo is UTC+9 all year: getTimezoneOffset() is -540.
  const context = await env.visitor({ timezoneId: 'Asia/Tokyo' });
  const quote = async (kept) => {
    const page = await context.newPage();
    if (kept) await page.addInitScript((k) => localStorage.setItem('pt_tz', k), kept);
    await page.goto(`${env.publisher}/`);
    const txn = await ready(page);
    await page.evaluate(() => PT.event('quote_requested'));
    assert.equal(await page.evaluate(() => PT.flush()), true);
    const stored = await page.evaluate(() => localStorage.getItem('pt_tz'));
    const last = (await env.lead(txn)).filter((e) => e.event_id === 'quote_requested').sort((a, b) => a.seq - b.seq).pop();
    await page.close();
    return [last.page.time_zone, stored];
  };
  // Looked up, and kept with its offset.
  assert.deepEqual(await quote(null), ['Asia/Tokyo', '-540|Asia/Tokyo']);
  // Kept for the same offset: used as it is, not looked up again.
  assert.deepEqual(await quote('-540|Test/Kept'), ['Test/Kept', '-540|Test/Kept']);
  // The offset changed (travel, daylight saving): looked up again.
  assert.deepEqual(await quote('-480|Test/Stale'), ['Asia/Tokyo', '-540|Asia/Tokyo']);
  await context.close();
});

test('a request the network holds without an answer is aborted after 10 s and its events still arrive, once', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  // The network (outside the system) swallows the first ingest request: no answer, ever.
  let held = null;
  await page.route('**/v1/events', (route) => {
    if (held) return route.continue();
    held = route.request();
  });
  const aborted = Promise.race([
    new Promise((resolve) => page.on('requestfailed', (r) => { if (r === held) resolve(r.failure()?.errorText); })),
    new Promise((resolve) => setTimeout(() => resolve('not aborted within 15 s'), 15000).unref()),
  ]);
  await page.goto(`${env.publisher}/?sub1=held`);
  const txn = await ready(page);
  // The clickscript gives up on it (its AbortController), and the events go again.
  assert.match(await aborted, /ABORTED/);
  const events = await until(async () => { const e = await env.lead(txn); return e.length >= 2 && e; }, 15000);
  assert.ok(events, 'delivered after the held request was aborted');
  assert.equal(count(events, 'base'), 1);
  assert.equal(count(events, 'click_sold'), 1);
  assert.deepEqual(await errors(page), []);
  await context.close();
});
