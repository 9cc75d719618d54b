// Benchmark: what lead capture adds to the page's main thread (issue 9), in headless Chromium
// against the real collector, median of RUNS (default 101), minus the same on the page without
// the clickscript:
// - a submit of the lead form of tests/e2e/pages/lead-form.html (20 controls, every kind of
//   secret), each a new submission that fires an event: dispatching the submit (the extension's
//   capture listener runs in it) and the microtasks it queued;
// - a press on an offer link (mousedown and click, each decorating it): the delay the clickscript
//   adds before the browser follows the link (the navigation itself is stopped here).
//   node tools/bench-capture.mjs [RUNS]     (after `make build`)
import { ready, start } from '../tests/e2e/harness.mjs';

const runs = Number(process.argv[2] || 101);
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const measure = (page, n) => page.evaluate(async (n) => {
  // Navigation stopped before the document's listeners run (the window's capture phase is first).
  addEventListener('click', (e) => { if (e.target.closest('a')) e.preventDefault(); }, true);
  const form = document.getElementById('lead') || document.getElementById('quote');
  const link = document.getElementById('offer');
  const r = { submit: [], link: [] };
  const time = async (list, f) => { const t = performance.now(); f(); await null; list.push(performance.now() - t); };
  for (let i = 0; i < n; i++) {
    if (form) {
      form.elements.first_name.value = 'Ada ' + i;  // a new submission each time
      await time(r.submit, () => form.requestSubmit());
    }
    if (link) {
      await time(r.link, () => {
        link.dispatchEvent(new MouseEvent('mousedown', { bubbles: true }));
        link.click();
      });
    }
  }
  return r;
}, n);

/** The page as served, and the same page without the clickscript's tag. */
async function both(context, path, key) {
  const page = await context.newPage();
  await page.goto(`${env.publisher}/${path}`);
  await ready(page, { triggers: true });
  const withTag = (await measure(page, runs))[key];
  const bare = await context.newPage();
  await bare.route(/\/sdk\//, (route) => route.abort());
  await bare.goto(`${env.publisher}/${path}`);
  const without = (await measure(bare, runs))[key];
  return `${((median(withTag) - median(without)) * 1000).toFixed(0)} µs`;
}

const env = await start();
try {
  const context = await env.visitor();
  const submit = await both(context, 'lead-form.html', 'submit');
  const link = await both(context, 'offers.html?sub1=S1&utm_source=google', 'link');
  console.log(`median of ${runs}: a lead form's submit (20 controls, an event fired) ${submit}; `
    + `an offer link pressed (mousedown and click, decorated) ${link}`);
  await context.close();
} finally {
  await env.stop();
}
