// transport-lab, the Socket.IO judge: acknowledgements with a timeout, `socket.timeout(ms).emit`
// with an `(err, response)` callback, for a message the server stores and one it refuses.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { io } from 'socket.io-client';

import { next, record, startServer, summary, until } from './helpers.js';

// The ack's callback as a promise of what it was called with.
function emitChat(socket, message) {
  return new Promise((resolve) => {
    socket.timeout(2_000).emit('chat', message, (err, response) => resolve({ err, response }));
  });
}

test('an ack with a timeout: the id of a stored message, an error for a refused one', { timeout: 15_000 }, async (t) => {
  const server = await startServer();

  const socket = io(server.url, { query: { client: 'judge-ack' } });
  t.after(() => socket.disconnect());
  // Hooks run in order: the clients go first, so none sees its server stop and tries again.
  t.after(() => server.stop());
  const seen = record(socket);
  await next(socket, 'connect');

  const first = await emitChat(socket, { text: 'first' });
  assert.equal(first.err, null);
  assert.equal(typeof first.response.id, 'number', JSON.stringify(first.response));

  // Answered in time, with an error: err is still null, the refusal is in the response.
  const empty = await emitChat(socket, { text: '' });
  assert.equal(empty.err, null);
  assert.equal(empty.response.id, undefined, JSON.stringify(empty.response));
  assert.equal(typeof empty.response.error, 'string', JSON.stringify(empty.response));
  assert.notEqual(empty.response.error, '');

  // The refused message took no id and was not delivered.
  const third = await emitChat(socket, { text: 'third' });
  assert.equal(third.err, null);
  assert.equal(third.response.id, first.response.id + 1, JSON.stringify(third.response));
  await until('the two stored messages as chat', () => seen.chat.length === 2, { show: () => summary(seen.chat) });
  assert.deepEqual(summary(seen.chat), [
    { room: 'lobby', id: first.response.id, text: 'first' },
    { room: 'lobby', id: third.response.id, text: 'third' },
  ]);
});
