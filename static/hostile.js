// transport-lab, the walkthrough's step "the network is hostile", imported by walkthrough.js when
// the step runs (the page's 100 KB budget cannot carry it, and lab-client.js, on every load).
//
// It sets a buffering proxy that also strips Upgrade (`/api/lab`) for the step's own two client
// ids only, the page's (its SSE and stream panels stall) and the auto client's (auto.js, which
// falls back: ws refused, SSE held back, long polling), then sends 5 messages. Leaving the step
// (or running it again) clears those faults: the rest of the class never had them.

import * as auto from '/static/auto.js';

const FAULTS = { refuse_upgrade: true, buffer_kib: 8 };
// How long the auto client may take to find a transport that works before the messages go anyway.
const FIND_MS = 20000;

// The client ids whose faults this step set.
let faulted = [];

async function lab(id, faults) {
  const r = await fetch('/api/lab?client=' + encodeURIComponent(id), faults === null
    ? { method: 'DELETE', keepalive: true }
    : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(faults) });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    throw new Error('faults for ' + id + ': ' + (body.error || ('HTTP ' + r.status)));
  }
}

/** Sets the faults for the step's ids: before its panels connect, so they meet them at once. */
export async function breakNetwork(demo) {
  const ids = [demo.clientId(), demo.clientId() + '-auto'];
  faulted = faulted.concat(ids);
  // The stalled panels are the proxy's doing: not "queued by the browser" (TL.watchQueue).
  document.body.dataset.faults = 'on';
  await Promise.all(ids.map((id) => lab(id, FAULTS)));
}

/** Starts the auto client at the room's newest message, and sends 5 messages once it is live
 * (so they show where it ended). `current()`: whether the step is still on. */
export async function run(demo, current) {
  const newest = await TL.newest(demo.room());
  if (!current()) return;
  const chat = auto.start(demo.clientId() + '-auto', demo.room(), auto.cursor(newest, newest.id));
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));
  for (let waited = 0; chat.state !== 'live' && waited < FIND_MS; waited += 250) await wait(250);
  if (auto.connection() !== chat || !current()) return;
  await demo.burst('sse', 5, 'teacher');
}

/** Stops the auto client and clears the faults this step set. */
export function leave() {
  auto.stop();
  delete document.body.dataset.faults;
  const ids = faulted;
  faulted = [];
  return Promise.all(ids.map((id) => lab(id, null).catch(() => {})));
}
