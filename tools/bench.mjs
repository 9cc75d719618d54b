// Benchmark: time from navigation to the Base Event stored at the collector, on a publisher's
// landing page (another origin) in headless Chromium, against the real collector, and the
// main-thread time of the page's tasks until then (Chromium's TaskDuration metric: the landing
// page's own parsing and layout included), and the same page's task time with the tag's request
// blocked, so that the difference is the clickscript's own share. Prints the medians and the
// spread of RUNS runs (default 11), each in a fresh browser profile.
//   node tools/bench.mjs [RUNS]     (after `make build`)
import { start, until } from '../tests/e2e/harness.mjs';

const runs = Number(process.argv[2] || 11);
const env = await start();
const times = [];
const tasks = [];
const bare = [];
try {
  for (let i = 0; i < runs; i++) {
    const context = await env.visitor();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    await page.goto(`${env.publisher}/?utm_source=bench&run=${i}`);
    // Waited for from outside the page (its cookie, then the collector), so that no polling of
    // the test's runs in the page's main thread.
    const txn = await until(async () => (await context.cookies()).find((c) => c.name === 'pt_txn_e2e')?.value, 10000, 5);
    const base = txn && await until(async () => (await env.lead(txn)).find((e) => e.event_id === 'base'), 10000, 5);
    if (!base) throw new Error('no Base Event');
    const { metrics } = await cdp.send('Performance.getMetrics');
    tasks.push(metrics.find((m) => m.name === 'TaskDuration').value * 1000);
    const origin = await page.evaluate(() => performance.timeOrigin);
    times.push(base.received_at - origin);
    await context.close();
  }
  // The same landing page without the clickscript (its tag's request blocked), measured once
  // its load has settled.
  for (let i = 0; i < runs; i++) {
    const context = await env.visitor();
    const page = await context.newPage();
    await page.route('**/sdk/**', (r) => r.abort());
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    await page.goto(`${env.publisher}/?utm_source=bench&run=${i}`);
    await page.waitForTimeout(300);
    const { metrics } = await cdp.send('Performance.getMetrics');
    bare.push(metrics.find((m) => m.name === 'TaskDuration').value * 1000);
    await context.close();
  }
} finally {
  await env.stop();
}
const report = (what, values) => {
  values.sort((a, b) => a - b);
  const median = values[Math.floor(values.length / 2)];
  console.log(`${what}: median ${median.toFixed(0)} ms over ${runs} runs (min ${values[0].toFixed(0)}, max ${values[values.length - 1].toFixed(0)})`);
};
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
report('navigation -> Base Event stored', times);
report('main-thread task time until then', tasks);
report('the same page without the tag', bare);
console.log(`the clickscript's share of main-thread task time: ${(median(tasks) - median(bare)).toFixed(0)} ms (difference of medians)`);
