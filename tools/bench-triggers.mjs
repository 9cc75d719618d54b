// Benchmark: main-thread time the clickscript spends per click and per submit on a page with 50
// bound triggers (25 click bindings on other elements, 25 submit bindings on other forms, plus
// one of each that fires), in headless Chromium against the real collector. The time is that of
// dispatching the DOM event (our capture listener runs inside it) and the microtasks it queued
// (the clickscript writes storage at the end of the task), median of RUNS (default 201) clicks
// and submits, minus the same on a page without the clickscript.
//   node tools/bench-triggers.mjs [RUNS]     (after `make build`)
import { ready, start } from '../tests/e2e/harness.mjs';

const runs = Number(process.argv[2] || 201);
const bindings = [];
for (let i = 0; i < 24; i++) bindings.push({ event: 'tick', trigger: { on: 'click', selector: `.b${i}` } });
for (let i = 0; i < 24; i++) bindings.push({ event: 'tick', trigger: { on: 'submit', selector: `form.f${i}`, conditions: [{ field: 'zip', test: 'present' }] } });
bindings.push({ event: 'tick', trigger: { on: 'click', selector: '#target' } });
bindings.push({ event: 'tick', trigger: { on: 'submit', selector: '#quote', conditions: [{ field: 'zip', test: 'matches', value: '9*' }, { field: 'email', test: 'present' }] } });
const config = JSON.stringify({ organizations: [{ id: 'bench', campaigns: [{
  id: 'bench50', allowed_origins: ['__PUBLISHER__'],
  events: [{ id: 'tick', category: 'engagement', multi: true }], bindings,
}] }] });

const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// Clicks and submits that match no binding (evaluation only), and ones that fire an event.
const measure = (page, n) => page.evaluate(async (n) => {
  const target = document.getElementById('target'), form = document.getElementById('quote');
  const other = document.getElementById('other'), otherForm = document.getElementById('other-form');
  const r = { click: [], submit: [], fireClick: [], fireSubmit: [] };
  // `await null` resumes after the microtasks the dispatch queued.
  const time = async (list, f) => { const t = performance.now(); f(); await null; list.push(performance.now() - t); };
  for (let i = 0; i < n; i++) {
    await time(r.click, () => other.click());
    await time(r.submit, () => otherForm.requestSubmit());
    await time(r.fireClick, () => target.click());
    // A new submission each time (the same fields again would be a copy, which fires nothing).
    form.elements.zip.value = '9' + i;
    await time(r.fireSubmit, () => form.requestSubmit());
  }
  return r;
}, n);

const env = await start(config);
try {
  const context = await env.visitor();
  const page = await context.newPage();
  await page.goto(`${env.publisher}/bench50.html`);
  await ready(page, { triggers: true });
  const withTag = await measure(page, runs);
  const bare = await context.newPage();
  await bare.goto(`${env.publisher}/plain.html`);
  await bare.setContent((await page.content()).replace(/<script async[^>]*><\/script>/, ''));
  const without = await measure(bare, runs);
  const fmt = (k) => `${((median(withTag[k]) - median(without[k])) * 1000).toFixed(0)} µs`;
  console.log(`50 bound triggers, median of ${runs} each: evaluating a click ${fmt('click')}, a submit ${fmt('submit')}; `
    + `a click that fires an event ${fmt('fireClick')}, a submit that fires one ${fmt('fireSubmit')}`);
  await context.close();
} finally {
  await env.stop();
}
