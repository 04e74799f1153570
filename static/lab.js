// transport-lab, `/lab`: the fault lab. Sets this page's network faults through `/api/lab`, then
// shows how the auto client (lab-client.js) and five plain clients, one transport each, cope.
//
// Two client ids, so the ledger tells them apart: `lab-…` for the plain clients, `lab-…-auto` for
// the auto client; every fault is set for both. `?client=ID` picks the id (a teacher can then
// watch it with `curl -N /api/tap?client=ID-auto`), `?room=NAME` the room (else one of its own,
// named after the client, so nobody else's messages keep its connections busy), `?upgrade=1`
// starts the auto client in upgrade mode, `?heartbeat=S` sets the heartbeat its streams and sockets
// ask for.

import { connect, newClientId } from '/static/lab-client.js';

const params = new URLSearchParams(location.search);
const CLIENT = params.get('client') || newClientId('lab');
const AUTO = CLIENT + '-auto';
const ROOM = params.get('room') || CLIENT;
// The deadline for `ready`: a stream that has not said it by then is held back on the way.
const READY_MS = 3000;
const LEDGER_EVERY_MS = 2000;
const MAX_LINES = 500;
const t0 = performance.now();

const $ = (id) => document.getElementById(id);
const ORDER = Array.from(document.querySelectorAll('.lab-panel[data-transport]'), (p) => p.dataset.transport);
const form = $('lab-faults');
const status = $('lab-status');

function stamp() {
  return '+' + ((performance.now() - t0) / 1000).toFixed(1) + ' s';
}

function fmtBytes(n) {
  return n < 10000 ? n + ' B' : (n / 1000).toFixed(1) + ' kB';
}

function append(list, li) {
  list.append(li);
  while (list.children.length > MAX_LINES) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

function badge(el, state) {
  el.textContent = state;
  el.className = 'state ' + (state === 'live' ? 'live' : state === 'closed' ? '' : 'wait');
}

// --- the faults ---

function readForm() {
  const faults = {};
  for (const box of form.querySelectorAll('input[data-fault]')) {
    if (!box.checked) continue;
    const key = box.dataset.fault;
    const input = form.querySelector('input[data-value="' + key + '"]');
    faults[key] = input ? Number(input.value) : true;
  }
  return faults;
}

function fillForm(faults) {
  for (const box of form.querySelectorAll('input[data-fault]')) {
    const v = faults[box.dataset.fault];
    box.checked = v !== undefined && v !== null && v !== false;
    const input = form.querySelector('input[data-value="' + box.dataset.fault + '"]');
    if (input && typeof v === 'number') input.value = String(v);
  }
}

function describe(faults) {
  const on = Object.keys(faults).filter((k) => faults[k] !== null && faults[k] !== false);
  return on.length ? on.map((k) => (faults[k] === true ? k : k + ' ' + faults[k])).join(', ') : 'none';
}

function showWhy(faults) {
  let any = false;
  for (const div of document.querySelectorAll('[data-why]')) {
    const key = div.dataset.why;
    const on = key !== 'none' && faults[key] !== undefined && faults[key] !== null && faults[key] !== false;
    div.hidden = !on;
    any = any || on;
  }
  document.querySelector('[data-why="none"]').hidden = any;
}

// Sets (or, with null, clears) the faults of both of this page's client ids.
async function setFaults(faults) {
  const answers = await Promise.all([CLIENT, AUTO].map(async (id) => {
    const r = await fetch('/api/lab?client=' + encodeURIComponent(id), faults === null
      ? { method: 'DELETE' }
      : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(faults) });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
    return body.faults;
  }));
  return answers[0];
}

// The heartbeat the streams and sockets ask for (`?heartbeat=`), or null: the server's.
function heartbeat() {
  const v = Number($('lab-heartbeat').value);
  return $('lab-heartbeat').value !== '' && v > 0 ? v : null;
}

