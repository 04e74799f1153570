// transport-lab, `/` and the walkthrough: the "auto" panel, one client of lab-client.js beside the
// six transport panels. It picks its transport itself (WebSocket first) and falls back when one
// cannot work here; the panel shows the transport it is on, its newest state changes, its own id
// check (received / gaps / duplicates) and its messages.
//
// Its ledger and lab client id is the page's own + `-auto`: the ledger keeps it apart from the six
// panels, and the lab can break its network alone. demo.js imports this module (and so
// lab-client.js) only when the panel is started, its "Start" button on `/` (then it follows the
// page into another room) or the walkthrough's hostile step: some 30 KB the page's 100 KB budget
// cannot carry on every load.

import { connect } from '/static/lab-client.js';

const MAX_SHOWN = 60;
// The state log keeps the newest few: what the client just did, not its whole life.
const MAX_LOG = 5;
// A stream that has not said `ready` by then is held back on the way (a buffering proxy).
const READY_MS = 3000;

const el = document.getElementById('auto-panel');
const q = (role) => el.querySelector('[data-role="' + role + '"]');
let chat = null;
let seen = new Set();
let highest = null;
const counts = { received: 0, gaps: 0, dups: 0 };

function detector() {
  const d = q('auto-detector');
  d.dataset.received = String(counts.received);
  d.dataset.gaps = String(counts.gaps);
  d.dataset.dups = String(counts.dups);
  d.textContent = 'received ' + counts.received + ' · gaps ' + counts.gaps + ' · duplicates ' + counts.dups;
  d.classList.toggle('bad', counts.gaps + counts.dups > 0);
}

function log(text) {
  const li = document.createElement('li');
  li.textContent = text;
  q('auto-log').prepend(li);
  while (q('auto-log').children.length > MAX_LOG) q('auto-log').lastChild.remove();
}

// The page's own check, by id, of what the client's cursor promises: a repeat is a duplicate, a
// jump a gap (after a server notice the next id starts a new run).
function receive(m, via) {
  if (seen.has(m.id)) {
    counts.dups++;
  } else {
    seen.add(m.id);
    if (highest !== null && m.id > highest + 1) counts.gaps += m.id - highest - 1;
    if (highest === null || m.id > highest) highest = m.id;
    counts.received++;
  }
  const li = document.createElement('li');
  li.dataset.id = String(m.id);
  li.dataset.transport = via.transport;
  const id = document.createElement('span');
  id.className = 'mid';
  id.textContent = '#' + m.id;
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = m.user;
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = m.text;
  const how = document.createElement('span');
  how.className = 'lat';
  how.textContent = 'via ' + via.transport;
  li.append(id, who, text, how);
  q('auto-messages').prepend(li);
  while (q('auto-messages').children.length > MAX_SHOWN) q('auto-messages').lastChild.remove();
  detector();
}

function state(text, detail) {
  log(text);
  const on = (chat && chat.transport) || detail.transport || '';
  el.dataset.state = detail.state;
  el.dataset.on = on;
  q('auto-transport').textContent = on || '–';
  const badge = q('auto-state');
  badge.textContent = detail.state;
  badge.className = 'state ' + (detail.state === 'live' ? 'live' : detail.state === 'closed' ? '' : 'wait');
}

/** Stops the client (if any); the panel keeps what it showed. */
export function stop() {
  if (chat) chat.close();
  chat = null;
}

/** Starts the client afresh as `client` in `room` at cursor `since` (`"EPOCH-N"` or `N`). */
export function start(client, room, since) {
  stop();
  seen = new Set();
  highest = Number(String(since).split('-').pop());
  for (const k of Object.keys(counts)) counts[k] = 0;
  q('auto-messages').replaceChildren();
  q('auto-log').replaceChildren();
  detector();
  q('auto-client').textContent = client;
  el.dataset.client = client;
  el.querySelector('.auto-start').hidden = true;
  chat = connect(location.origin, {
    room: room,
    since: since,
    client: client,
    user: 'auto',
    readyTimeoutMs: READY_MS,
    onMessage: receive,
    onState: state,
    onGap: (notice) => {
      // A reset starts the ids again; a notice of missed messages explains the jump that follows.
      if (notice.reset) seen.clear();
      highest = null;
    },
  });
  return chat;
}

/** The client now, or null. */
export function connection() {
  return chat;
}

/** A cursor `newest.id`-like `id` in the epoch of `newest` (from `TL.newest`). */
export function cursor(newest, id) {
  return newest.epoch ? newest.epoch + '-' + id : String(id);
}

async function join(demo) {
  const newest = await TL.newest(demo.room());
  start(demo.clientId() + '-auto', demo.room(), cursor(newest, Math.max(0, newest.id - 5)));
}

let following = false;
/** Starts the client in the page's room, a few messages back as the panels are, and moves it
 * with the page to another room. */
export async function follow(demo) {
  if (!following) {
    following = true;
    document.addEventListener('tl-room', () => { join(demo).catch((e) => log('not moved: ' + e.message)); });
  }
  await join(demo);
}

TL.onLeave(stop);
