// transport-lab: lab-client.js, one client for a room that uses the best transport that works
// here, falls back when one cannot work, and resumes at its cursor across every switch and
// reconnect. An ES module: no build step, no dependency.
//
//   import { connect } from '/static/lab-client.js';
//   const chat = connect(location.origin, {
//     room: 'math', since: 0,
//     onMessage: (m) => show(m.user + ': ' + m.text),
//     onState: (text) => console.log(text),   // "connecting ws", "ws refused → sse", ...
//   });
//   await chat.send('hello');                  // {id: 12}
//   chat.transport;                            // "sse"
//   chat.close();
//
// How it decides (each rule is one place below):
// - A transport that fails *before* it is live (a stream's `ready`, a poll's first answer) while
//   the server still answers plain HTTP (`GET /healthz`) cannot work here: the client moves to the
//   next one in `transports`. The WebSocket closing before `ready` reads as "refused" (a proxy that
//   strips `Upgrade`; the browser does not show the 403); no `ready` within `readyTimeoutMs` on SSE
//   or the stream reads as "buffered" (a proxy that holds responses until they end), and skips
//   both, since a proxy that buffers one never-ending response buffers the other.
// - A failure before `ready` while the server does not answer is the server being away: retry the
//   same transport. So is a 429 or a 5xx.
// - A transport that was live and then lost its connection (a cut, an idle timeout, a restart)
//   is not given up: it reconnects, after a back-off.
// - The back-off: a random wait between half and all of min(maxDelayMs, baseDelayMs * 2^n), n the
//   failures since the last time a connection went live ("equal jitter": a classroom of tabs does
//   not reconnect in the same millisecond after a restart).
// - The cursor (`EPOCH-ID`, see the README's cursor contract) goes with every request, so each
//   new connection starts exactly after the last message delivered: nothing is lost, nothing comes
//   twice. An id at or below the cursor is dropped anyway and counted in `stats.duplicates`, a
//   safety net that the cursor keeps at 0.
//
// `upgrade: true` works like Engine.IO: start on long polling, then probe a WebSocket in the
// background; when the probe says `ready`, let the probe go, stop polling and open the WebSocket
// at the cursor (the probe itself never delivers, so no message can come over both).
//
// Browsers do not show a WebSocket's ping frames nor an SSE stream's comment lines to scripts, so
// silence (no byte for `silenceMs`) can be noticed on the HTTP stream only, from its heartbeat
// lines; a silent WebSocket or SSE connection is noticed when it closes. `heartbeatS` asks the
// server for heartbeats that often, which keeps quiet connections through an idle timeout.

/** The transports in the order tried by default: cheapest per message first. */
export const TRANSPORTS = ['ws', 'sse', 'stream', 'longpoll', 'poll'];

const PATHS = {
  ws: '/api/ws',
  sse: '/api/sse',
  stream: '/api/stream',
  longpoll: '/api/longpoll',
  poll: '/api/poll',
};

// Responses that never end: what a buffering proxy holds back.
const NEVER_ENDING = ['sse', 'stream'];

const DEFAULTS = {
  transports: TRANSPORTS,
  room: 'lobby',
  user: 'anonymous',
  // A stream or socket that has not said `ready` by then is held back somewhere on the way
  // (0: wait for ever, as a plain EventSource or WebSocket does).
  readyTimeoutMs: 5000,
  // `?heartbeat=S` on the streams and the socket: their heartbeat (or ping) interval instead of
  // the server's (`--heartbeat`, 15 s by default); shorter than an idle timeout on the way, it
  // keeps quiet connections open. Null: the server's.
  heartbeatS: null,
  // The HTTP stream with no byte for this long is dead: two heartbeats missed, and some (40 s
  // for the server's default; two and a half heartbeats when `heartbeatS` is set).
  silenceMs: null,
  pollIntervalMs: 1000,
  // Held long polls end before this; lowered by itself when something cuts them sooner.
  longPollTimeoutS: 25,
  baseDelayMs: 500,
  maxDelayMs: 10000,
  // How long the "is the server there?" check may take.
  healthTimeoutMs: 3000,
  ackTimeoutMs: 5000,
  upgrade: false,
};