let applied = 0;
async function apply(faults) {
  if (!auto) return;
  status.classList.remove('bad');
  status.textContent = 'setting faults…';
  let now;
  try {
    now = await setFaults(faults);
  } catch (e) {
    status.textContent = 'not set: ' + e.message;
    status.classList.add('bad');
    return;
  }
  fillForm(now);
  showWhy(now);
  const beat = heartbeat();
  const beats = beat ? '; heartbeat every ' + beat + ' s' : '';
  log('faults: ' + describe(now) + beats + '; every client reconnects at its cursor');
  // Every client meets the new network (and asks its heartbeat) at once, at its cursor.
  auto.renegotiate({ heartbeatS: beat });
  for (const p of plain) p.client.renegotiate({ heartbeatS: beat });
  status.textContent = 'faults: ' + describe(now) + beats + ' (' + stamp() + ')';
  status.dataset.applied = String(++applied);
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  apply(readForm());
});
$('lab-clear').addEventListener('click', () => apply(null));

// --- the auto client ---

const autoPanel = $('lab-auto');
const autoLog = $('auto-log');
const autoList = $('auto-messages');
const detector = $('auto-detector');
const seen = new Set();
let received = 0;
let repeats = 0;
let auto = null;

function log(text) {
  const li = document.createElement('li');
  li.textContent = stamp() + ' ' + text;
  append(autoLog, li);
}

function showAuto(detail) {
  const t = auto ? auto.transport : detail.transport;
  autoPanel.dataset.transport = t || '';
  autoPanel.dataset.state = detail.state;
  badge(autoPanel.querySelector('[data-role=state]'), detail.state);
  $('auto-transport').textContent = t || '–';
  showDetector();
}

function showDetector() {
  const s = auto ? auto.stats : { gaps: 0, duplicates: 0, switches: 0, reconnects: 0 };
  detector.dataset.received = String(received);
  detector.dataset.gaps = String(s.gaps);
  // Shown twice by the page: the client's cursor (and its safety net) must keep this at 0.
  detector.dataset.dups = String(repeats);
  detector.dataset.net = String(s.duplicates);
  detector.dataset.switches = String(s.switches);
  detector.dataset.reconnects = String(s.reconnects);
  detector.textContent = 'received ' + received + ' · gaps ' + s.gaps + ' · shown twice ' + repeats +
    ' · dropped by the safety net ' + s.duplicates + ' · switches ' + s.switches + ' · reconnects ' + s.reconnects;
  detector.classList.toggle('bad', repeats > 0 || s.gaps > 0);
  $('auto-cursor').textContent = (auto && auto.cursor) || '–';
}

function startAuto(since) {
  auto = connect(location.origin, {
    room: ROOM,
    since: since,
    client: AUTO,
    user: 'lab',
    readyTimeoutMs: READY_MS,
    heartbeatS: heartbeat(),
    upgrade: $('lab-upgrade').checked,
    onMessage: (m, via) => {
      if (seen.has(m.id)) repeats++;
      seen.add(m.id);
      received++;
      const li = document.createElement('li');
      li.dataset.id = String(m.id);
      li.dataset.transport = via.transport;
      const id = document.createElement('span');
      id.className = 'mid';
      id.textContent = '#' + m.id;
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = m.user + ':';
      const text = document.createElement('span');
      text.className = 'text';
      text.textContent = m.text;
      const how = document.createElement('span');
      how.className = 'lat';
      how.textContent = 'via ' + via.transport;
      li.append(id, who, text, how);
      append(autoList, li);
      showDetector();
    },
    onState: (text, detail) => {
      log(text);
      showAuto(detail);
    },
    onGap: (notice) => {
      // A reset starts the ids again: the page's own check starts again with them.
      if (notice.reset) seen.clear();
    },
  });
}

$('lab-upgrade').addEventListener('change', () => {
  const cursor = auto.cursor;
  auto.close();
  startAuto(cursor);
});
$('auto-drop').addEventListener('click', () => auto.drop());

async function send(text) {
  try {
    const via = auto.transport;
    const r = await auto.send(text);
    log('sent #' + r.id + (via === 'ws' && auto.transport === 'ws' ? ' as a frame on the socket' : ' with a POST counted as a ' + via + ' send'));
  } catch (e) {
    log('not sent: ' + e.message);
  }
}
$('auto-send').addEventListener('click', () => send($('auto-text').value || 'hello'));
$('auto-burst').addEventListener('click', async () => {
  const base = $('auto-text').value || 'burst';
  for (let i = 1; i <= 20; i++) await send(base + ' ' + i);
});

// --- the plain clients ---

const plain = ORDER.map((t) => {
  const panel = $('plain-' + t);
  const p = { t, panel, received: 0, state: 'starting', since: performance.now(), client: null };
  return p;
});

