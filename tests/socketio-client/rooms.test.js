// transport-lab, the Socket.IO judge: rooms. `join` and `leave` with their acks, a room's
// messages reaching its members only, and `except_sender` (the server-side
// `socket.to(room).emit`: everyone in the room but the sender).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { io } from 'socket.io-client';

import { next, publish, record, sleep, startServer, summary, until } from './helpers.js';

// How long a message that must not arrive is given to arrive anyway, after a later one did.
const GRACE_MS = 300;

test('join and leave: a room reaches its members, and only them', { timeout: 15_000 }, async (t) => {
  const server = await startServer();

  // A starts in the lobby and joins math; B starts in math and is never in the lobby.
  const a = io(server.url, { query: { client: 'judge-a' } });
  t.after(() => a.disconnect());
  const seenByA = record(a);
  const b = io(server.url, { query: { client: 'judge-b', room: 'math' } });
  t.after(() => b.disconnect());
  // Hooks run in order: the clients go first, so none sees its server stop and tries again.
  t.after(() => server.stop());
  const seenByB = record(b);
  const both = () => ({ a: summary(seenByA.chat), b: summary(seenByB.chat) });
  await Promise.all([next(a, 'connect'), next(b, 'connect')]);

  const joined = await a.timeout(2_000).emitWithAck('join', 'math');
  assert.equal(joined.room, 'math', JSON.stringify(joined));
  await until('ready for math on A', () => seenByA.ready.some((r) => r.room === 'math'));
  await until('ready for math on B', () => seenByB.ready.length === 1);
  assert.deepEqual(seenByA.ready.map((r) => r.room), ['lobby', 'math']);
  assert.deepEqual(seenByB.ready.map((r) => r.room), ['math']);

  await publish(server, 'math', '2+2?');
  await until('2+2? on A and B', () => seenByA.chat.length === 1 && seenByB.chat.length === 1, { show: both });
  await publish(server, 'lobby', 'lunch?');
  await until('lunch? on A', () => seenByA.chat.length === 2, { show: both });

  const left = await a.timeout(2_000).emitWithAck('leave', 'lobby');
  assert.equal(left.error, undefined, JSON.stringify(left));
  await publish(server, 'lobby', 'anyone left?');
  await publish(server, 'math', '4');
  const got4 = (seen) => seen.chat.some((m) => m.text === '4');
  await until('4 on A and B', () => got4(seenByA) && got4(seenByB), { show: both });
  await sleep(GRACE_MS);

  assert.deepEqual(summary(seenByA.chat), [
    { room: 'math', id: 1, text: '2+2?' },
    { room: 'lobby', id: 1, text: 'lunch?' },
    { room: 'math', id: 2, text: '4' },
  ]);
  assert.deepEqual(summary(seenByB.chat), [
    { room: 'math', id: 1, text: '2+2?' },
    { room: 'math', id: 2, text: '4' },
  ]);
});

test('except_sender: the others in the room get it, the sender does not', { timeout: 15_000 }, async (t) => {
  const server = await startServer();

  const a = io(server.url, { query: { client: 'judge-a', room: 'physics' } });
  t.after(() => a.disconnect());
  const seenByA = record(a);
  const b = io(server.url, { query: { client: 'judge-b', room: 'physics' } });
  t.after(() => b.disconnect());
  t.after(() => server.stop());
  const seenByB = record(b);
  const both = () => ({ a: summary(seenByA.chat), b: summary(seenByB.chat) });
  await until('ready on A and B', () => seenByA.ready.length === 1 && seenByB.ready.length === 1);

  const toOthers = await a.timeout(2_000).emitWithAck('chat', { text: 'to the others', except_sender: true });
  assert.equal(toOthers.id, 1, JSON.stringify(toOthers));
  await until('the message on B', () => seenByB.chat.length === 1, { show: both });
  // A room's messages arrive in id order: once A has the next one, it will never get this one.
  const toAll = await a.timeout(2_000).emitWithAck('chat', { text: 'to everyone' });
  assert.equal(toAll.id, 2, JSON.stringify(toAll));
  const delivered = () => seenByA.chat.length >= 1 && seenByB.chat.length === 2;
  await until('the next message on A and B', delivered, { show: both });

  assert.deepEqual(summary(seenByA.chat), [{ room: 'physics', id: 2, text: 'to everyone' }]);
  assert.deepEqual(summary(seenByB.chat), [
    { room: 'physics', id: 1, text: 'to the others' },
    { room: 'physics', id: 2, text: 'to everyone' },
  ]);
});
