// transport-lab, the sticky-session lesson's machinery: the real programs a deployment puts
// around several servers, started as children of the test, on 127.0.0.1 only. Debian's nginx in
// front, running the README's recipe (round robin or ip_hash over the servers), and redis-server
// for the shared bus. Each runs from a temporary directory of its own (nginx's pid, logs and temp
// files too), so it needs no root and never touches a system nginx or redis; each is killed when
// the test process exits, and no wait here lasts longer than it says.
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { sleep, startProcess } from './helpers.js';

// Set to make a missing nginx or redis-server a failure instead of a skip (CI does).
const REQUIRE = 'TRANSPORT_LAB_REQUIRE_SERVICES';
// How long a port has to start accepting connections.
const START_MS = 10_000;
// Where Debian puts daemons: not on a normal user's PATH, but that user may still run them.
const SBIN = ['/usr/sbin', '/usr/local/sbin', '/sbin'];
// The repository's root, where README.md is.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// The README section whose nginx recipe the tests run.
const README_SECTION = '## Sticky sessions';
// Debian's package of each program.
const PACKAGE = { nginx: 'nginx-light', 'redis-server': 'redis-server' };
// The header nginx adds to every answer: the upstream that gave it (`127.0.0.1:PORT`), so a test
// and a curl user see which server answered, with any bus.
export const UPSTREAM_HEADER = 'x-upstream';

// nginx's temporary directories, so a test file that dies early leaves none behind (the
// processes themselves are helpers.js's startProcess's to kill).
const directories = new Set();
process.on('exit', () => {
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
});
// A signal (Ctrl-C, or node --test cancelling this file) would end the process without its 'exit'
// handlers, leaving nginx and redis-server (and helpers.js's servers) running: exit instead.
for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
  process.once(signal, () => process.exit(128 + number));
}

// The program's path: on the PATH, or in an sbin directory; undefined when it is not installed.
export function findProgram(name) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...SBIN];
  return dirs.map((dir) => path.join(dir, name)).find((file) => existsSync(file));
}

// The paths of `names`, or null after saying `SKIPPED:` (the test then passes) when one is
// missing; with TRANSPORT_LAB_REQUIRE_SERVICES=1 a missing one throws instead.
export function programsOrSkip(t, names) {
  const found = Object.fromEntries(names.map((name) => [name, findProgram(name)]));
  const missing = names.filter((name) => !found[name]);
  if (missing.length === 0) return found;
  const packages = missing.map((name) => PACKAGE[name] ?? name).join(' ');
  const message = `SKIPPED: ${t.name}: ${missing.join(' and ')} not installed (apt-get install ${packages})`;
  if (process.env[REQUIRE] === '1') throw new Error(`${message}, and ${REQUIRE}=1 makes it mandatory`);
  console.log(message);
  t.skip(message);
  return null;
}

// A port free on 127.0.0.1 right now (the kernel's pick; it may be taken again before it is used,
// which on a test machine does not happen in practice).
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

// Resolves once 127.0.0.1:`port` accepts a TCP connection; fails after `ms`.
async function accepting(port, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return true;
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
}

// redis-server on a free 127.0.0.1 port, in memory only (no RDB, no AOF: nothing on disk).
// Resolves with `url` (`redis://127.0.0.1:PORT`) once it accepts connections; `stop()` ends it.
export async function startRedis(program) {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const service = await startProcess('redis-server', program, args, {
    ready: (line) => line.includes('Ready to accept connections'),
  });
  return { ...service, port, url: `redis://127.0.0.1:${port}` };
}

// The README's nginx recipe ("Sticky sessions"), as written, with this test's ports in place of
// 8000, 8081 and 8082, and `ip_hash` uncommented for 'ip_hash' (`balance` 'round-robin' keeps
// nginx's default): so the recipe a reader copies is the one the tests run. A README whose recipe
// no longer has these lines fails here, saying which.
export async function nginxConf({ port, servers, balance }) {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.indexOf(README_SECTION);
  if (section < 0) throw new Error(`README.md has no section "${README_SECTION}"`);
  const opening = readme.indexOf('```nginx\n', section);
  if (opening < 0) throw new Error(`README.md's "${README_SECTION}" has no nginx block`);
  let conf = readme.slice(opening + '```nginx\n'.length, readme.indexOf('```', opening + 3));
  const replace = (what, by) => {
    if (!conf.includes(what)) throw new Error(`the README's nginx recipe no longer has ${JSON.stringify(what)}`);
    conf = conf.replace(what, by);
  };
  replace('    server 127.0.0.1:8081;\n    server 127.0.0.1:8082;\n', servers.map((s) => `    server 127.0.0.1:${s.port};\n`).join(''));
  replace('listen 127.0.0.1:8000;', `listen 127.0.0.1:${port};`);
  if (balance === 'ip_hash') replace('# ip_hash;', 'ip_hash;');
  return conf;
}

// nginx in front of `servers` (each with a `port`), `balance` 'round-robin' or 'ip_hash', on a
// free 127.0.0.1 port, from a temporary directory of its own. Resolves with `url` once it accepts
// connections; `accessLog()` reads the lines it logged (method, URI, status, upstream); `stop()`
// ends it and removes the directory.
export async function startNginx(program, { servers, balance }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'transport-lab-nginx-'));
  directories.add(dir);
  const port = await freePort();
  const conf = path.join(dir, 'lab.conf');
  await writeFile(conf, await nginxConf({ port, servers, balance }));
  // The recipe's `mkdir tmp`: its temporary files go there, relative to the prefix.
  await mkdir(path.join(dir, 'tmp'));
  let service;
  try {
    service = await startProcess(
      `nginx (${balance})`,
      program,
      // The README's command line, plus one process: round robin alternates strictly (one
      // worker, nginx's default, and no master), and a SIGKILL on exit leaves no worker behind.
      ['-p', dir, '-c', conf, '-e', 'stderr', '-g', 'daemon off; master_process off; error_log stderr;'],
      { up: accepting(port, START_MS) },
    );
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    directories.delete(dir);
    throw error;
  }
  return {
    ...service,
    port,
    url: `http://127.0.0.1:${port}`,
    async accessLog() {
      return (await readFile(path.join(dir, 'access.log'), 'utf8')).split('\n').filter(Boolean);
    },
    async stop() {
      await service.stop();
      await rm(dir, { recursive: true, force: true });
      directories.delete(dir);
    },
  };
}
