/* Clickscript loader. Defines window.PT as a queue, loads the WebAssembly clickscript without
   blocking the page, then replays the queue in order. If WebAssembly cannot run (a CSP without
   'wasm-unsafe-eval', an old browser) it loads fallback.js, which still delivers the Base Event
   and the queued calls. Served by the collector at /sdk/CAMPAIGN/clickscript.js with the
   campaign's configuration inlined, or used as a static file with data-campaign and
   data-collector attributes (the configuration is then fetched). Nothing here throws. */
(function (w, d) {
  var PT = w.PT;
  // A second copy of the tag does nothing at all.
  if (PT && PT.v) return;
  var tag = d.currentScript || {};
  var at = function (n) { return tag.getAttribute ? tag.getAttribute(n) : null; };
  var cfg = /*PT_CONFIG*/null;
  var base = (cfg ? cfg.collector : at('data-collector')) || '';
  var cid = cfg ? cfg.campaign : at('data-campaign');
  var debug = /[?&]pt_debug=1/.test(location.search) || at('data-debug') != null;
  var q = (PT && PT.q) || [];
  var log = function (m, e) { debug && console.warn('[clickscript] ' + m, e); };
  // Calls before load are queued with the page URL and time of the call.
  var queue = function (name) {
    return function () {
      var c = [name, [].slice.call(arguments), location.href, Date.now()], p;
      if (name == 'click' || name == 'flush') p = new Promise(function (r) { c[4] = r; });
      q.push(c);
      return p;
    };
  };
  PT = w.PT = {
    v: 1, q: q,
    event: queue('event'), click: queue('click'), flush: queue('flush'),
    urlParameter: function (n) { try { return new URL(location.href).searchParams.get(n); } catch (e) { return null; } },
    transactionId: function () { var m = d.cookie.match('(?:^|; )pt_txn_' + cid + '=([^;]*)'); return m ? m[1] : null; }
  };
  // A visitor who leaves before the WebAssembly ran: the queued calls wait in localStorage for
  // the next page of this origin, which replays them with their own URL and time.
  var saved = 'pt_q_' + cid, started = 0;
  var store = function (v) { try { v ? localStorage.setItem(saved, v) : localStorage.removeItem(saved); } catch (e) { } };
  try { q.unshift.apply(q, JSON.parse(localStorage.getItem(saved)) || []); } catch (e) { }
  store();
  addEventListener('pagehide', function () {
    if (!started && q.length) store(JSON.stringify(q.map(function (c) { return c.slice(0, 4); })));
  });
  // Back from the back/forward cache: this page replays its queue itself.
  addEventListener('pageshow', function (e) { e.persisted && !started && store(); });
  var replay = function (api) {
    started = 1;
    store();
    var call = function (c) {
      try {
        var r = api[c[0]](c[1][0], c[1][1], c[2], c[3]);
        c[4] && c[4](r);
      } catch (e) { log('call failed', e); c[4] && c[4](c[0] == 'flush' ? false : null); }
    };
    PT.transactionId = function () { try { return api.transactionId(); } catch (e) { return null; } };
    while (q.length) call(q.shift());
    q.push = function (c) { call(c); return 0; };
  };
  var fallback = function (e) {
    log('WebAssembly unavailable, using the fallback', e);
    var s = d.createElement('script');
    s.src = base + '/fallback.js';
    s.onload = function () { try { replay(w.__ptFallback(cfg, debug)); } catch (e2) { log('fallback failed', e2); } };
    (d.head || d.documentElement).appendChild(s);
  };
  var start = function (config) {
    cfg = config;
    import(base + '/pkg/clickscript.js').then(function (m) {
      return m.default({ module_or_path: base + '/pkg/clickscript_bg.wasm' }).then(function () {
        try {
          if (m.start(cfg, debug)) replay(m);
        } catch (e) { log('start failed', e); }
      });
    }, fallback).catch(fallback);
  };
  if (cfg) start(cfg);
  else if (cid) fetch(base + '/v1/campaigns/' + encodeURIComponent(cid) + '/config')
    .then(function (r) { if (!r.ok) throw r.status; return r.json(); })
    .then(start, function (e) { log('configuration unavailable', e); });
  else log('no campaign: serve this file from /sdk/CAMPAIGN/clickscript.js or set data-campaign');
})(window, document);