/** `"k3x9qa-8"` → `{epoch: "k3x9qa", id: 8}`; `8` or `"8"` → `{epoch: null, id: 8}`; nothing →
 * `{epoch: null, id: null}` (live messages only). */
export function parseCursor(value) {
  if (value === undefined || value === null || value === '') return { epoch: null, id: null };
  const s = String(value);
  const dash = s.indexOf('-');
  const id = Number(dash < 0 ? s : s.slice(dash + 1));
  if (!Number.isInteger(id) || id < 0) throw new Error('not a cursor: ' + s);
  return { epoch: dash < 0 ? null : s.slice(0, dash), id: id };
}

/** The wait before reconnect number `n` (from 0): equal jitter, capped. */
export function backoff(n, baseMs, maxMs) {
  const cap = Math.min(maxMs, baseMs * Math.pow(2, n));
  return cap / 2 + Math.random() * cap / 2;
}

/** A client id for the server's ledger, tap and lab: `prefix-` and 10 hex digits. */
export function newClientId(prefix) {
  const bytes = new Uint8Array(5);
  crypto.getRandomValues(bytes);
  return (prefix || 'lab') + '-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Connects to the room at `url` (the server's address, e.g. `location.origin`).
 * Options: `transports` (the order to try), `room`, `since` (a cursor: `"EPOCH-N"`, `N`, or
 * nothing for live messages only), `client` (id for the ledger and the lab; made up if absent),
 * `user` (the name sends go out under), `onMessage(message, {transport})`,
 * `onState(text, {state, transport, from, to, delayMs})`, `onGap(notice)`, `upgrade`, and the
 * timings in DEFAULTS above.
 * Returns the connection: `transport`, `cursor`, `state`, `stats`, `send(text)`, `close()`,
 * `drop()` (cut the current connection as a network would), `renegotiate()` (start again from the
 * first transport, at the cursor).
 */
export function connect(url, options) {
  const connection = new Connection(url, options || {});
  connection.start();
  return connection;
}

// One try at one transport: its connection, timers and whether it went live.
class Attempt {
  constructor(transport) {
    this.transport = transport;
    this.live = false;
    this.closed = false;
    this.started = Date.now();
    this.timers = new Set();
    this.closers = [];
    this.silence = null;
  }
  after(ms, f) {
    const t = setTimeout(() => { this.timers.delete(t); if (!this.closed) f(); }, ms);
    this.timers.add(t);
    return t;
  }
  cancel(t) { clearTimeout(t); this.timers.delete(t); }
  onClose(f) { this.closers.push(f); }
  // Restarts the silence deadline (a byte arrived).
  heard(ms, f) {
    if (this.silence) this.cancel(this.silence);
    this.silence = this.after(ms, f);
  }
  close() {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const f of this.closers) {
      try { f(); } catch (e) { /* already gone */ }
    }
  }
}

class Connection {
  constructor(url, options) {
    const o = Object.assign({}, DEFAULTS);
    for (const k in options) if (options[k] !== undefined) o[k] = options[k];
    const here = typeof location !== 'undefined' ? location.href : undefined;
    this.base = new URL(url || '/', here);
    this.transports = o.transports.filter((t) => PATHS[t]);
    if (!this.transports.length) throw new Error('no known transport in ' + JSON.stringify(o.transports));
    this.room = o.room;
    this.client = o.client || newClientId('lab');
    this.user = o.user;
    this.o = o;
    const start = parseCursor(o.since);
    this.epoch = start.epoch;
    // The id of the last message delivered (or the position a `ready` or answer gave); null until
    // a first one when started without `since`.
    this.last = start.id;
    this.seen = new Set();
    this.longPollTimeout = o.longPollTimeoutS;
    this.unusable = new Set();
    this.att = null;
    this.probeAtt = null;
    this.next = null;
    this.timer = null;
    this.failures = 0;
    this.closed = false;
    this.ref = 0;
    this.pending = new Map();
    this.state = 'idle';
    this.stats = { delivered: 0, duplicates: 0, gaps: 0, switches: 0, reconnects: 0 };
  }

  /** The transport in use (or about to be). */
  get transport() { return this.att ? this.att.transport : this.next; }

  /** Where the next connection starts: `"EPOCH-N"` (or `"N"`), null before the first position. */
  get cursor() {
    if (this.last === null) return null;
    return this.epoch ? this.epoch + '-' + this.last : String(this.last);
  }

