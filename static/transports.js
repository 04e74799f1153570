// transport-lab: the five browser clients, one per transport, and the helpers the pages share.
// Plain JavaScript, no build step. Every client keeps its cursor (the last id it saw and the epoch
// of the server run it came from) and reconnects with it: a dropped connection loses nothing
// still in history, and a restarted server answers an old run's cursor with a reset notice.
// Reconnects wait a random half to all of min(30 s, 500 ms * 2^attempt) ("equal jitter", so a
// class of tabs does not reconnect in the same millisecond); the count resets at a first answer.
// watchQueue() reports a request with no response head after QUEUED_AFTER_MS as "queued by the
// browser" (HTTP/1.1's six connections; a long poll only if the ledger shows none of ours open).
// Both in docs/PAGES.md.
'use strict';

(function () {
  const BASE_DELAY = 500;
  // The room every client is in until told otherwise (the server's default too).
  const DEFAULT_ROOM = 'lobby';
  const MAX_DELAY = 30000;
  // A request without its response head after this long is waiting in the browser, not the server.
  const QUEUED_AFTER_MS = 3000;
  // A ledger snapshot asked for at least this long after a long poll was sent would count it.
  const SEEN_WITHIN_MS = 1000;
  // The server that answered (src/response_headers.rs): only on a shared bus; `ready.node` too.
  const NODE_HEADER = 'X-Transport-Lab-Node';

  function backoff(attempt) {
    const cap = Math.min(MAX_DELAY, BASE_DELAY * Math.pow(2, attempt));
    return cap / 2 + Math.random() * cap / 2;
  }

  // A client id for this page load: the ledger counts this page's traffic under it.
  function newClientId(prefix) {
    const bytes = new Uint8Array(5);
    crypto.getRandomValues(bytes);
    return prefix + '-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function fmtBytes(n) {
    if (n < 10000) return String(n);
    if (n < 1e6) return (n / 1e3).toFixed(1) + ' k';
    if (n < 1e9) return (n / 1e6).toFixed(2) + ' M';
    return (n / 1e9).toFixed(2) + ' G';
  }

  // Runs `f` once the page's demo (demo.js) is ready, whether that happened before this call or
  // happens later. A deferred script still downloading when demo.js finishes starting would miss
  // a `tl-ready` event fired before it ran (the walkthrough then ignored every key).
  function whenDemoReady(f) {
    if (document.body.dataset.ready === 'yes' && window.TLDemo) f();
    else document.addEventListener('tl-ready', f, { once: true });
  }

  // What sending "via" a transport cost (its posts, `sends` in /api/stats), in one line.
  function sendingLine(s) {
    if (!s || !s.requests) return 'sending: nothing posted via this transport';
    return 'sending: ' + s.requests + (s.requests === 1 ? ' post, ' : ' posts, ') +
      fmtBytes(s.request_bytes) + ' B ↑, ' + fmtBytes(s.response_bytes) + ' B ↓ (not in the figures above)';
  }

  // Reads the ledger snapshot shape of /api/stats into the figures the pages show.
  function figures(s) {
    const total = s.request_bytes + s.response_bytes;
    const payload = s.payload_bytes;
    return {
      requests: s.requests,
      messages: s.messages,
      down: s.response_bytes,
      up: s.request_bytes,
      empty: s.empty_responses,
      open: s.open,
      total: total,
      perMessage: s.messages ? total / s.messages : null,
      ratio: payload ? total / payload : null,
      kinds: ['header', 'framing', 'payload', 'heartbeat', 'other'].map((k) => [k, s.up[k] + s.down[k]]),
    };
  }

  // One transport client. `handlers`: onMessage(msg), onGap(missed, reset), onState(text, cls),
  // onAck(ack). Subclasses implement open() and close(). `since` and `epoch`: the cursor to start
  // after (an epoch of null sends a bare id, which only detects a restart the weaker way).
  // `room`: the room it reads and sends in (`lobby` unless set; each room numbers its own ids).
  // `handlers.onAnswered()` (optional): a request of this client was answered, so the server's
  // ledger knows its client id. `handlers.onNode(name)` (optional): the server that answered, on a
  // shared bus.
  class Client {
    constructor(transport, clientId, since, handlers, epoch) {
      this.transport = transport;
      this.clientId = clientId;
      this.room = DEFAULT_ROOM;
      this.cursor = since;
      this.epoch = epoch || null;
      // The state shown is the client's own, unless the browser is holding its request back.
      this.showState = handlers.onState;
      this.shown = ['starting', ''];
      this.h = Object.assign({}, handlers, {
        onState: (text, cls) => { this.shown = [text, cls]; if (!this.queued) this.showState(text, cls); },
      });
      this.running = false;
      this.attempt = 0;
      this.timer = null;
      this.generation = 0;
      // When the request (or connection) now out was sent, until its response head arrives.
      this.pendingSince = null;
      this.queued = false;
    }
    // A request went out: from now until its response head, it may be waiting in the browser.
    sent() { this.pendingSince = performance.now(); }
    // Its response head arrived (or it failed): it is not waiting anywhere.
    answered() {
      this.pendingSince = null;
      this.setQueued(false);
      if (this.h.onAnswered) this.h.onAnswered();
    }
    setQueued(queued) {
      if (queued === this.queued) return;
      this.queued = queued;
      if (queued) this.showState('queued by the browser', 'queued');
      else this.showState(this.shown[0], this.shown[1]);
    }
    start() {
      if (this.running) return;
      this.running = true;
      this.attempt = 0;
      this.connect();
    }
    stop() {
      this.running = false;
      clearTimeout(this.timer);
      this.generation++;
      this.close();
      this.pendingSince = null;
      this.setQueued(false);
      this.h.onState('paused', '');
    }
    // Closes the connection as a network failure would, then reconnects through the back-off.
    drop() {
      if (!this.running) return;
      this.generation++;
      this.close();
      this.pendingSince = null;
      this.setQueued(false);
      this.retry('dropped');
    }
    connect() {
      clearTimeout(this.timer);
      this.generation++;
      this.h.onState('connecting', 'wait');
      this.open(this.generation);
    }
    // Called by a subclass when a connection or request failed or ended.
    retry(why) {
      if (!this.running) return;
      const wait = backoff(this.attempt++);
      this.h.onState(why + ', again in ' + (wait / 1000).toFixed(1) + ' s', 'wait');
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.connect(), wait);
    }
    live() {
      this.attempt = 0;
      this.h.onState('live', 'live');
    }
    current(gen) { return this.running && gen === this.generation; }
    deliver(msg) {
      if (typeof msg.id === 'number' && msg.id > this.cursor) this.cursor = msg.id;
      this.h.onMessage(msg);
    }
    // `ready` and `gap` notices carry the cursor to hold from now on; after a reset it is of the
    // new run, with ids starting again from 1.
    position(obj) {
      if (typeof obj.epoch === 'string') this.epoch = obj.epoch;
      if (typeof obj.since === 'number') this.cursor = obj.since;
    }
    ready(obj) {
      this.position(obj);
      this.served(obj.node);
      this.live();
    }
    // `node`: NODE_HEADER or `ready.node`; null from a server alone.
    served(node) {
      if (typeof node === 'string' && node !== '' && this.h.onNode) this.h.onNode(node);
    }
    gap(obj) {
      this.position(obj);
      this.h.onGap(obj.missed || 0, !!obj.reset);
    }
    query() {
      const since = (this.epoch ? this.epoch + '-' : '') + this.cursor;
      return 'since=' + since + '&client=' + encodeURIComponent(this.clientId) +
        '&room=' + encodeURIComponent(this.room);
    }
    // Moves the client to `room`, reading from `cursor` ({ epoch, id }) there: one new connection.
    switchRoom(room, cursor) {
      const wasRunning = this.running;
      if (wasRunning) this.stop();
      this.room = room;
      this.cursor = cursor.id;
      this.epoch = cursor.epoch;
      if (wasRunning) this.start();
    }
    // Publishes through this transport's own send path: a POST counted under this transport.
    // `toOthers`: every client of this page (they share one client id) is left out.
    async send(user, text, toOthers) {
      const except = toOthers ? '&except=' + encodeURIComponent(this.clientId) : '';
      const r = await trackedFetch('a message being sent', '/api/messages?client=' + encodeURIComponent(this.clientId) +
        '&transport=' + this.transport + '&room=' + encodeURIComponent(this.room) + except, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: user, text: text }),
      });
      const body = await r.json().catch(() => ({}));
      if (r.status !== 201) throw new Error(body.error || ('HTTP ' + r.status));
      return body;
    }
  }

  // Short polling: one GET per interval, answered at once.
  class Poll extends Client {
    constructor(...a) { super(...a); this.interval = 1000; this.ctrl = null; }
    open(gen) { this.pollOnce(gen); }
    async pollOnce(gen) {
      if (!this.current(gen)) return;
      this.ctrl = new AbortController();
      try {
        this.sent();
        const r = await fetch('/api/poll?' + this.query(), { cache: 'no-store', signal: this.ctrl.signal });
        if (this.current(gen)) this.answered();
        if (!r.ok) throw new Error('HTTP ' + r.status);
        if (this.current(gen)) this.served(r.headers.get(NODE_HEADER));
        const body = await r.json();
        if (!this.current(gen)) return;
        this.live();
        batch(this, body);
        this.timer = setTimeout(() => this.pollOnce(gen), this.interval);
      } catch (e) {
        if (this.current(gen)) { this.answered(); this.retry('failed'); }
      }
    }
    close() { if (this.ctrl) this.ctrl.abort(); }
  }

  // Long polling: a GET held by the server until there is news; asked again at once.
  class LongPoll extends Client {
    constructor(...a) { super(...a); this.ctrl = null; }
    async open(gen) {
      while (this.current(gen)) {
        this.ctrl = new AbortController();
        // The request is out: the server holds it until there is news, which is the live state.
        this.h.onState('held', 'live');
        try {
          this.sent();
          const r = await fetch('/api/longpoll?timeout=25&' + this.query(), { cache: 'no-store', signal: this.ctrl.signal });
          if (this.current(gen)) this.answered();
          if (!r.ok) throw new Error('HTTP ' + r.status);
          if (this.current(gen)) this.served(r.headers.get(NODE_HEADER));
          const body = await r.json();
          if (!this.current(gen)) return;
          this.attempt = 0;
          batch(this, body);
        } catch (e) {
          if (this.current(gen)) { this.answered(); this.retry('failed'); }
          return;
        }
      }
    }
    close() { if (this.ctrl) this.ctrl.abort(); }
  }

  // A poll answer: a reset restarts the cursor at the new run's start before its messages.
  function batch(client, body) {
    const cursor = parseCursor(body.cursor);
    if (body.gap) {
      if (body.reset) { client.epoch = cursor.epoch; client.cursor = 0; }
      client.h.onGap(body.missed || 0, !!body.reset);
    }
    for (const m of body.messages || []) client.deliver(m);
    if (cursor.epoch) client.epoch = cursor.epoch;
    if (typeof body.last_id === 'number') client.cursor = body.last_id;
  }

  // `k3x9qa-8` -> { epoch: 'k3x9qa', id: 8 }; a bare `8` has no epoch.
  function parseCursor(text) {
    const s = String(text === undefined ? '' : text);
    const dash = s.indexOf('-');
    return dash < 0 ? { epoch: null, id: parseInt(s, 10) || 0 }
      : { epoch: s.slice(0, dash), id: parseInt(s.slice(dash + 1), 10) || 0 };
  }

  // HTTP streaming: fetch + ReadableStream, one JSON object per line.
  class Stream extends Client {
    constructor(...a) { super(...a); this.ctrl = null; }
    async open(gen) {
      this.ctrl = new AbortController();
      try {
        this.sent();
        const r = await fetch('/api/stream?' + this.query(), { cache: 'no-store', signal: this.ctrl.signal });
        if (this.current(gen)) this.answered();
        if (!r.ok || !r.body) throw new Error('HTTP ' + r.status);
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done || !this.current(gen)) break;
          buf += decoder.decode(value, { stream: true });
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) this.line(JSON.parse(line));
          }
        }
        if (this.current(gen)) this.retry('stream ended');
      } catch (e) {
        if (this.current(gen)) { this.answered(); this.retry('failed'); }
      }
    }
    line(obj) {
      if (typeof obj.id === 'number') this.deliver(obj);
      else if (obj.type === 'ready') this.ready(obj);
      else if (obj.type === 'gap') this.gap(obj);
    }
    close() { if (this.ctrl) this.ctrl.abort(); }
  }

  // Server-Sent Events: EventSource, which reconnects by itself and resumes with Last-Event-ID.
  class Sse extends Client {
    constructor(...a) { super(...a); this.es = null; }
    open(gen) {
      const es = new EventSource('/api/sse?' + this.query());
      this.es = es;
      this.sent();
      es.onopen = () => { if (this.current(gen)) this.answered(); };
      // The browser resumes by itself with Last-Event-ID, the `id:` of these events and of every
      // message (a cursor with the run's epoch); the client keeps the same cursor for when it has
      // to reconnect on its own.
      es.addEventListener('ready', (e) => { if (this.current(gen)) this.ready(JSON.parse(e.data)); });
      es.addEventListener('gap', (e) => { if (this.current(gen)) this.gap(JSON.parse(e.data)); });
      es.onmessage = (e) => { if (this.current(gen)) this.deliver(JSON.parse(e.data)); };
      es.onerror = () => {
        if (!this.current(gen)) return;
        if (es.readyState === EventSource.CLOSED) {
          // The browser gave up (e.g. an error status): our own back-off takes over.
          this.answered();
          this.retry('closed');
        } else {
          // The browser sends a new request by itself: it may wait for a connection like any other.
          this.sent();
          this.h.onState('browser reconnecting', 'wait');
        }
      };
    }
    close() { if (this.es) this.es.close(); }
  }

  // WebSocket: both directions on one connection; sends are frames, answered by an ack.
  class Ws extends Client {
    constructor(...a) { super(...a); this.ws = null; this.pending = new Map(); this.ref = 0; this.user = 'ada'; }
    open(gen) {
      const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
        '/api/ws?' + this.query() + '&user=' + encodeURIComponent(this.user);
      const ws = new WebSocket(url);
      this.ws = ws;
      // A WebSocket is not one of the six HTTP connections, so it is not watched; its handshake
      // being answered still tells the page the ledger knows its client id.
      ws.onopen = () => { if (this.current(gen) && this.h.onAnswered) this.h.onAnswered(); };
      ws.onmessage = (e) => {
        if (!this.current(gen)) return;
        const obj = JSON.parse(e.data);
        if (typeof obj.id === 'number' && obj.type === undefined) this.deliver(obj);
        else if (obj.type === 'ready') this.ready(obj);
        else if (obj.type === 'gap') this.gap(obj);
        else if (obj.type === 'ack' || obj.type === 'error') this.settle(obj);
      };
      ws.onclose = () => {
        this.failPending('the socket closed');
        if (this.current(gen)) this.retry('closed');
      };
    }
    settle(obj) {
      const p = this.pending.get(obj.ref);
      if (!p) return;
      this.pending.delete(obj.ref);
      if (obj.type === 'ack') p.resolve({ id: obj.id });
      else p.reject(new Error(obj.error));
    }
    failPending(why) {
      for (const p of this.pending.values()) p.reject(new Error(why));
      this.pending.clear();
    }
    close() { if (this.ws) this.ws.close(1000, 'drop'); }
    send(user, text, toOthers) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        // Say what to do, not only what is wrong.
        const why = this.running
          ? 'the WebSocket is reconnecting: send again in a moment, or send via another transport'
          : 'the WebSocket panel is paused: press Resume on it, or send via another transport';
        return Promise.reject(new Error(why));
      }
      const ref = ++this.ref;
      const frame = { room: this.room, text: text, user: user, ref: ref };
      if (toOthers) frame.except_sender = true;
      return new Promise((resolve, reject) => {
        this.pending.set(ref, { resolve, reject });
        this.ws.send(JSON.stringify(frame));
        setTimeout(() => { if (this.pending.delete(ref)) reject(new Error('no ack in 5 s')); }, 5000);
      });
    }
  }

  // Each transport's client class, by name; a transport with a file of its own (socketio.js)
  // registers its class with TL.register().
  const CLASSES = { poll: Poll, longpoll: LongPoll, stream: Stream, sse: Sse, ws: Ws };
  function create(t, clientId, since, handlers, epoch) {
    if (!CLASSES[t]) throw new Error('no client for transport ' + t + ' (is its script on the page?)');
    return new CLASSES[t](t, clientId, since, handlers, epoch);
  }

  // The newest cursor in `room` ({ epoch, id }), so every client of a page starts from the same.
  async function newest(room) {
    const r = await fetch('/api/poll?room=' + encodeURIComponent(room || DEFAULT_ROOM), { cache: 'no-store' });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
    return parseCursor(body.cursor);
  }

  // Room names as the server accepts them; the server's own 400 says why when one is refused.
  const ROOM_NAME = /^[A-Za-z0-9._-]{1,64}$/;

  // The room in this page's URL (`?room=math`), so a link shares it; `lobby` without one.
  function roomFromUrl() {
    const r = new URLSearchParams(location.search).get('room');
    return r === null || r === '' ? DEFAULT_ROOM : r;
  }

  // Leaving the page closes every connection it holds at once. Otherwise a page kept in the
  // back/forward cache keeps its streams open, and with them the browser's six connections per
  // origin: the next page of this server then waits for a free one. Coming back reloads.
  const closers = [];
  function onLeave(fn) { closers.push(fn); }
  window.addEventListener('pagehide', () => { for (const fn of closers) fn(); });
  window.addEventListener('pageshow', (e) => { if (e.persisted) location.reload(); });

  // Page requests that are not a panel's (a post, the counters), while their response head is out.
  const tracked = new Set();
  async function trackedFetch(label, url, options) {
    const t = { label: label, since: performance.now() };
    tracked.add(t);
    try {
      return await fetch(url, options);
    } finally {
      tracked.delete(t);
    }
  }

  // An EventSource that is not a panel's (a lesson's tap), watched like a tracked request until
  // it opens, and again while the browser reconnects it.
  function trackedEventSource(label, url) {
    const es = new EventSource(url);
    let t = { label: label, since: performance.now() };
    tracked.add(t);
    es.addEventListener('open', () => tracked.delete(t));
    es.addEventListener('error', () => {
      tracked.delete(t);
      if (es.readyState === EventSource.CONNECTING) {
        t = { label: label, since: performance.now() };
        tracked.add(t);
      }
    });
    onLeave(() => { es.close(); tracked.delete(t); });
    return es;
  }

  // Every second: which of `clients()` and the tracked requests are waiting in the browser (see
  // the top of this file), on their badges and in the page's one banner. `snapshot()`: the newest
  // ledger snapshot of the clients' id, `{ at, stats }` (`at`: performance.now() when it was asked
  // for), or null; it decides about long polls.
  function watchQueue(clients, snapshot) {
    const banner = document.getElementById('queued-banner');
    const check = () => {
      const now = performance.now();
      const waiting = [];
      for (const c of clients()) {
        // With lab faults on (the walkthrough's hostile step), a wait is the proxy's, not the browser's.
        let queued = c.pendingSince !== null && now - c.pendingSince > QUEUED_AFTER_MS &&
          document.body.dataset.faults !== 'on';
        if (queued && c.transport === 'longpoll') {
          // Held by the server, or not sent yet? Only the ledger can tell.
          const s = snapshot();
          queued = !!(s && s.stats && s.at > c.pendingSince + SEEN_WITHIN_MS &&
            s.stats.transports.longpoll.open === 0);
        }
        c.setQueued(queued);
        if (queued) waiting.push(LABELS[c.transport] + ' panel');
      }
      for (const t of tracked) if (now - t.since > QUEUED_AFTER_MS) waiting.push(t.label);
      document.body.dataset.queued = String(waiting.length);
      if (!banner) return;
      banner.hidden = waiting.length === 0;
      if (waiting.length) {
        banner.textContent = 'Your browser is holding back ' + waiting.length +
          (waiting.length === 1 ? ' request' : ' requests') + ' of this page (' + waiting.join(', ') +
          '), unsent: over HTTP/1.1 a browser opens at most six connections to one server, and the ' +
          'streams and long polls of this page and your other tabs of this server hold all six. ' +
          'Close other tabs of transport-lab (the side-by-side page holds three, a lesson one or two) ' +
          'or pause a panel; a waiting request goes as soon as a connection is free.';
      }
    };
    document.body.dataset.queued = '0';
    setInterval(check, 1000);
  }

  // The transports and what to call them come from the page: the server renders one navigation
  // link per transport, from its one definition, with `data-transport` and `data-label`.
  const NAV = Array.from(document.querySelectorAll('nav [data-transport]'));
  const LABELS = Object.fromEntries(NAV.map((a) => [a.dataset.transport, a.dataset.label]));

  window.TL = {
    TRANSPORTS: NAV.map((a) => a.dataset.transport),
    LABELS,
    create,
    Client,
    register: (t, cls) => { CLASSES[t] = cls; },
    DEFAULT_ROOM, ROOM_NAME,
    newClientId, newest, roomFromUrl, parseCursor, fmtBytes, figures, sendingLine, whenDemoReady, backoff, onLeave,
    watchQueue, trackedFetch, trackedEventSource, QUEUED_AFTER_MS,
  };
})();
