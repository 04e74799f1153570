// transport-lab, the Socket.IO judge: what every test needs besides socket.io-client itself. The
// real server binary (TRANSPORT_LAB_BIN) as a child process on 127.0.0.1, a publish over HTTP,
// a record of what a socket received, and bounded waits: no wait here lasts longer than it says.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// How long a process (a server, nginx, redis-server) has to come up before the test gives up.
const START_MS = 10_000;
// How long SIGTERM has to end a process before SIGKILL does.
const STOP_MS = 3_000;
// How many log lines a failure shows.
const LOG_LINES = 40;
const LISTENING = 'listening on http://';

// The repository's root: a relative TRANSPORT_LAB_BIN that is not found here is taken from there
// (`TRANSPORT_LAB_BIN=target/debug/transport-lab npm test`, as the README says).
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function serverBinary() {
  const bin = process.env.TRANSPORT_LAB_BIN;
  if (!bin) {
    throw new Error('TRANSPORT_LAB_BIN is not set: cargo build, then TRANSPORT_LAB_BIN=target/debug/transport-lab npm test');
  }
  return existsSync(bin) ? path.resolve(bin) : path.resolve(ROOT, bin);
}

// Every process started (servers here, nginx and redis-server in services.js), so a test file
// that dies early leaves none behind.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

// Spawns `program` with `args` (and `env`), keeping the last LOG_LINES lines it writes. It is up
// when `ready(line)` returns something for a line of its log, or when `up` (a promise) resolves
// truthy; resolves with `{ value, log, stop }`, `value` what `ready` returned. Kills it and fails
// with its log when it exits first or START_MS pass. `stop()`: SIGTERM, then SIGKILL after STOP_MS.
export async function startProcess(what, program, args, { ready = () => undefined, up, env } = {}) {
  const child = spawn(program, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve(signal || code));
    child.once('error', (error) => resolve(error.message));
  });
  exited.then(() => running.delete(child));
  const log = [];
  let found;
  const isUp = new Promise((resolve) => (found = resolve));
  // Keep reading both pipes for the process's whole life, so it never blocks on a full one.
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      log.push(line);
      if (log.length > LOG_LINES) log.shift();
      const value = ready(line);
      if (value) found({ value });
    });
  }
  up?.then((ok) => ok && found({ value: true }));
  const started = await Promise.race([
    isUp,
    exited.then((how) => new Error(`${what} exited (${how}) before it was up`)),
    sleep(START_MS, true).then(() => new Error(`${what} was not up in ${START_MS} ms`)),
  ]);
  if (started instanceof Error) {
    child.kill('SIGKILL');
    throw new Error(`${started.message}; its log:\n${log.join('\n')}`);
  }
  return {
    value: started.value,
    log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const ended = await Promise.race([exited.then(() => true), sleep(STOP_MS, true).then(() => false)]);
      if (!ended) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

// Starts the server on 127.0.0.1:`port` (0: a free one) with a 1 s Engine.IO heartbeat and
// `args`; resolves once it logs the address it listens on. `stop()` ends it.
export async function startServer({ port = 0, args = [] } = {}) {
  const { value: address, log, stop } = await startProcess(
    'the server',
    serverBinary(),
    ['--bind', `127.0.0.1:${port}`, '--workers', '2', '--heartbeat', '1', ...args],
    {
      env: { ...process.env, RUST_LOG: 'info', NO_COLOR: '1' },
      ready: (line) => {
        const at = line.indexOf(LISTENING);
        return at >= 0 ? line.slice(at + LISTENING.length).trim() : undefined;
      },
    },
  );
  return { url: `http://${address}`, port: Number(address.slice(address.lastIndexOf(':') + 1)), log, stop };
}

// Publishes `text` to `room` over HTTP (`POST /api/messages`); resolves with the stored message.
export async function publish(server, room, text, user = 'judge') {
  const response = await fetch(`${server.url}/api/messages?room=${encodeURIComponent(room)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user, text }),
    signal: AbortSignal.timeout(5_000),
  });
  const body = await response.text();
  if (!response.ok) throw new Error(`POST /api/messages?room=${room}: ${response.status} ${body}`);
  const message = JSON.parse(body);
  if (typeof message.id !== 'number') throw new Error(`POST /api/messages answered without an id: ${body}`);
  return message;
}

// Everything `socket` receives from now on, by event: `ready`, `gap` and `chat` payloads in
// arrival order (`presence` is not the judge's business), and the reasons of its disconnects.
export function record(socket) {
  const seen = { ready: [], gap: [], chat: [], disconnects: [] };
  socket.on('ready', (ready) => seen.ready.push(ready));
  socket.on('gap', (gap) => seen.gap.push(gap));
  socket.on('chat', (message) => seen.chat.push(message));
  socket.on('disconnect', (reason) => seen.disconnects.push(reason));
  return seen;
}

// Resolves once `predicate()` is true; fails after `ms`, naming `what` it waited for and
// showing `show()` (what there was instead).
export async function until(what, predicate, { ms = 5_000, show } = {}) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) {
      const got = show ? `; got ${JSON.stringify(show())}` : '';
      throw new Error(`timed out after ${ms} ms waiting for ${what}${got}`);
    }
    await sleep(10);
  }
}

// Resolves with the first `event` that `emitter` (a socket, its manager or its engine) emits;
// fails after `ms`.
export function next(emitter, event, ms = 5_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`timed out after ${ms} ms waiting for the ${event} event`));
    }, ms);
    const listener = (value) => {
      clearTimeout(timer);
      resolve(value);
    };
    emitter.once(event, listener);
  });
}

// The `room`/`id`/`text` of each message: what the assertions compare.
export function summary(messages) {
  return messages.map(({ room, id, text }) => ({ room, id, text }));
}

// `unref`: a timer that does not keep the test process alive (a deadline raced by something else).
export function sleep(ms, unref = false) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (unref) timer.unref();
  });
}