  start() {
    this.open(this.o.upgrade && this.transports.includes('longpoll') ? 'longpoll' : this.transports[0]);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.att) this.att.close();
    if (this.probeAtt) this.probeAtt.close();
    this.probeAtt = null;
    this.failPending('closed');
    this.say('closed', 'closed', {});
  }

  /** Cuts the current connection as a network would; it reconnects at the cursor. */
  drop() {
    const att = this.att;
    if (this.closed || !att || att.closed) return;
    this.failed(att, 'dropped', 'busy');
  }

  /** Forgets which transports failed and starts again from the first, at the cursor, with
   * `options` changed if given (a new `heartbeatS`, say). */
  renegotiate(options) {
    if (this.closed) return;
    for (const k in options || {}) if (k in DEFAULTS) this.o[k] = options[k];
    clearTimeout(this.timer);
    if (this.att) this.att.close();
    if (this.probeAtt) this.probeAtt.close();
    this.probeAtt = null;
    this.att = null;
    this.unusable.clear();
    this.failures = 0;
    this.longPollTimeout = this.o.longPollTimeoutS;
    this.start();
  }

  /** Publishes `text`: a frame on the WebSocket when on it (acknowledged with the id), else
   * `POST /api/messages` counted as a send via the current transport. Resolves to `{id}`. */
  async send(text, options) {
    const user = (options && options.user) || this.user;
    const att = this.att;
    if (att && att.ws && att.live && att.ws.readyState === 1) {
      const ref = ++this.ref;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.pending.delete(ref);
          reject(new Error('no ack in ' + this.o.ackTimeoutMs / 1000 + ' s'));
        }, this.o.ackTimeoutMs);
        this.pending.set(ref, { resolve, reject, timer });
        att.ws.send(JSON.stringify({ room: this.room, text: text, user: user, ref: ref }));
      });
    }
    const q = new URLSearchParams({ room: this.room, client: this.client, transport: this.transport });
    const r = await fetch(this.href('/api/messages', q), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: user, text: text }),
    });
    const body = await r.json().catch(() => ({}));
    if (r.status !== 201) throw new Error(body.error || ('HTTP ' + r.status));
    return { id: body.id };
  }

  // --- state ---

  say(state, text, detail) {
    this.state = state;
    if (this.o.onState) this.o.onState(text, Object.assign({ state: state, transport: this.transport }, detail));
  }

  // --- opening ---

  open(t) {
    clearTimeout(this.timer);
    if (this.closed) return;
    this.next = t;
    const missing = (t === 'ws' && typeof WebSocket === 'undefined') ||
      (t === 'sse' && typeof EventSource === 'undefined');
    if (missing) {
      this.att = new Attempt(t);
      this.att.close();
      this.fallBack(t, 'not available here', false);
      return;
    }
    const att = new Attempt(t);
    this.att = att;
    this.say('connecting', 'connecting ' + t, {});
    if ((t === 'ws' || NEVER_ENDING.includes(t)) && this.o.readyTimeoutMs > 0) {
      att.after(this.o.readyTimeoutMs, () => this.failed(att, t === 'ws'
        ? 'got no ready in ' + secs(this.o.readyTimeoutMs)
        : 'buffered'));
    }
    this['open_' + t](att);
  }

  href(path, query) {
    const u = new URL(path, this.base);
    u.search = query.toString();
    return u.href;
  }

  query(extra) {
    const q = new URLSearchParams({ room: this.room, client: this.client });
    if (this.cursor !== null) q.set('since', this.cursor);
    if (this.o.heartbeatS) q.set('heartbeat', String(this.o.heartbeatS));
    for (const k in extra || {}) q.set(k, extra[k]);
    return q;
  }

  current(att) { return !att.closed && (att === this.att || att === this.probeAtt); }

  open_ws(att) {
    const u = new URL(this.href(PATHS.ws, this.query({ user: this.user })));
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(u.href);
    att.ws = ws;
    att.onClose(() => {
      ws.onmessage = ws.onclose = ws.onerror = null;
      ws.close(1000);
      if (att === this.att) this.failPending('the socket closed before the ack');
    });
    ws.onmessage = (e) => this.text(att, e.data);
    // The browser hides why a handshake failed (a 403 is a bare "error"): closed before `ready`
    // is all a page can know, and the health check tells a refusal from a server that is away.
    ws.onclose = (e) => this.failed(att, att.live ? 'cut (' + e.code + ')' : 'refused');
  }

  open_sse(att) {
    const es = new EventSource(this.href(PATHS.sse, this.query()));
    att.onClose(() => es.close());
    es.addEventListener('ready', (e) => this.text(att, e.data));
    es.addEventListener('gap', (e) => this.text(att, e.data));
    es.onmessage = (e) => this.text(att, e.data);
    // EventSource would reconnect by itself (with Last-Event-ID); this client reconnects itself
    // instead, so the same rules (back-off, fall back) hold for every transport.
    es.onerror = () => this.failed(att, att.live ? 'cut' : 'failed');
  }

  async open_stream(att) {
    const ctrl = new AbortController();
    att.onClose(() => ctrl.abort());
    let r;
    try {
      r = await fetch(this.href(PATHS.stream, this.query()), { cache: 'no-store', signal: ctrl.signal });
    } catch (e) {
      this.failed(att, 'failed');
      return;
    }
    if (!r.ok || !r.body) {
      this.httpFailed(att, r);
      return;
    }
    const silence = this.silenceMs();
    const silent = () => this.failed(att, 'silent for ' + secs(silence));
    att.heard(silence, silent);
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        this.failed(att, att.live ? 'cut' : 'failed');
        return;
      }
      if (!this.current(att)) return;
      if (chunk.done) {
        this.failed(att, 'ended');
        return;
      }
      att.heard(silence, silent);
      buf += decoder.decode(chunk.value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) this.text(att, line);
        if (!this.current(att)) return;
      }
    }
  }

  silenceMs() {
    if (this.o.silenceMs) return this.o.silenceMs;
    return this.o.heartbeatS ? Math.max(2000, this.o.heartbeatS * 2500) : 40000;
  }

  open_poll(att) { this.pollOnce(att); }

  // What a poll asks: no heartbeat (an answer is at once, or at its timeout).
  pollQuery(extra) {
    const q = this.query(extra);
    q.delete('heartbeat');
    return q;
  }

  async pollOnce(att) {
    const body = await this.request(att, 'poll', this.pollQuery());
    if (!body) return;
    this.batch(att, body);
    att.after(this.o.pollIntervalMs, () => this.pollOnce(att));
  }

  async open_longpoll(att) {
    // The first request asks `timeout=0`, answered at once: the client learns straight away
    // that long polling gets through (a held poll may otherwise be the first answer in 25 s).
    let timeout = 0;
    while (this.current(att)) {
      const body = await this.request(att, 'longpoll', this.pollQuery({ timeout: timeout }));
      if (!body) return;
      this.batch(att, body);
      timeout = this.longPollTimeout;
    }
  }

  // One poll request: its JSON, or null when it failed (and the failure is handled).
  async request(att, t, query) {
    const ctrl = new AbortController();
    att.onClose(() => ctrl.abort());
    const asked = Date.now();
    let r;
    let body;
    try {
      r = await fetch(this.href(PATHS[t], query), { cache: 'no-store', signal: ctrl.signal });
      if (r.ok) body = await r.json();
    } catch (e) {
      if (!this.current(att)) return null;
      this.failed(att, att.live ? this.heldCut(t, query, asked) : 'failed');
      return null;
    }
    if (!this.current(att)) return null;
    if (!r.ok) {
      this.httpFailed(att, r);
      return null;
    }
    return body;
  }

  // A held long poll cut before its timeout: something on the way closes quiet connections
  // sooner, so the next ones ask for a timeout under it (what servers behind proxies do).
  heldCut(t, query, asked) {
    const held = (Date.now() - asked) / 1000;
    const timeout = Number(query.get('timeout'));
    if (t !== 'longpoll' || held < 1.5 || held >= timeout) return 'cut';
    this.longPollTimeout = Math.max(1, Math.floor(held) - 1);
    return 'cut after ' + held.toFixed(1) + ' s held; asking timeout=' + this.longPollTimeout + ' from now on';
  }

  // --- what arrives ---

  text(att, data) {
    if (!this.current(att)) return;
    let obj;
    try {
      obj = JSON.parse(data);
    } catch (e) {
      return;
    }
    if (obj.type === undefined && typeof obj.id === 'number') {
      if (att !== this.probeAtt) this.message(att, obj);
      return;
    }
    // A WebSocket names the room of its notices; one of this client's rooms only.
    if (obj.room !== undefined && obj.room !== this.room) return;
    if (obj.type === 'ready') {
      if (att === this.probeAtt) this.probeReady(att);
      else if (!att.live) {
        this.position(obj);
        this.live(att);
      }
    } else if (obj.type === 'gap' && att !== this.probeAtt) {
      this.gap(obj);
    } else if (obj.type === 'ack' || obj.type === 'error') {
      this.settle(obj);
    }
  }

  message(att, m) {
    if (m.room !== undefined && m.room !== this.room) return;
    if ((this.last !== null && m.id <= this.last) || this.seen.has(m.id)) {
      // The safety net: never shown twice. The cursor sent with every request keeps this at 0.
      this.stats.duplicates++;
      return;
    }
    this.last = m.id;
    this.seen.add(m.id);
    if (this.seen.size > 4096) this.seen.delete(this.seen.values().next().value);
    this.stats.delivered++;
    if (this.o.onMessage) this.o.onMessage(m, { transport: att.transport });
  }

  // `ready` and `gap` carry the position to hold from now on; another epoch is another run of
  // the server (or a room started over), whose ids begin again at 1.
  position(obj) {
    if (typeof obj.since !== 'number') return;
    const other = typeof obj.epoch === 'string' && this.epoch !== null && obj.epoch !== this.epoch;
    if (typeof obj.epoch === 'string') this.epoch = obj.epoch;
    if (other) this.seen.clear();
    this.last = other || this.last === null ? obj.since : Math.max(this.last, obj.since);
  }

  gap(obj) {
    if (obj.reset) {
      this.epoch = obj.epoch;
      this.last = obj.since;
      this.seen.clear();
    } else {
      this.position(obj);
    }
    this.stats.gaps++;
    this.say(this.state, obj.reset
      ? 'the server started over (reset): reading its new run from the start'
      : obj.missed + ' messages left the history before they could be read (gap)', { gap: obj });
    if (this.o.onGap) this.o.onGap(obj);
  }

  // A poll answer: a reset first restarts the cursor at the new run's beginning.
  batch(att, body) {
    const c = parseCursor(body.cursor);
    const liveOnly = this.last === null;
    if (body.gap) {
      this.gap({ type: 'gap', missed: body.missed || 0, reset: !!body.reset, since: body.reset ? 0 : c.id, epoch: c.epoch });
    }
    // Started without a cursor: a first short poll's messages are history, not live.
    if (!liveOnly) for (const m of body.messages || []) this.message(att, m);
    // The answer's cursor: past the messages it left out for this client ("to others") too.
    this.position({ since: c.id, epoch: c.epoch || undefined });
    if (!att.live) this.live(att);
  }

  live(att) {
    att.live = true;
    for (const t of att.timers) if (t !== att.silence) att.cancel(t);
    this.failures = 0;
    this.say('live', att.transport + ' live at ' + this.cursor, {});
    if (this.o.upgrade && att.transport !== 'ws' && this.transports.includes('ws') &&
        !this.unusable.has('ws') && typeof WebSocket !== 'undefined' && !this.probeAtt) {
      this.probe();
    }
  }

  // --- failing ---

  async httpFailed(att, r) {
    const body = r ? await r.json().catch(() => ({})) : {};
    const why = 'HTTP ' + (r ? r.status : '?') + (body.error ? ' (' + body.error + ')' : '');
    // Busy or away (429, 5xx): try the same again later. Anything else: refused here.
    const busy = !r || r.status === 429 || r.status >= 500;
    this.failed(att, why, busy ? 'busy' : 'refused');
  }

  // The one decision: what a failure of `att` means. `kind`: 'busy' (retry the same), 'refused'
  // (the server answered: this transport is refused here), or unknown (ask /healthz).
  async failed(att, why, kind) {
    if (att === this.probeAtt) {
      this.probeFailed(att, why);
      return;
    }
    if (att !== this.att || att.closed) return;
    att.close();
    const t = att.transport;
    if (att.live) {
      // It worked here: a lost connection is a cut, not a reason to give the transport up.
      this.stats.reconnects++;
      this.say('down', t + ' ' + why, {});
      this.retry(t);
      return;
    }
    if (kind === 'busy') {
      this.say('down', t + ' ' + why, {});
      this.retry(t);
      return;
    }
    if (kind !== 'refused') {
      const server = await this.serverAnswers();
      if (this.closed || att !== this.att) return;
      if (server !== 'there') {
        this.say('down', t + ' failed: ' + (server === 'full'
          ? 'the server is full'
          : 'the server does not answer'), {});
        this.retry(t);
        return;
      }
    }
    this.fallBack(t, why, why === 'buffered');
  }

  fallBack(t, why, buffered) {
    this.unusable.add(t);
    if (buffered) for (const s of NEVER_ENDING) this.unusable.add(s);
    const from = this.transports.indexOf(t);
    const next = this.transports.find((n, i) => i > from && !this.unusable.has(n));
    if (!next) {
      this.say('down', t + ' ' + why + (this.transports.length > 1 ? ', and nothing is left to fall back to' : ''), {});
      this.retry(t);
      return;
    }
    this.stats.switches++;
    this.say('fallback', t + ' ' + why + ' → ' + next, { from: t, to: next });
    this.open(next);
  }

  retry(t) {
    this.next = t;
    this.att = null;
    const wait = backoff(this.failures++, this.o.baseDelayMs, this.o.maxDelayMs);
    this.say('waiting', 'reconnecting in ' + secs(wait), { delayMs: wait });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(t), wait);
  }

  // 'there', 'full' (turning connections away: a transport failing then says nothing about the
  // path) or 'away'. A page of another origin may not read /healthz (CORS covers /api only); an
  // opaque answer (`no-cors`) still says the server is there.
  async serverAnswers() {
    const url = new URL('/healthz', this.base);
    const readable = typeof location === 'undefined' || url.origin === location.origin;
    const ctrl = new AbortController();
    const t = setTimeout(() => ctrl.abort(), this.o.healthTimeoutMs);
    try {
      const r = await fetch(url.href, readable
        ? { cache: 'no-store', signal: ctrl.signal }
        : { cache: 'no-store', mode: 'no-cors', signal: ctrl.signal });
      if (!readable) return 'there';
      if (r.status >= 500) return 'away';
      const body = await r.json().catch(() => ({}));
      return body.connections && body.connections.full ? 'full' : 'there';
    } catch (e) {
      return 'away';
    } finally {
      clearTimeout(t);
    }
  }

  // --- upgrade mode ---

  probe() {
    const att = new Attempt('ws');
    this.probeAtt = att;
    this.say(this.state, 'probing ws (still on ' + this.transport + ')', { probe: 'ws' });
    const deadline = this.o.readyTimeoutMs || DEFAULTS.readyTimeoutMs;
    att.after(deadline, () => this.probeFailed(att, 'got no ready in ' + secs(deadline)));
    this.open_ws(att);
  }

  probeReady(att) {
    att.close();
    this.probeAtt = null;
    const from = this.att;
    // The poll in flight is let go; what its answer held comes again on the socket, from the cursor.
    if (from) from.close();
    this.stats.switches++;
    this.say('fallback', 'ws probe ready → ws', { from: from ? from.transport : null, to: 'ws' });
    this.open('ws');
  }

  probeFailed(att, why) {
    if (att !== this.probeAtt) return;
    att.close();
    this.probeAtt = null;
    this.unusable.add('ws');
    this.say(this.state, 'ws probe ' + why + '; staying on ' + this.transport, { probe: 'ws' });
  }

  // --- acks ---

  settle(obj) {
    const p = this.pending.get(obj.ref);
    if (!p) return;
    this.pending.delete(obj.ref);
    clearTimeout(p.timer);
    if (obj.type === 'ack') p.resolve({ id: obj.id });
    else p.reject(new Error(obj.error));
  }

  failPending(why) {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(why));
    }
    this.pending.clear();
  }
}

function secs(ms) {
  return (ms / 1000).toFixed(1) + ' s';
}
