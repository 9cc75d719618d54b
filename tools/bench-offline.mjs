// Benchmark: the browser goes offline, the page fires 5 events, and 10 s later the network is
// back. Prints how long after the browser came back online the last of them was stored (ANCHORS.md's
// "offline 10 s: last after back" column): median of RUNS runs (default 5), a fresh profile each.
//   node tools/bench-offline.mjs [RUNS]     (after `make build`)
import { ready, sleep, start, until } from '../tests/e2e/harness.mjs';

const runs = Number(process.argv[2] || 5);
const env = await start();
const after = [];
try {
  for (let i = 0; i < runs; i++) {
    const context = await env.visitor();
    const page = await context.newPage();
    await page.goto(`${env.publisher}/?utm_source=offline&run=${i}`);
    const txn = await ready(page);
    if (!(await page.evaluate(() => PT.flush()))) throw new Error('the lead did not arrive');
    await context.setOffline(true);
    await page.evaluate(() => { for (let n = 0; n < 5; n++) PT.event('quote_requested', { n }); });
    await sleep(10000);
    const back = Date.now();
    await context.setOffline(false);
    const stored = await until(async () => {
      const events = await env.lead(txn);
      return events.filter((e) => e.event_id === 'quote_requested').length >= 5 && events;
    }, 70000, 10);
    if (!stored) throw new Error('the events did not arrive');
    const last = Math.max(...stored.filter((e) => e.event_id === 'quote_requested').map((e) => e.received_at));
    after.push(last - back);
    await context.close();
  }
} finally {
  await env.stop();
}
after.sort((a, b) => a - b);
console.log(`offline 10 s, 5 events: the last stored ${after[Math.floor(after.length / 2)]} ms after the browser was back online (median of ${runs}; min ${after[0]}, max ${after[after.length - 1]})`);
