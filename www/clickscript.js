/* Clickscript loader. Defines window.PT as a queue, loads the WebAssembly clickscript without
   blocking the page, then replays the queue in order. If WebAssembly cannot run (a CSP without
   'wasm-unsafe-eval', an old browser) it loads fallback.js, which still delivers the Base Event
   and the queued calls. Served by the collector at /sdk/CAMPAIGN/clickscript.js with the
   campaign's configuration inlined, or used as a static file with data-campaign and
   data-collector attributes (the configuration is then fetched). Nothing here throws.
   The build minifies it (pkg/loader.js); the collector serves that. */
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
  const q = (PT && PT.q) || [];
  const log = (m, e) => debug && console.warn('[clickscript] ' + m, e);
  // Calls before load are queued with the page URL and time of the call.
  const queue = (name) => (...args) => {
    const c = [name, args, location.href, Date.now()];
    // PT.click and PT.flush return promises (PT.event does not).
    const p = name != 'event' ? new Promise((r) => { c[4] = r; }) : undefined;
    q.push(c);
    return p;
  };
  PT = w.PT = {
    v: 1, q,
    event: queue('event'), click: queue('click'), flush: queue('flush'),
    urlParameter: (n) => new URLSearchParams(location.search).get(n),
    transactionId: () => (d.cookie.match('(^|; )pt_txn_' + cid + '=([^;]*)') || [])[2] || null,
  };
  // A visitor who leaves before the WebAssembly ran: the queued calls wait in localStorage for
  // the next page of this origin, which replays them with their own URL and time.
  const key = 'pt_q_' + cid;
  let started;
  const keep = (v) => { try { v ? localStorage.setItem(key, v) : localStorage.removeItem(key); } catch (e) { } };
  try { q.unshift(...(JSON.parse(localStorage.getItem(key)) || [])); } catch (e) { }
  keep();
  addEventListener('pagehide', () => started || !q.length || keep(JSON.stringify(q.map((c) => c.slice(0, 4)))));
  // Back from the back/forward cache: this page replays its queue itself.
  addEventListener('pageshow', (e) => e.persisted && !started && keep());
  const replay = (api) => {
    started = 1;
    keep();
    const call = (c) => {
      try {
        const r = api[c[0]](c[1][0], c[1][1], c[2], c[3]);
        c[4] && c[4](r);
      } catch (e) { log('call failed', e); c[4] && c[4](c[0] == 'flush' ? false : null); }
    };
    PT.transactionId = () => { try { return api.transactionId(); } catch (e) { return null; } };
    while (q.length) call(q.shift());
    q.push = call;
  };
  const fallback = (e) => {
    log('no wasm', e);
    const s = d.createElement('script');
    s.src = base + '/fallback.js';
    s.onload = () => { try { replay(w.__ptFallback(cfg, debug)); } catch (e2) { log('fallback failed', e2); } };
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
    // cfg.pkg: the clickscript; cfg.ext: the campaign's triggers, once the first event is out.
    load(cfg.pkg, (m) => {
      try {
        m.start(cfg, debug, tz) && (replay(m), cfg.ext && load(cfg.ext, (t) => t.start(cfg, debug, m.fire)).catch(log));
      } catch (e) { log('start failed', e); }
    }).catch(fallback);
    // Looked up while the wasm downloads (Chromium's first Intl call takes some 20 ms).
    tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  };
  if (cfg) start(cfg);
  else fetch(base + '/v1/campaigns/' + cid + '/config')
    .then((r) => r.ok ? r.json() : Promise.reject(r.status))
    .then(start, (e) => log('no config', e));
})(window, document);
