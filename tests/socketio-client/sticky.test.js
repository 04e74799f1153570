// transport-lab, the sticky-session lesson: two servers behind a real nginx (Debian's, running
// the README's recipe), as a deployment puts them. With round robin, socket.io-client on long polling fails: Engine.IO's
// session lives in the memory of the server that opened it, and the next request meets the other
// server, which answers 400 "Session ID unknown". With ip_hash (sticky) it works, and a
// WebSocket-only client needs no stickiness at all: its one connection stays on one server.
// Our own five transports need none either: every request carries its cursor (EPOCH-ID), and
// with `--bus redis` every server has the same ids, so each request may land anywhere.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { io } from 'socket.io-client';
import WebSocket from 'ws';

import { next, publish, record, sleep, startServer, summary, until } from './helpers.js';
import { UPSTREAM_HEADER, programsOrSkip, startNginx, startRedis } from './services.js';

// The header every answer carries with `--bus redis --node NAME`: which server answered.
const NODE_HEADER = 'x-transport-lab-node';

// Cleanups run last set up, first done: the clients, then nginx, then the servers, so no client
// sees its server stop and tries again (node runs `after` hooks in the order they were added).
function cleanups(t) {
  const stack = [];
  t.after(async () => {
    while (stack.length > 0) await stack.pop()();
  });
  return (cleanup) => stack.push(cleanup);
}

// Two servers (each with its `args`) and nginx in front of them, `balance` 'round-robin' or
// 'ip_hash'; `defer` stops them when the test ends.
async function twoServersBehindNginx(defer, nginx, balance, args = [[], []]) {
  const servers = [];
  defer(() => Promise.all(servers.map((server) => server.stop())));
  // One at a time, so one that fails to start leaves the others already listed for the cleanup.
  for (const a of args) servers.push(await startServer({ args: a }));
  const proxy = await startNginx(nginx, { servers, balance });
  defer(() => proxy.stop());
  return { servers, proxy };
}

// The `{code, message}` of a Socket.IO server's refusal (ours adds `error`, what exactly was wrong).
function refusal(body) {
  const { code, message } = JSON.parse(body);
  return { code, message };
}

