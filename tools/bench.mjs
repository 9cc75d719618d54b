// Benchmark: time from navigation to the Base Event stored at the collector, on a publisher's
// landing page (another origin) in headless Chromium, against the real collector, and the
// main-thread time of the page's tasks until then (Chromium's TaskDuration metric: the landing
// page's own parsing and layout included). Prints the medians and the spread of RUNS runs
// (default 11), each in a fresh browser profile.
//   node tools/bench.mjs [RUNS]     (after `make build`)
import { ready, start, until } from '../tests/e2e/harness.mjs';

const runs = Number(process.argv[2] || 11);
const env = await start();
const times = [];
const tasks = [];
try {
  for (let i = 0; i < runs; i++) {
    const context = await env.visitor();
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    await page.goto(`${env.publisher}/?utm_source=bench&run=${i}`);
    const origin = await page.evaluate(() => performance.timeOrigin);
    const txn = await ready(page);
    const base = await until(async () => (await env.lead(txn)).find((e) => e.event_id === 'base'), 10000, 5);
    if (!base) throw new Error('no Base Event');
    times.push(base.received_at - origin);
    const { metrics } = await cdp.send('Performance.getMetrics');
    tasks.push(metrics.find((m) => m.name === 'TaskDuration').value * 1000);
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
report('navigation -> Base Event stored', times);
report('main-thread task time until then', tasks);
