// Lead capture on forms that frameworks from npm render and submit themselves (issue 9): React
// with react-hook-form, Vue, jQuery with AJAX, htmx, Alpine. Each stops the navigation and posts the form on its
// own; the lead's fields still arrive once, and no secret reaches the collector.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { count, errors, ready, start, until } from './harness.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env.stop(); });

for (const [page, secrets] of [
  ['react-form.html', ['123-45-6789', 'pw-SECRET']],
  ['vue-form.html', ['4111 1111 1111 1111', 'pw-SECRET']],
  ['jquery-form.html', ['"cvv"', 'pw-SECRET']],
  ['htmx-form.html', ['021000021', 'pw-SECRET']],
  ['alpine-form.html', ['219-09-9999', 'pw-SECRET']],
]) {
  test(`${page}: the framework's submit sends the lead's fields once, without its secrets`, async () => {
    const context = await env.visitor();
    const bodies = [];
    context.on('request', (r) => { if (r.url().startsWith(env.collector) && r.method() === 'POST') bodies.push(r.postData() || ''); });
    const tab = await context.newPage();
    await tab.goto(`${env.publisher}/${page}`);
    const txn = await ready(tab, { triggers: true });
    await tab.click('#send');
    assert.ok(await tab.waitForFunction(() => window.__posted), 'the framework\'s own handler ran');
    const events = await until(async () => { const e = await env.lead(txn); return count(e, 'quote_requested') >= 1 && e; });
    assert.ok(events, 'the event arrived');
    assert.equal(count(events, 'quote_requested'), 1);
    assert.deepEqual(events.find((e) => e.event_id === 'quote_requested').data, { first_name: 'Ada', email: 'ada@example.com' });
    assert.ok(bodies.length > 0);
    for (const body of bodies) for (const s of secrets) assert.ok(!body.includes(s), `no request to the collector carried ${s}`);
    assert.deepEqual(await errors(tab), []);
    await context.close();
  });
}