test('round robin, long polling only: every session fails, its next request meets the other server', { timeout: 30_000 }, async (t) => {
  const programs = programsOrSkip(t, ['nginx']);
  if (!programs) return;
  const defer = cleanups(t);
  const { servers, proxy } = await twoServersBehindNginx(defer, programs.nginx, 'round-robin');
  const upstreams = servers.map((server) => `127.0.0.1:${server.port}`);

  // By hand first, as curl would: the handshake opens a session on one server...
  const open = await fetch(`${proxy.url}/socket.io/?EIO=4&transport=polling`, { signal: AbortSignal.timeout(5_000) });
  const openBody = await open.text();
  assert.equal(open.status, 200, openBody);
  assert.match(openBody, /^0\{"sid":"/);
  const { sid } = JSON.parse(openBody.slice(1));
  // ...and the poll of that session, the next request, goes to the other one.
  const poll = await fetch(`${proxy.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { signal: AbortSignal.timeout(5_000) });
  const pollBody = await poll.text();
  assert.equal(poll.status, 400, pollBody);
  assert.deepEqual(refusal(pollBody), { code: 1, message: 'Session ID unknown' });
  assert.deepEqual(
    [open.headers.get(UPSTREAM_HEADER), poll.headers.get(UPSTREAM_HEADER)].sort(),
    [...upstreams].sort(),
    'the handshake and the poll were answered by different servers',
  );

  // Then socket.io-client, never upgrading. Each handshake succeeds (Engine.IO opens, and the
  // manager even counts a reconnect), then its next request meets the other server: the socket
  // never connects, and the client tries again and again, every reconnectionDelay.
  const socket = io(proxy.url, {
    transports: ['polling'],
    query: { client: 'judge-round-robin' },
    reconnectionDelay: 100,
    reconnectionDelayMax: 100,
    randomizationFactor: 0,
  });
  defer(() => socket.disconnect());
  const errors = [];
  // Read as it happens: the request object is reused, and cleared once the client gives up.
  socket.on('connect_error', (error) => errors.push({ message: error.message, status: error.description, body: error.context?.responseText }));
  let connects = 0;
  socket.on('connect', () => connects++);
  let opens = 0;
  socket.io.on('open', () => opens++);
  await until('three failed connections', () => errors.length >= 3, { ms: 10_000, show: () => errors.map((e) => e.message) });
  socket.disconnect();

  assert.equal(connects, 0, 'never connected');
  assert.equal(socket.connected, false);
  assert.ok(opens >= 3, `every Engine.IO handshake succeeded: ${opens} opens`);
  for (const error of errors) {
    // The CONNECT packet's POST, or the first poll: whichever the other server got.
    assert.match(error.message, /^xhr (poll|post) error$/);
    assert.equal(error.status, 400);
    assert.deepEqual(refusal(error.body), { code: 1, message: 'Session ID unknown' });
  }
  // nginx's own record: handshakes answered 200 and polls or posts refused 400, by both servers.
  const log = (await proxy.accessLog()).filter((line) => line.includes('/socket.io/'));
  t.diagnostic(`nginx access log, first lines:\n${log.slice(0, 8).join('\n')}`);
  const upstreamOf = (line) => line.slice(line.indexOf('upstream=') + 'upstream='.length);
  const handshakes = log.filter((line) => !line.includes('sid=') && line.includes(' 200 '));
  const refused = log.filter((line) => line.includes(' 400 '));
  assert.ok(handshakes.length >= 4, 'the one by hand and at least three by socket.io-client');
  assert.ok(refused.length >= 4, log.join('\n'));
  assert.deepEqual(new Set([...handshakes, ...refused].map(upstreamOf)), new Set(upstreams));
});

test('round robin, WebSocket only: one connection, one server, no stickiness needed', { timeout: 30_000 }, async (t) => {
  const programs = programsOrSkip(t, ['nginx']);
  if (!programs) return;
  const defer = cleanups(t);
  const { proxy } = await twoServersBehindNginx(defer, programs.nginx, 'round-robin');

  const socket = io(proxy.url, { transports: ['websocket'], query: { client: 'judge-ws-only' } });
  defer(() => socket.disconnect());
  const seen = record(socket);
  let pings = 0;
  await next(socket, 'connect');
  socket.io.engine.on('ping', () => pings++);
  await until('ready', () => seen.ready.length === 1, { show: () => seen.ready });
  const response = await socket.timeout(2_000).emitWithAck('chat', { text: 'over one websocket' });
  assert.equal(response.id, 1, JSON.stringify(response));
  await until('the message back as chat', () => seen.chat.length === 1, { show: () => summary(seen.chat) });
  // The server pings every second (--heartbeat 1): the session outlives several.
  await until('three Engine.IO pings', () => pings >= 3, { ms: 6_000, show: () => pings });

  assert.equal(socket.connected, true);
  assert.deepEqual(summary(seen.chat), [{ room: 'lobby', id: 1, text: 'over one websocket' }]);
  assert.deepEqual(seen.disconnects, []);
});

test('ip_hash, long polling only: every request of the session meets its server, and it works', { timeout: 30_000 }, async (t) => {
  const programs = programsOrSkip(t, ['nginx']);
  if (!programs) return;
  const defer = cleanups(t);
  const { proxy } = await twoServersBehindNginx(defer, programs.nginx, 'ip_hash');

  const socket = io(proxy.url, { transports: ['polling'], query: { client: 'judge-ip-hash' } });
  defer(() => socket.disconnect());
  const seen = record(socket);
  let pings = 0;
  socket.io.engine.on('ping', () => pings++);
  await next(socket, 'connect');
  await until('ready', () => seen.ready.length === 1, { show: () => seen.ready });
  const response = await socket.timeout(2_000).emitWithAck('chat', { text: 'over polling, sticky' });
  assert.equal(response.id, 1, JSON.stringify(response));
  // Posted through nginx too: the same client address, so the same server.
  const { id } = await publish(proxy, 'lobby', 'over HTTP, sticky');
  assert.equal(id, 2);
  await until('both messages as chat', () => seen.chat.length === 2, { show: () => summary(seen.chat) });
  await until('three Engine.IO pings', () => pings >= 3, { ms: 6_000, show: () => pings });

  assert.equal(socket.io.engine.transport.name, 'polling');
  assert.equal(socket.connected, true);
  assert.deepEqual(summary(seen.chat), [
    { room: 'lobby', id: 1, text: 'over polling, sticky' },
    { room: 'lobby', id: 2, text: 'over HTTP, sticky' },
  ]);
  assert.deepEqual(seen.disconnects, []);
  const log = await proxy.accessLog();
  t.diagnostic(`nginx access log: ${log.length} requests`);
  assert.ok(log.length >= 6, `the session took polls and posts: ${log.join('\n')}`);
  assert.equal(new Set(log.map((line) => line.slice(line.indexOf('upstream=') + 9))).size, 1, log.join('\n'));
});

// ---------------------------------------------------------------------------------------------
// Our five transports through round robin, two servers on one Redis bus.

// How many messages each transport carries.
const N = 10;

// A GET through the proxy: its JSON body and the node that answered.
async function getJson(url) {
  const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${url}: ${text}`);
  return { body: JSON.parse(text), node: response.headers.get(NODE_HEADER) };
}

// A POST of `text` to `room` through the proxy: the stored message and the node that stored it.
async function post(proxy, room, text) {
  const response = await fetch(`${proxy.url}/api/messages?room=${room}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user: 'judge', text }),
    signal: AbortSignal.timeout(5_000),
  });
  const body = await response.text();
  assert.equal(response.status, 201, `POST ${room}: ${body}`);
  return { message: JSON.parse(body), node: response.headers.get(NODE_HEADER) };
}

// What arrives on an open stream, SSE stream or WebSocket, in order: `take(ms)` resolves with the
// next item, or fails after `ms`.
class Inbox {
  items = [];
  waiting = null;
  ended = null;

  push(item) {
    this.items.push(item);
    this.waiting?.();
  }

  end(why) {
    this.ended = why;
    this.waiting?.();
  }

  async take(ms = 5_000) {
    const deadline = Date.now() + ms;
    while (this.items.length === 0) {
      if (this.ended) throw new Error(`the connection ended (${this.ended}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for the next item`);
      await Promise.race([new Promise((resolve) => (this.waiting = resolve)), sleep(left, true)]);
      this.waiting = null;
    }
    return this.items.shift();
  }

  // The next item that is not a heartbeat or presence notice.
  async takeContent(ms = 5_000) {
    for (;;) {
      const item = await this.take(ms);
      if (item.type !== 'heartbeat' && item.type !== 'presence') return item;
    }
  }
}

// A streaming GET through the proxy, its body split into items by `split(buffer) -> [items, rest]`.
async function openStreamingGet(url, headers, split) {
  const abort = new AbortController();
  // The response head comes at once (a stream's body never ends: only the head is bounded here).
  const timer = setTimeout(() => abort.abort(), 5_000);
  const response = await fetch(url, { headers, signal: abort.signal });
  clearTimeout(timer);
  assert.equal(response.status, 200, `GET ${url}`);
  const inbox = new Inbox();
  (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true });
        const [items, rest] = split(buffer);
        buffer = rest;
        for (const item of items) inbox.push(item);
      }
      inbox.end('end of body');
    } catch (error) {
      inbox.end(error.name);
    }
  })();
  return { inbox, header: response.headers.get(NODE_HEADER), close: () => abort.abort() };
}

// NDJSON: one JSON object per line.
function ndjsonLines(buffer) {
  const lines = buffer.split('\n');
  const rest = lines.pop();
  return [lines.filter(Boolean).map((line) => JSON.parse(line)), rest];
}

// SSE: events end with a blank line; `data:` is the JSON, `event: gap|ready|presence` is also
// in it as `type`; comments (heartbeats) and `retry:` alone are left out.
function sseEvents(buffer) {
  const blocks = buffer.split('\n\n');
  const rest = blocks.pop();
  const events = [];
  for (const block of blocks) {
    const data = block
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => line.slice(6));
    if (data.length > 0) events.push(JSON.parse(data.join('\n')));
  }
  return [events, rest];
}

// The three streaming transports: how to open each one through the proxy after `cursor`.
const STREAMS = {
  stream: (proxy, room, cursor) => openStreamingGet(`${proxy.url}/api/stream?room=${room}&since=${cursor}`, {}, ndjsonLines),
  // As a browser resumes: the cursor in Last-Event-ID.
  sse: (proxy, room, cursor) =>
    openStreamingGet(`${proxy.url}/api/sse?room=${room}`, { 'Last-Event-ID': String(cursor) }, sseEvents),
  ws: (proxy, room, cursor) =>
    new Promise((resolve, reject) => {
      const socket = new WebSocket(`ws://127.0.0.1:${proxy.port}/api/ws?room=${room}&since=${cursor}`, {
        handshakeTimeout: 5_000,
      });
      const inbox = new Inbox();
      let header = null;
      socket.on('upgrade', (response) => (header = response.headers[NODE_HEADER] ?? null));
      socket.on('message', (data) => inbox.push(JSON.parse(String(data))));
      socket.on('close', (code) => inbox.end(`close ${code}`));
      socket.once('error', reject);
      socket.once('open', () => resolve({ inbox, header, close: () => socket.terminate() }));
    }),
};

test('round robin over two servers on one Redis bus: every transport delivers 1..N in order, the requests alternating', { timeout: 90_000 }, async (t) => {
  const programs = programsOrSkip(t, ['nginx', 'redis-server']);
  if (!programs) return;
  const defer = cleanups(t);
  const redis = await startRedis(programs['redis-server']);
  defer(() => redis.stop());
  const bus = ['--bus', redis.url];
  const { proxy } = await twoServersBehindNginx(defer, programs.nginx, 'round-robin', [
    [...bus, '--node', 'a'],
    [...bus, '--node', 'b'],
  ]);

  await t.test('poll: each request may meet either server, its cursor is good on both', async (st) => {
    const room = 'sticky-poll';
    let since = '0';
    // The node whose answer gave `since`, and how often the next poll met the other node.
    let sinceFrom = null;
    let handovers = 0;
    // Polls that came before the post they waited for had reached their server.
    let late = 0;
    const got = [];
    const nodes = [];
    const poll = async () => {
      const answer = await getJson(`${proxy.url}/api/poll?room=${room}&since=${since}`);
      if (sinceFrom !== null && answer.node !== sinceFrom) handovers++;
      nodes.push(answer.node);
      sinceFrom = answer.node;
      return answer.body;
    };
    for (let i = 1; i <= N; i++) {
      await post(proxy, room, `poll ${i}`);
      // A post one server acknowledged is in Redis, but the other server's mirror of the room gets
      // it when `tl:bus` announces it, a moment later (a poll came first about once in twenty runs
      // on a loaded machine): that poll answers what it has, with a cursor that loses nothing, and
      // the next one brings the rest. So poll until it is here (bounded).
      for (let polls = 0; got.length < i; polls++) {
        assert.ok(polls < 50, `message ${i} did not arrive in 50 polls: ${JSON.stringify(summary(got))}`);
        if (polls > 0) {
          late++;
          await sleep(20);
        }
        const body = await poll();
        got.push(...body.messages);
        since = body.cursor;
      }
      if (i % 2 === 0) {
        // The same cursor again (on the other server, as the requests go): nothing new, the same
        // cursor. It also shifts which server the next poll meets.
        const again = await poll();
        assert.deepEqual(again.messages, []);
        assert.equal(again.cursor, since);
      }
    }
    assert.deepEqual(summary(got), Array.from({ length: N }, (_, i) => ({ room, id: i + 1, text: `poll ${i + 1}` })));
    st.diagnostic(`poll answered by ${nodes.join(' ')}; ${handovers} cursors handed from one server to the other; ${late} polls again for a post not there yet`);
    assert.deepEqual(new Set(nodes), new Set(['a', 'b']));
    assert.ok(handovers > 0, 'a cursor one server gave was used on the other');
  });

  await t.test('longpoll: held on one server, woken by a post on the other', async (st) => {
    const room = 'sticky-longpoll';
    let since = '0';
    const got = [];
    const nodes = [];
    let wokenAcross = 0;
    for (let i = 1; i <= N; i++) {
      let answer;
      if (i % 2 === 1) {
        // Posted first: the long poll answers at once.
        await post(proxy, room, `longpoll ${i}`);
        answer = await getJson(`${proxy.url}/api/longpoll?room=${room}&since=${since}&timeout=10`);
      } else {
        // Held first, then the post: it wakes the held request wherever it is.
        const held = getJson(`${proxy.url}/api/longpoll?room=${room}&since=${since}&timeout=10`);
        await sleep(100);
        const posted = await post(proxy, room, `longpoll ${i}`);
        answer = await held;
        if (posted.node !== answer.node) wokenAcross++;
      }
      assert.equal(answer.body.messages.length, 1, JSON.stringify(answer.body));
      got.push(...answer.body.messages);
      nodes.push(answer.node);
      since = answer.body.cursor;
    }
    assert.deepEqual(summary(got), Array.from({ length: N }, (_, i) => ({ room, id: i + 1, text: `longpoll ${i + 1}` })));
    st.diagnostic(`longpoll answered by ${nodes.join(' ')}; ${wokenAcross} woken by a post on the other server`);
    assert.deepEqual(new Set(nodes), new Set(['a', 'b']));
    assert.ok(wokenAcross > 0, 'a held long poll was woken by a post the other server took');
  });

  await t.test('socket.io-client on long polling still fails: the bus shares messages, not Engine.IO sessions', async () => {
    const socket = io(proxy.url, {
      transports: ['polling'],
      query: { client: 'judge-bus-round-robin' },
      reconnectionDelay: 100,
      reconnectionDelayMax: 100,
      randomizationFactor: 0,
    });
    const statuses = [];
    socket.on('connect_error', (error) => statuses.push(error.description));
    let connects = 0;
    socket.on('connect', () => connects++);
    try {
      await until('two failed connections', () => statuses.length >= 2, { ms: 10_000, show: () => statuses });
    } finally {
      socket.disconnect();
    }
    assert.equal(connects, 0);
    assert.deepEqual(statuses.slice(0, 2), [400, 400]);
  });

  for (const [name, open] of Object.entries(STREAMS)) {
    await t.test(`${name}: read half on one server, resume after the cursor on the other`, async (st) => {
      const room = `sticky-${name}`;
      const first = await open(proxy, room, 0);
      const ready = await first.inbox.takeContent();
      assert.equal(ready.type, 'ready', JSON.stringify(ready));
      assert.equal(ready.since, 0);
      assert.equal(first.header, ready.node, 'the header and the ready notice name one node');
      const got = [];
      for (let i = 1; i <= N / 2; i++) {
        await post(proxy, room, `${name} ${i}`);
        got.push(await first.inbox.takeContent());
      }
      first.close();
      // Published while nobody reads: the resumed connection gets them from the history.
      for (let i = N / 2 + 1; i <= N; i++) await post(proxy, room, `${name} ${i}`);
      const cursor = `${ready.epoch}-${got.at(-1).id}`;
      // Round robin: one more try at most lands on the other server.
      let second;
      let resumed;
      for (let attempt = 0; attempt < 4; attempt++) {
        second = await open(proxy, room, cursor);
        resumed = await second.inbox.takeContent();
        if (resumed.node !== ready.node) break;
        second.close();
      }
      assert.equal(resumed.type, 'ready', JSON.stringify(resumed));
      assert.equal(second.header, resumed.node);
      assert.notEqual(resumed.node, ready.node, 'resumed on the other server');
      assert.equal(resumed.epoch, ready.epoch, 'one epoch for the room on both servers');
      assert.equal(resumed.since, N / 2);
      while (got.length < N) got.push(await second.inbox.takeContent());
      // A duplicate or a stray message would arrive within this.
      await sleep(200);
      const extra = second.inbox.items.filter((item) => item.type === undefined);
      second.close();
      assert.deepEqual(summary(got), Array.from({ length: N }, (_, i) => ({ room, id: i + 1, text: `${name} ${i + 1}` })));
      assert.deepEqual(extra, []);
      st.diagnostic(`${name}: read 1..${N / 2} from ${ready.node}, ${N / 2 + 1}..${N} from ${resumed.node}`);
    });
  }
});
