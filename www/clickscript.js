/* Clickscript loader. Defines window.PT as a queue, loads the WebAssembly clickscript without
   blocking the page, then replays the queue in order. If WebAssembly cannot run (a CSP without
   'wasm-unsafe-eval', an old browser) or the clickscript cannot start, it loads fallback.js,
   which still delivers the Base Event and the queued calls. Served by the collector at
   /sdk/CAMPAIGN/clickscript.js with the campaign's configuration inlined, or used as a static
   file with data-campaign and data-collector attributes (the configuration is then fetched).
   Nothing here throws into the page, and nothing relies on a global the page may have replaced
   (JSON, Array methods, localStorage, fetch) without a guard. The build minifies it
   (pkg/loader.js); the collector serves that. */
((w, d) => {
  let PT = w.PT;
  // A second copy of the tag does nothing at all.
  if (PT && PT.v) return;
  const tag = d.currentScript;
  const at = (n) => tag && tag.getAttribute(n);
  let cfg = /*PT_CONFIG*/null;
  const base = (cfg ? cfg.collector : at('data-collector')) || '';
  const cid = cfg ? cfg.campaign : at('data-campaign');
  const debug = /[?&]pt_debug=1/.test(location.search) || at('data-debug') != null;
  const log = (m, e) => debug && console.warn('[clickscript] ' + m, e);
  const attempt = (f, or) => { try { return f(); } catch (e) { return or; } };
  // The queue is a plain array walked by index (the page may have replaced Array.prototype
  // methods); the page's own pre-load snippet may push to it too.
  const q = (PT && PT.q) || [];
  // Until the clickscript runs, a call joins the queue; then it is made at once.
  let add = (c) => { q[q.length] = c; };
  // Calls before load are queued with the page URL and time of the call.
  const queue = (name) => (...args) => {
    const c = [name, args, location.href, Date.now()];
    // PT.click and PT.flush return promises (PT.event does not).
    const p = name != 'event' ? attempt(() => new Promise((r) => { c[4] = r; })) : undefined;
    add(c);
    return p;
  };
  // A query parameter as the captured attribution has it: the first non-empty value, else ''.
  const urlParameter = (name) => attempt(() => {
    const all = new URLSearchParams(location.search).getAll(name);
    return all.length ? all.find((v) => v) || '' : null;
  }, null);
  // PT.ready(): resolves with the transaction ID once the lead exists and the certificate fields
  // on the page are filled (the extension's wait, `certified`), and after 5 s whatever holds it.
  // Calls before the extension has run wait at the gate; the snippet's queued calls join them.
  let open;
  const now = (done) => done();
  const gate = attempt(() => new Promise((r) => { open = r; }));
  const go = (f) => attempt(() => open(f));
  const ready = () => attempt(() => new Promise((r) => {
    const done = () => r(PT.transactionId());
    setTimeout(done, 5e3);
    gate.then((certified) => attempt(() => certified(done)));
  }));
  PT = w.PT = {
    v: 1, q, ready,
    event: queue('event'), click: queue('click'), flush: queue('flush'), urlParameter,
    optOut: queue('optOut'), optIn: queue('optIn'),
    // The extension (after the first event) decorates offer URLs; until then a URL stays as given.
    decorate: (u) => u,
    transactionId: () => attempt(() => (d.cookie.match('(^|; )pt_txn_' + cid + '=([^;]*)') || [])[2] || null, null),
  };
  // A visitor who leaves before the WebAssembly ran: the queued calls wait in localStorage for
  // the next page of this origin, which replays them with their own URL and time.
  const key = 'pt_q_' + cid;
  let started;
  const keep = (v) => attempt(() => v ? localStorage.setItem(key, v) : localStorage.removeItem(key));
  // The previous page's calls go first; the stored copy goes once they are in the queue.
  attempt(() => {
    const all = JSON.parse(localStorage.getItem(key)) || [];
    for (let i = 0; i < q.length; i++) all[all.length] = q[i];
    for (let i = 0; i < all.length; i++) q[i] = all[i];
    keep();
  });
  // (A call's promise, c[4], is written as null.)
  addEventListener('pagehide', () => started || !q.length || keep(attempt(() => JSON.stringify(q))));
  // Back from the back/forward cache: this page replays its queue itself.
  addEventListener('pageshow', (e) => e.persisted && !started && keep());
  const replay = (api) => {
    started = 1;
    keep();
    // PT.click(options) takes the call's URL and time after its one argument.
    const call = (c) => {
      try {
        const a = c[1] || [];
        const r = c[0] == 'click' ? api.click(a[0], c[2], c[3]) : c[0] == 'ready' ? ready() : api[c[0]](a[0], a[1], c[2], c[3]);
        c[4] && c[4](r);
      } catch (e) { log('call failed', e); c[4] && c[4](c[0] == 'flush' ? false : null); }
    };
    PT.transactionId = () => attempt(() => api.transactionId(), null);
    if (api.urlParameter) PT.urlParameter = (name) => attempt(() => api.urlParameter(name), null);
    for (let i = 0; i < q.length; i++) call(q[i]);
    q.length = 0;
    add = call;
    q.push = call;
  };
  const fallback = (e) => {
    log('no wasm', e);
    const s = d.createElement('script');
    s.src = base + '/fallback.js';
    // If the fallback cannot run either, the queue is given up: it would fail on every page.
    s.onload = () => { try { replay(w.__ptFallback(cfg, debug)); } catch (e2) { log('no fallback', e2); started = 1; keep(); } go(now); };
    d.head.append(s);
  };
  // A package (`_bg.wasm` and its `.js` glue): the wasm downloads while the glue is imported.
  const load = (pkg, then) => {
    const wasm = fetch(base + pkg + '_bg.wasm');
    return import(base + pkg + '.js').then((m) => m.default(wasm).then(() => then(m)));
  };
  const start = (config) => {
    cfg = config;
    let tz;
    // cfg.pkg: the clickscript; cfg.ext: the extension (the campaign's triggers, the forms' lead
    // capture), once the first event is out.
    attempt(() => load(cfg.pkg, (m) => {
      // A clickscript that cannot start (a configuration it refuses, a bug) hands over to the
      // fallback, so the queue is delivered rather than saved again on every page.
      if (!attempt(() => m.start(cfg, debug, tz), false)) return fallback('no start');
      replay(m);
      cfg.ext ? load(cfg.ext, (t) => { t.start(cfg, debug, m.fire); go(t.ready); }).catch((e) => { log(e); go(now); }) : go(now);
    }).catch(fallback), null) || fallback('no loader');
    // Chromium's first Intl call on a page takes 20-40 ms of the main thread: the zone is kept
    // for the visitor with the UTC offset it was found at, and looked up again (while the wasm
    // downloads) only when the offset changed (travel, daylight saving) or storage is blocked.
    const zone = () => Intl.DateTimeFormat().resolvedOptions().timeZone;
    tz = attempt(() => {
      let at = new Date().getTimezoneOffset() + '|', kept = localStorage.getItem('pt_tz') || '', z;
      return kept.indexOf(at) ? (localStorage.setItem('pt_tz', at + (z = zone())), z) : kept.slice(at.length);
    }) || attempt(zone, '');
  };
  if (cfg) start(cfg);
  // The static tag reads its configuration with XMLHttpRequest, parsed by the browser (no page's
  // fetch or JSON on the way: a page may have broken either; a broken fetch then only sends
  // the page to the fallback).
  else attempt(() => {
    const x = new XMLHttpRequest();
    x.open('GET', base + '/v1/campaigns/' + cid + '/config');
    x.responseType = 'json';
    // A campaign the collector does not serve (4xx) never will: its queue is given up rather
    // than saved again on every page; a network error or a 5xx keeps it for the next page.
    x.onloadend = (s) => attempt(() => {
      s = x.status;
      if (s > 199 && s < 300 && typeof x.response == 'object' && x.response) start(x.response);
      else { log('no config', s); if (s > 399 && s < 500) { started = 1; keep(); } }
    });
    x.send();
  });
})(window, document);
