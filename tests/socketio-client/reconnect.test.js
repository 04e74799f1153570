// transport-lab, the Socket.IO judge: reconnecting by itself without losing a message. The
// client keeps its cursor and hands it back in CONNECT's `auth` (the function form, called on
// every connection), so the server resumes after it: after a dropped transport, and after a
// restart of the server on the same port.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { io } from 'socket.io-client';

import { next, publish, record, startServer, summary, until } from './helpers.js';

test('a dropped connection: reconnects by itself and gets what it missed, once, in order', { timeout: 15_000 }, async (t) => {
  const server = await startServer();

  // The cursor as a bare id: the last message id seen.
  let last = 0;
  const socket = io(server.url, {
    query: { client: 'judge-resume' },
    auth: (cb) => cb({ since: last }),
    // Half a second down, always: time enough to publish while it is away.
    reconnectionDelay: 500,
    randomizationFactor: 0,
  });
  t.after(() => socket.disconnect());
  // Hooks run in order: the clients go first, so none sees its server stop and tries again.
  t.after(() => server.stop());
  const seen = record(socket);
  socket.on('chat', (message) => (last = message.id));
  await next(socket, 'connect');
  await publish(server, 'lobby', 'one');
  await publish(server, 'lobby', 'two');
  await until('two messages', () => seen.chat.length === 2, { show: () => summary(seen.chat) });

  const reconnected = next(socket.io, 'reconnect', 5_000);
  const down = next(socket, 'disconnect');
  // Drop the low-level connection, as a network would: the client reconnects by itself.
  socket.io.engine.close();
  await down;
  for (const text of ['missed 1', 'missed 2', 'missed 3']) await publish(server, 'lobby', text);
  assert.equal(socket.connected, false, 'the three were published while the client was away');
  await reconnected;
  // Reconnected is the transport; the socket is back once its CONNECT is answered and it is ready.
  await until('ready again', () => seen.ready.length === 2, { show: () => seen.ready });
  await publish(server, 'lobby', 'after');
  await until('every message', () => seen.chat.length >= 6, { show: () => summary(seen.chat) });

  assert.deepEqual(summary(seen.chat), [
    { room: 'lobby', id: 1, text: 'one' },
    { room: 'lobby', id: 2, text: 'two' },
    { room: 'lobby', id: 3, text: 'missed 1' },
    { room: 'lobby', id: 4, text: 'missed 2' },
    { room: 'lobby', id: 5, text: 'missed 3' },
    { room: 'lobby', id: 6, text: 'after' },
  ]);
  assert.deepEqual(seen.ready.map((r) => r.since), [0, 2]);
  assert.deepEqual(seen.gap, []);
  assert.equal(seen.disconnects.length, 1);
});

test('a restarted server: reconnects by itself, is told of the new run, loses and repeats nothing', { timeout: 20_000 }, async (t) => {
  let server = await startServer();

  // The cursor in its EPOCH-ID form, which names the server's run: a restart is noticed.
  let epoch;
  let cursor;
  const socket = io(server.url, {
    query: { client: 'judge-restart' },
    auth: (cb) => cb(cursor ? { since: cursor } : {}),
    reconnectionDelay: 100,
    reconnectionDelayMax: 500,
  });
  t.after(() => socket.disconnect());
  t.after(() => server.stop());
  const seen = record(socket);
  socket.on('ready', (ready) => {
    epoch = ready.epoch;
    cursor = `${ready.epoch}-${ready.since}`;
  });
  socket.on('gap', (gap) => {
    epoch = gap.epoch;
    cursor = `${gap.epoch}-${gap.since}`;
  });
  socket.on('chat', (message) => (cursor = `${epoch}-${message.id}`));
  await until('ready', () => seen.ready.length === 1, { show: () => seen.ready });
  await publish(server, 'lobby', 'before 1');
  await publish(server, 'lobby', 'before 2');
  await until('two messages', () => seen.chat.length === 2, { show: () => summary(seen.chat) });
  assert.equal(cursor, `${seen.ready[0].epoch}-2`);

  const reconnected = next(socket.io, 'reconnect', 10_000);
  await server.stop();
  server = await startServer({ port: server.port });
  await reconnected;
  await until('ready from the new run', () => seen.ready.length === 2, { show: () => seen.ready });
  await publish(server, 'lobby', 'after 1');
  await publish(server, 'lobby', 'after 2');
  await until('four messages', () => seen.chat.length >= 4, { show: () => summary(seen.chat) });

  const [first, second] = seen.ready;
  assert.notEqual(second.epoch, first.epoch, 'a restart is a new run');
  assert.equal(second.since, 0);
  assert.equal(seen.gap.length, 1, JSON.stringify(seen.gap));
  assert.equal(seen.gap[0].reset, true);
  assert.equal(seen.gap[0].since, 0);
  assert.equal(seen.gap[0].epoch, second.epoch);
  // Ids start again at 1 in the new run; the old run's messages are not delivered again.
  assert.deepEqual(summary(seen.chat), [
    { room: 'lobby', id: 1, text: 'before 1' },
    { room: 'lobby', id: 2, text: 'before 2' },
    { room: 'lobby', id: 1, text: 'after 1' },
    { room: 'lobby', id: 2, text: 'after 2' },
  ]);
});
