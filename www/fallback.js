/* Clickscript fallback, loaded only when WebAssembly cannot run (for example a
   Content-Security-Policy without 'wasm-unsafe-eval'). Plain JS: it resumes or creates the lead
   with the same cookie and storage record as the WebAssembly build, fires the Base Event (and
   Base Click Sold when the campaign says so) once per lead, and sends them and the queued calls
   with sendBeacon in the same wire format. Best effort: no outbox, no retry. */
(function (w, d) {
  w.__ptFallback = function (cfg, debug) {
    var log = function (m, x) { debug && console.warn('[clickscript fallback] ' + m, x); };
    var rnd = function (n) { var a = new Uint8Array(n); (w.crypto || w.msCrypto).getRandomValues(a); return a; };
    var hex = function (a) { var s = ''; for (var i = 0; i < a.length; i++) s += (a[i] < 16 ? '0' : '') + a[i].toString(16); return s; };
    var fmt = function (h) { return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20, 32); };
    var v4 = function () { var a = rnd(16); a[6] = a[6] & 15 | 64; a[8] = a[8] & 63 | 128; return fmt(hex(a)); };
    var v7 = function () {
      var a = rnd(16), t = Date.now();
      for (var i = 5; i >= 0; i--) { a[i] = t % 256; t = Math.floor(t / 256); }
      a[6] = a[6] & 15 | 112; a[8] = a[8] & 63 | 128; return fmt(hex(a));
    };
    var isId = function (s) { return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s || ''); };
    // The browser's own JSON.stringify, as the WebAssembly takes it (web/src/json.rs): the page's
    // if it writes back what it read, else an empty frame's; built-in prototypes' own toJSON
    // (Prototype.js) set aside while it writes and put back as they were (their descriptors).
    var R = w.Reflect, key = 'toJSON';
    var protos = [Object.prototype, Array.prototype, String.prototype, Number.prototype, Boolean.prototype];
    var writer = function (J) {
      var write = function (v) {
        var aside = [];
        try {
          for (var i = 0; i < protos.length; i++) {
            var desc = R.getOwnPropertyDescriptor(protos[i], key);
            if (desc && R.deleteProperty(protos[i], key)) aside[aside.length] = [protos[i], desc];
          }
          return J.stringify(v);
        } finally {
          for (var k = 0; k < aside.length; k++) R.defineProperty(aside[k][0], key, aside[k][1]);
        }
      };
      var probe = '{"a":[1.5,"\u00e9\\"",true,null,{}],"b":-2}';
      try { if (write(J.parse(probe)) === probe) return write; } catch (e) { /* the next one */ }
    };
    var frameJSON = function () {
      try {
        var f = d.createElement('iframe');
        d.documentElement.appendChild(f);
        var J = f.contentWindow.JSON;
        f.remove();
        return J;
      } catch (e) { return w.JSON; }
    };
    var stringify = writer(w.JSON) || writer(frameJSON()) || function (v) { return JSON.stringify(v); };
    var cid = cfg.campaign, now = Date.now(), day = 864e5;
    // Values cut to the collector's limits in UTF-8 bytes (core/src/limits.rs), on a character.
    var cut = function (v, max) {
      v = String(v);
      // A lone surrogate (a page's text cut mid-character) would go out as a JSON escape the
      // collector refuses, with the whole batch: replaced (U+FFFD), as the WebAssembly's are.
      if (/[\uD800-\uDFFF]/.test(v)) v = new TextDecoder().decode(new TextEncoder().encode(v));
      if (v.length * 3 <= max) return v;
      var b = new TextEncoder().encode(v), n = max;
      if (b.length <= max) return v;
      while (n > 0 && (b[n] & 192) == 128) n--;
      return new TextDecoder().decode(b.subarray(0, n));
    };
    // cookie_domain "auto": the page's registrable domain, as the browser knows it (the first
    // parent domain, shortest first, on which it keeps a probe cookie), as the WebAssembly does.
    var domain = cfg.cookie_domain;
    if (domain == 'auto') {
      domain = null;
      var host = location.hostname, labels = host.split('.');
      // A random value: a probe cookie left by another page cannot pass for this one's.
      var mark = v4().slice(0, 8);
      var probe = function (c) {
        d.cookie = 'pt_domain_probe=' + mark + '; Max-Age=10; Path=/; Domain=' + c;
        var kept = d.cookie.indexOf('pt_domain_probe=' + mark) >= 0;
        if (kept) d.cookie = 'pt_domain_probe=; Max-Age=0; Path=/; Domain=' + c;
        return kept;
      };
      if (labels.length > 1 && !/^[\d.]+$/.test(host) && host.indexOf(':') < 0) {
        for (var i = labels.length - 2; i >= 0 && !domain; i--) {
          if (probe(labels.slice(i).join('.'))) domain = labels.slice(i).join('.');
        }
      }
    }
    var get = function (k) { try { return localStorage.getItem(k); } catch (e) { return null; } };
    var put = function (k, v) { try { localStorage.setItem(k, v); } catch (e) { log('storage blocked', e); } };
    var params = new URLSearchParams(location.search);
    var ck = d.cookie.match('(?:^|; )pt_txn_' + cid + '=([^;]*)');
    // The record the WebAssembly build keeps: 1|txn|expires|visitor|session|last_seen|seq|fired
    var rec = (get('pt_id_' + cid) || '').split('|');
    var stored = rec.length == 8 && rec[0] == '1' && isId(rec[1]) ? rec : null;
    var txn = [params.get('transaction_id'), ck && ck[1]].filter(isId)[0]
      || (stored && +stored[2] > now ? stored[1] : v4());
    var same = stored && stored[1] == txn;
    var id = {
      txn: txn, exp: same ? +stored[2] : now + cfg.cookie_days * day,
      visitor: stored ? stored[3] : v4(),
      session: stored && now - stored[5] < 18e5 ? stored[4] : v4(),
      seq: same ? +stored[6] : 0, fired: same && stored[7] ? stored[7].split(',') : []
    };
    var save = function () {
      d.cookie = 'pt_txn_' + cid + '=' + id.txn + '; Max-Age=' + Math.floor((id.exp - Date.now()) / 1000) + '; Path=/; SameSite=Lax'
        + (domain ? '; Domain=' + domain : '') + (location.protocol == 'https:' ? '; Secure' : '');
      put('pt_id_' + cid, ['1', id.txn, id.exp, id.visitor, id.session, Date.now(), id.seq, id.fired.join(',')].join('|'));
    };
    var attribution = function (url) {
      var a = { params: {}, click_ids: {} }, ids = ['gclid', 'gbraid', 'wbraid', 'fbclid', 'msclkid', 'ttclid', 'li_fat_id', 'twclid'];
      try {
        new URL(url).searchParams.forEach(function (v, k) {
          k = cut(k, 64);
          if (!k || k == 'pt_debug' || k == 'transaction_id') return;
          var m = ids.indexOf(k) >= 0 ? a.click_ids : a.params;
          if (m === a.click_ids && !v) return;
          // The first non-empty value wins; at most 50 parameters (and 50 click IDs).
          if (!(k in m) && Object.keys(m).length >= 50) return;
          if (!m[k]) m[k] = cut(v, 512);
        });
      } catch (e) { }
      return a;
    };
    var sent = [], queued = false;
    // PT.optOut() (here or in the clickscript): nothing is captured on this site until PT.optIn().
    // (Storage too: a cross-site frame can neither set nor read the cookie.)
    var optedOut = function () { return /(^|; )pt_optout=1(;|$)/.test(d.cookie) || get('pt_optout') == '1'; };
    var gpc = navigator.globalPrivacyControl === true, dnt = navigator.doNotTrack == '1';
    var fire = function (eid, props, url, ts) {
      if (optedOut()) { log('the visitor opted out, not sent', eid); return false; }
      var def = (cfg.events || []).filter(function (e) { return e.id == eid; })[0];
      if (!def) { log('unknown event ID, not sent', eid); return false; }
      // A campaign that sends only the Base Event, bare, for visitors with Global Privacy Control.
      if (gpc && cfg.gpc == 'base_only') {
        if (eid != cfg.system.base) { log('Global Privacy Control: only the Base Event is sent', eid); return false; }
        props = 0;
      }
      if (!def.multi && id.fired.indexOf(eid) >= 0) { log('already fired for this lead', eid); return false; }
      if (!def.multi) id.fired.push(eid);
      id.seq++;
      save();
      // Amounts: fixed, or a number among the call's props ({prop: NAME}); no form fields here.
      var amount = function (a) { return typeof a == 'number' ? a : a && props && typeof props[a.prop] == 'number' ? props[a.prop] : null; };
      var data = {}, revenue = amount(def.revenue), payout = amount(def.payout);
      var fields = 0;
      for (var k in props || {}) {
        if (!Object.prototype.hasOwnProperty.call(props, k)) continue;
        var v = props[k];
        if (k == 'revenue') { if (typeof v == 'number' && v >= 0 && isFinite(v)) revenue = v; }
        else if (k && cut(k, 64) == k && fields < 50 && (typeof v == 'boolean' || (typeof v == 'number' && isFinite(v)) || typeof v == 'string')) {
          data[k] = typeof v == 'string' ? cut(v, 512) : v;
          fields++;
        }
      }
      url = url || location.href;
      var e = {
        uid: v7(), event_id: eid, category: def.category, scope: def.scope || 'org', txn: id.txn, visitor: id.visitor, session: id.session,
        ts: ts || Date.now(), seq: id.seq,
        page: {
          url: cut(url, 2048), referrer: cut(d.referrer, 2048), title: cut(d.title, 512), language: cut(navigator.language || '', 35),
          time_zone: cut(Intl.DateTimeFormat().resolvedOptions().timeZone || '', 64),
          screen: screen.width + 'x' + screen.height, viewport: innerWidth + 'x' + innerHeight
        },
        attribution: attribution(url), data: data, consent: null, gpc: gpc, dnt: dnt, bot: !!navigator.webdriver
      };
      if (revenue != null) e.revenue = revenue;
      if (payout != null) e.payout = payout;
      log('event', e);
      sent.push(e);
      // Sent in a microtask so that the lead events and the replayed queue go in one beacon.
      if (!queued) { queued = true; Promise.resolve().then(function () { queued = false; send(); }); }
      return true;
    };
    // Batches within the collector's limits: at most 100 events and 30 KiB.
    var send = function () {
      while (sent.length) {
        var batch = [], size = 0;
        while (sent.length && batch.length < 100) {
          var bytes = new TextEncoder().encode(stringify(sent[0])).length + 1;
          if (batch.length && size + bytes > 30720) break;
          batch.push(sent.shift());
          size += bytes;
        }
        var ok = false;
        try {
          ok = navigator.sendBeacon(cfg.collector + '/v1/events',
            stringify({ v: 1, cid: cid, sent_at: Date.now(), events: batch }));
        } catch (e) { log('no beacon', e); }
        log(ok ? 'beacon' : 'beacon refused', batch.length);
        // Refused (the browser's quota): the batch waits for the next send (a later call, or flush).
        if (!ok) { sent = batch.concat(sent); return; }
      }
    };
    if (!optedOut()) save();
    fire(cfg.system.base);
    if (cfg.click_with_base !== false) fire(cfg.system.click_sold);
    return {
      event: fire,
      click: function (o, url, ts) {
        fire(cfg.system.base, 0, url, ts); fire(cfg.system.click_sold, 0, url, ts);
        return Promise.resolve(id.txn);
      },
      flush: function () { send(); return Promise.resolve(!sent.length); },
      transactionId: function () { return optedOut() ? null : id.txn; },
      optOut: function () {
        var at = '; Path=/; SameSite=Lax' + (domain ? '; Domain=' + domain : '');
        d.cookie = 'pt_optout=1; Max-Age=34560000' + at;
        put('pt_optout', '1');
        // The lead's cookie and record go too.
        d.cookie = 'pt_txn_' + cid + '=; Max-Age=0' + at;
        try { localStorage.removeItem('pt_id_' + cid); } catch (e) { }
        sent = [];
      },
      optIn: function () {
        d.cookie = 'pt_optout=; Max-Age=0; Path=/; SameSite=Lax' + (domain ? '; Domain=' + domain : '');
        try { localStorage.removeItem('pt_optout'); } catch (e) { }
        save();
      },
    };
  };
})(window, document);
