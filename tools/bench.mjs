// Benchmark: time from navigation to the Base Event stored at the collector, on a publisher's
// landing page (another origin) in headless Chromium, against the real collector. Prints the
// median and the spread of RUNS runs (default 11), each in a fresh browser profile.
//   node tools/bench.mjs [RUNS]     (after `make build`)
import { ready, start, until } from '../tests/e2e/harness.mjs';

const runs = Number(process.argv[2] || 11);
const env = await start();
const times = [];
try {
  for (let i = 0; i < runs; i++) {
    const context = await env.visitor();
    const page = await context.newPage();
    await page.goto(`${env.publisher}/?utm_source=bench&run=${i}`);
    const origin = await page.evaluate(() => performance.timeOrigin);
    const txn = await ready(page);
    const base = await until(async () => (await env.lead(txn)).find((e) => e.event_id === 'base'), 10000, 5);
    if (!base) throw new Error('no Base Event');
    times.push(base.received_at - origin);
    await context.close();
  }
} finally {
  await env.stop();
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(`navigation -> Base Event stored: median ${median.toFixed(0)} ms over ${runs} runs (min ${times[0].toFixed(0)}, max ${times[times.length - 1].toFixed(0)})`);
