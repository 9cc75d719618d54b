// Form engagement (issue 9): a form's first interaction, its time to complete, and a form started
// and left unsubmitted (which fields were filled: names only, never values), where bound.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { count, errors, ready, start, until } from './harness.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env.stop(); });

async function open(context) {
  const page = await context.newPage();
  await page.goto(`${env.publisher}/triggers.html`);
  const txn = await ready(page, { triggers: true });
  return { page, txn };
}

test('a form started and submitted: form_started once, then form_completed with its time, never abandoned', async () => {
  const context = await env.visitor();
  const { page, txn } = await open(context);
  await page.focus('input[name=zip]');
  await page.fill('input[name=zip]', '94107');
  await page.focus('input[name=age]');
  await page.selectOption('select[name=state]', 'CA');
  await page.click('#go');
  await page.click('#go');
  assert.equal(await page.evaluate(() => PT.flush()), true);
  await page.goto(`${env.publisher}/plain.html`);  // the page is left: a submitted form is not abandoned
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'form_done') >= 1 && e; });
  assert.ok(events);
  assert.equal(count(events, 'form_begun'), 1, 'one start, though several fields were touched');
  assert.deepEqual(events.find((e) => e.event_id === 'form_begun').data, { form: 'quote' });
  const done = events.find((e) => e.event_id === 'form_done').data;
  assert.equal(done.form, 'quote');
  assert.match(done.time_to_complete_ms, /^\d+$/);
  assert.equal(count(events, 'form_done'), 1, 'the first submit completes the form');
  assert.equal(count(events, 'form_left'), 0);
  await context.close();
});

test('a form started and left unsubmitted sends, once, the names of the fields filled', async () => {
  const context = await env.visitor();
  const { page, txn } = await open(context);
  await page.fill('input[name=zip]', '90210');
  await page.fill('input[name=age]', '41');
  await page.fill('input[name=age]', '');
  await page.focus('input[name=email]');
  await page.focus('input[name=amount]');
  assert.deepEqual(await errors(page), []);
  await page.goto(`${env.publisher}/plain.html`);
  const events = await until(async () => { const e = await env.lead(txn); return count(e, 'form_left') >= 1 && e; });
  assert.ok(events, 'the abandonment arrived');
  assert.equal(count(events, 'form_left'), 1);
  const left = events.find((e) => e.event_id === 'form_left').data;
  // The email field came filled by the page; the visitor filled zip and emptied age again.
  assert.deepEqual(left, { form: 'quote', fields_completed: 'zip,email' });
  assert.ok(!JSON.stringify(left).includes('90210'), 'names only, never values');
  assert.equal(count(events, 'form_done'), 0);
  await context.close();
});
