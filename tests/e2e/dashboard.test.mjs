// The dashboard shows lead data only after a sign-in: the admin token reads every campaign, an
// organization's API key only its own; the session is an HttpOnly cookie that sign-out ends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, errors } from './harness.mjs';

let env;
before(async () => { env = await start(); });
after(async () => { await env.stop(); });

const campaignsListed = (page) => page.waitForFunction(() => document.querySelectorAll('#campaigns option').length > 0)
  .then(() => page.$$eval('#campaigns option', (os) => os.map((o) => o.value)));

test('a wrong credential stays on the sign-in page with the reason, and reads nothing', async () => {
  const context = await env.visitor();
  const page = await context.newPage();
  const first = await page.goto(`${env.collector}/dashboard?campaign=e2e`);
  assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in');
  assert.equal(first.status(), 200);
  await page.fill('#credential', 'not-the-token');
  const [answer] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('button[type=submit]')]);
  assert.equal(answer.status(), 401);
  assert.match(await page.textContent('#error'), /neither the admin token nor a live API key/);
  const read = await page.evaluate(() => fetch('/v1/campaigns/e2e/events').then((r) => r.status));
  assert.equal(read, 401);
  await context.close();
});

test('the admin signs in, sees every campaign, holds an HttpOnly session, and signs out', async () => {
  const context = await env.visitor();
  const page = await env.dashboard(context, '/dashboard?campaign=e2e');
  // (The reports then keep their range and grouping in the URL too.)
  assert.equal(new URL(page.url()).searchParams.get('campaign'), 'e2e', 'back to the view that asked for the sign-in');
  await page.waitForFunction(() => document.getElementById('who').textContent === 'admin');
  const listed = await campaignsListed(page);
  assert.ok(listed.includes('e2e') && listed.includes('partner'), String(listed));
  assert.equal(await page.evaluate(() => document.cookie.includes('pt_session')), false, 'HttpOnly');
  const [cookie] = (await context.cookies()).filter((c) => c.name === 'pt_session');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  await Promise.all([page.waitForURL((u) => u.pathname === '/dashboard/sign-in'), page.click('#sign-out')]);
  assert.equal(await page.evaluate(() => fetch('/v1/campaigns').then((r) => r.status)), 401);
  await page.goto(`${env.collector}/dashboard`);
  assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in');
  assert.deepEqual(await errors(page), []);
  await context.close();
});

test("an organization's API key signs in to its own campaigns only", async () => {
  const [status, created] = await env.admin('POST', '/admin/orgs/partner_org/keys', { name: 'partner dashboard' });
  assert.equal(status, 201);
  const context = await env.visitor();
  const page = await env.dashboard(context, '/dashboard?campaign=partner', created.key);
  await page.waitForFunction(() => document.getElementById('who').textContent === 'organization partner_org');
  assert.deepEqual(await campaignsListed(page), ['partner']);
  const other = await page.evaluate(() => fetch('/v1/campaigns/e2e/events').then((r) => r.status));
  assert.equal(other, 403);
  // Revoked: the next read is refused, and the dashboard sends the visitor back to the sign-in.
  assert.equal((await env.admin('DELETE', `/admin/keys/${created.id}`))[0], 200);
  assert.equal(await page.evaluate(() => fetch('/v1/campaigns/partner/events').then((r) => r.status)), 401);
  await page.goto(`${env.collector}/dashboard?campaign=partner`);
  assert.equal(new URL(page.url()).pathname, '/dashboard/sign-in');
  await context.close();
});

test("the dashboard shows the campaign's postbacks with their attempts, and where a lead's events came from", async () => {
  const txn = crypto.randomUUID();
  const base = {
    uid: crypto.randomUUID(), event_id: 'base', category: 'lead', scope: 'system', txn, visitor: crypto.randomUUID(),
    session: crypto.randomUUID(), ts: Date.now(), seq: 1, page: { url: `${env.publisher}/?sub1=aff-3` },
    attribution: { params: { sub1: 'aff-3' }, click_ids: {} }, data: {}, consent: null, bot: false,
  };
  const sent = await fetch(`${env.collector}/v1/events`, {
    method: 'POST', headers: { origin: env.publisher, 'content-type': 'text/plain' },
    body: JSON.stringify({ v: 1, cid: 'partner', sent_at: Date.now(), events: [base] }),
  });
  assert.equal(sent.status, 200);
  const [status] = await env.admin('POST', '/v1/server-events', { transaction_id: txn, event_id: 'form_sold', revenue: 20 });
  assert.equal(status, 201);
  const context = await env.visitor();
  const page = await env.dashboard(context, `/dashboard?campaign=partner&lead=${txn}`);
  // The Base Event's postback reached the publisher's server (200) and the dashboard says so.
  const row = await page.waitForSelector('#postbacks tr.postback-delivered', { timeout: 15000 });
  const text = await row.textContent();
  assert.match(text, new RegExp(`txn=${txn.replaceAll('-', '%2D')}&click=aff%2D3`));
  assert.match(text, /200 \(\d+ ms\)/);
  await page.waitForSelector('#timeline tr.event-form_sold');
  assert.equal(await page.textContent('#timeline tr.event-form_sold td.source'), 'server');
  assert.equal(await page.textContent('#timeline tr.event-base td.source'), 'page');
  assert.deepEqual(await errors(page), []);
  await context.close();
});
