// transport-lab, the Socket.IO judge: connecting. socket.io-client's default (HTTP long polling,
// then the upgrade to WebSocket), WebSocket alone, and a client whose upgrade the server refuses.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { io } from 'socket.io-client';

import { next, publish, record, startServer, summary, until } from './helpers.js';

test('default options: connects on long polling, upgrades to WebSocket, acks on both', { timeout: 15_000 }, async (t) => {
  const server = await startServer();

  const socket = io(server.url, { query: { client: 'judge-default' } });
  t.after(() => socket.disconnect());
  // Hooks run in order: the clients go first, so none sees its server stop and tries again.
  t.after(() => server.stop());
  const seen = record(socket);
  const engine = socket.io.engine;
  // Listening from the start, so an upgrade that is quick cannot be missed.
  const upgraded = next(engine, 'upgrade');
  let openedOn;
  socket.io.on('open', () => (openedOn = engine.transport.name));
  const acks = [];
  let connectedOn;
  socket.on('connect', () => {
    connectedOn = engine.transport.name;
    socket.emit('chat', { user: 'ada', text: 'sent on connect' }, (response) => acks.push(response));
  });

  await until('the ack of the message sent on connect', () => acks.length === 1);
  assert.equal(openedOn, 'polling');
  // The answer to CONNECT races the client's upgrade probe, started as the session opened; on a
  // loopback the probe often wins, and this message then goes over WebSocket. The refused-upgrade
  // test below acks over long polling for sure.
  if (connectedOn !== 'polling') t.diagnostic(`connected on ${connectedOn}: the upgrade came first`);
  assert.equal(acks[0].id, 1, JSON.stringify(acks[0]));
  await until('ready', () => seen.ready.length === 1, { show: () => seen.ready });
  const [ready] = seen.ready;
  assert.equal(ready.type, 'ready');
  assert.equal(ready.room, 'lobby');
  assert.equal(ready.since, 0);
  assert.match(ready.epoch, /^[a-z0-9]+$/);

  assert.equal((await upgraded).name, 'websocket');
  assert.equal(engine.transport.name, 'websocket');
  socket.emit('chat', { user: 'ada', text: 'sent on websocket' }, (response) => acks.push(response));
  await until('the ack of the message sent after the upgrade', () => acks.length === 2);
  assert.equal(acks[1].id, 2, JSON.stringify(acks[1]));

  // The sender is in the lobby too: both come back to it, once each.
  await until('both messages back as chat', () => seen.chat.length === 2, { show: () => summary(seen.chat) });
  assert.deepEqual(summary(seen.chat), [
    { room: 'lobby', id: 1, text: 'sent on connect' },
    { room: 'lobby', id: 2, text: 'sent on websocket' },
  ]);
  assert.deepEqual(seen.chat.map((m) => m.user), ['ada', 'ada']);
  assert.deepEqual(seen.disconnects, []);
});

test('transports: ["websocket"] connects on WebSocket from the start', { timeout: 15_000 }, async (t) => {
  const server = await startServer();

  const socket = io(server.url, { transports: ['websocket'], query: { client: 'judge-websocket' } });
  t.after(() => socket.disconnect());
  t.after(() => server.stop());
  const seen = record(socket);

  await next(socket, 'connect');
  assert.equal(socket.io.engine.transport.name, 'websocket');
  await until('ready', () => seen.ready.length === 1, { show: () => seen.ready });
  assert.equal(seen.ready[0].room, 'lobby');
  const response = await socket.timeout(2_000).emitWithAck('chat', { text: 'over websocket' });
  assert.equal(response.id, 1, JSON.stringify(response));
  const { id } = await publish(server, 'lobby', 'over HTTP');
  assert.equal(id, 2);

  await until('both messages as chat', () => seen.chat.length === 2, { show: () => summary(seen.chat) });
  assert.deepEqual(summary(seen.chat), [
    { room: 'lobby', id: 1, text: 'over websocket' },
    { room: 'lobby', id: 2, text: 'over HTTP' },
  ]);
});

test('a refused upgrade: the client stays on long polling and still sends and receives', { timeout: 15_000 }, async (t) => {
  const server = await startServer({ args: ['--refuse-websocket', 'judge-noupgrade'] });

  const socket = io(server.url, { query: { client: 'judge-noupgrade' } });
  t.after(() => socket.disconnect());
  t.after(() => server.stop());
  const seen = record(socket);
  const engine = socket.io.engine;
  const upgradeErrors = [];
  let upgrades = 0;
  let pings = 0;
  engine.on('upgradeError', (error) => upgradeErrors.push(error));
  engine.on('upgrade', () => upgrades++);
  engine.on('ping', () => pings++);

  await next(socket, 'connect');
  // The server pings every second (--heartbeat 1): three pings are three chances to upgrade.
  await until('three Engine.IO pings', () => pings >= 3, { ms: 6_000, show: () => pings });
  assert.equal(upgradeErrors.length, 1, 'the client tried the upgrade once and was refused');
  assert.equal(upgrades, 0);
  assert.equal(engine.transport.name, 'polling');
  assert.equal(socket.connected, true);

  const response = await socket.timeout(2_000).emitWithAck('chat', { text: 'over polling' });
  assert.equal(response.id, 1, JSON.stringify(response));
  await publish(server, 'lobby', 'over HTTP');
  await until('both messages as chat', () => seen.chat.length === 2, { show: () => summary(seen.chat) });
  assert.deepEqual(summary(seen.chat), [
    { room: 'lobby', id: 1, text: 'over polling' },
    { room: 'lobby', id: 2, text: 'over HTTP' },
  ]);
  assert.equal(engine.transport.name, 'polling');
  assert.deepEqual(seen.disconnects, []);
});
