// Benchmark: a burst of PT.event calls on one page. Prints how long the page's thread was
// blocked by the calls and how many events the collector stored, and when (ANCHORS.md's
// "1,000-call burst" column).
//   node tools/bench-burst.mjs [CALLS]     (after `make build`)
import { ready, start, until } from '../tests/e2e/harness.mjs';

const calls = Number(process.argv[2] || 1000);
const env = await start();
try {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/?utm_source=burst`);
  const txn = await ready(page);
  // Blocked: the calls and the microtasks they queued (the clickscript writes storage at the end
  // of the task); `await null` resumes after those.
  const blocked = await page.evaluate(async (n) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) PT.event('quote_requested', { n: i });
    await null;
    return performance.now() - t0;
  }, calls);
  const t0 = Date.now();
  let stored = 0;
  await until(async () => {
    stored = (await env.lead(txn)).filter((e) => e.event_id === 'quote_requested').length;
    return stored >= calls;
  }, 60000, 200);
  console.log(`${calls}-call burst: page blocked ${blocked.toFixed(0)} ms; ${stored} of ${calls} stored, the last ${Date.now() - t0} ms after the burst`);
  await context.close();
} finally {
  await env.stop();
}