function startPlain(p, since) {
  p.client = connect(location.origin, {
    transports: [p.t],
    room: ROOM,
    since: since,
    client: CLIENT,
    user: 'lab',
    // A plain EventSource, stream reader or WebSocket waits for ever: it does not know what a
    // missing `ready` means.
    readyTimeoutMs: 0,
    heartbeatS: heartbeat(),
    onMessage: () => {
      p.received++;
      p.panel.dataset.received = String(p.received);
    },
    onState: (text, detail) => {
      p.state = detail.state;
      p.since = performance.now();
      p.panel.dataset.state = detail.state;
      p.panel.dataset.reconnects = String(p.client ? p.client.stats.reconnects : 0);
      badge(p.panel.querySelector('[data-role=state]'), detail.state);
      p.panel.querySelector('[data-role=last]').textContent = stamp() + ' ' + text;
    },
  });
}

// A plain client still connecting says how long it has waited for its first byte.
setInterval(() => {
  for (const p of plain) {
    if (p.state !== 'connecting') continue;
    const waited = (performance.now() - p.since) / 1000;
    if (waited >= 2) {
      p.panel.querySelector('[data-role=last]').textContent =
        'connecting ' + p.t + ': ' + waited.toFixed(0) + ' s without its first answer';
    }
  }
}, 1000);

// --- the ledger ---

async function ledger(id) {
  const r = await fetch('/api/stats?client=' + encodeURIComponent(id), { cache: 'no-store' });
  return r.ok ? (await r.json()).transports : null;
}

async function refreshLedger() {
  try {
    const [mine, autos] = await Promise.all([ledger(CLIENT), ledger(AUTO)]);
    for (const p of plain) {
      const s = mine && mine[p.t];
      p.panel.querySelector('[data-role=counts]').textContent = 'received ' + p.received +
        (s ? ' · ' + s.requests + ' requests · ' + fmtBytes(s.response_bytes) + ' ↓ (ledger)' : '');
    }
    if (autos) {
      const used = ORDER.filter((t) => autos[t] && autos[t].requests > 0)
        .map((t) => t + ' ' + autos[t].requests + ' req, ' + fmtBytes(autos[t].response_bytes) + ' ↓');
      $('auto-ledger').textContent = 'ledger (what each transport cost this client): ' + (used.join(' · ') || '–');
    }
  } catch (e) {
    // The next refresh tries again.
  }
  setTimeout(refreshLedger, LEDGER_EVERY_MS);
}

// --- start ---

async function start() {
  // `?upgrade=1`: the auto client starts in upgrade mode (a link can show it straight away).
  if (params.get('upgrade') === '1') $('lab-upgrade').checked = true;
  // `?heartbeat=S`: the streams and sockets ask for heartbeats that often from the start.
  if (params.get('heartbeat')) $('lab-heartbeat').value = params.get('heartbeat');
  $('lab-client').textContent = CLIENT;
  $('lab-client-auto').textContent = AUTO;
  $('lab-room').textContent = ROOM;
  document.body.dataset.client = CLIENT;
  document.body.dataset.room = ROOM;
  // The faults this id already has (a page opened with ?client= after a teacher set some).
  try {
    const r = await fetch('/api/lab?client=' + encodeURIComponent(CLIENT), { cache: 'no-store' });
    const body = await r.json();
    if (r.ok) {
      fillForm(body.faults);
      showWhy(body.faults);
    } else {
      status.textContent = body.error;
      status.classList.add('bad');
    }
  } catch (e) {
    status.textContent = 'the server did not answer';
  }
  // A room of its own starts from its beginning; a shared one from its newest message.
  let since = 0;
  if (params.get('room')) {
    try {
      const r = await fetch('/api/poll?room=' + encodeURIComponent(ROOM), { cache: 'no-store' });
      if (r.ok) since = (await r.json()).cursor;
    } catch (e) {
      // From 0, then.
    }
  }
  startAuto(since);
  for (const p of plain) startPlain(p, since);
  window.addEventListener('pagehide', () => {
    auto.close();
    for (const p of plain) p.client.close();
  });
  window.addEventListener('pageshow', (e) => { if (e.persisted) location.reload(); });
  // Once the clients have asked for something: before, the ledger does not know their ids (404).
  setTimeout(refreshLedger, LEDGER_EVERY_MS);
  document.body.dataset.ready = 'yes';
}

start();
