// transport-lab, `/walkthrough`: classroom mode. A fixed sequence of steps; each starts the
// transports it teaches on the demo panels (demo.js), sends a burst and highlights the counters
// that answer its question. Nothing is sent until the presenter presses a key (students open this
// page too); each step counts from zero (a new ledger client id, cursors at the newest message).
// The rooms step uses two clients of its own; the hostile step's work is in hostile.js.
// Keys: → / space / PageDown next, ← / PageUp back (what clickers send); n shows or hides the
// teacher's notes, hidden unless asked for so the projected page never shows them.
//
// A note's live number is a `data-live="TRANSPORT.FIELD"` span (FIELD: a ledger figure of the
// step's client id, or received / gaps / dups of the panel's detector), or `ROOM.received` for the
// rooms step; they are filled from every counters update and detector change.
'use strict';

(function () {
  // Hold the panels until a step starts the ones it needs (demo.js reads this after its first await).
  document.body.dataset.autostart = 'no';
  const NAMES = TL.LABELS;

  const wait = (ms) => new Promise((r) => setTimeout(r, ms));

  // What each step does; its words are the page's `#steps > li` of the same number. `show`: the
  // panels it starts, `hot`: the counters that answer its question.
  const STEPS = [
    {
      show: ['poll'], hot: { poll: ['requests', 'empty', 'per_message'] },
      run: async (d) => { d.panels.poll.client.interval = 1000; await wait(1500); await d.burst('poll', 3, 'teacher'); },
    },
    {
      show: ['poll', 'longpoll'], hot: { poll: ['requests'], longpoll: ['requests', 'messages', 'per_message'] },
      run: async (d) => { await wait(1500); await d.burst('poll', 5, 'teacher'); },
    },
    {
      show: ['longpoll', 'stream'], hot: { longpoll: ['per_message'], stream: ['requests', 'per_message', 'ratio'] },
      run: async (d) => { await wait(1500); await d.burst('stream', 5, 'teacher'); },
    },
    {
      show: ['sse'], hot: { sse: ['ratio'] }, detector: ['sse'],
      run: async (d) => {
        await wait(1500);
        d.panels.sse.client.drop();
        await d.burst('sse', 5, 'teacher');
      },
    },
    {
      show: ['sse', 'ws'], hot: { sse: ['up'], ws: ['up', 'per_message', 'ratio'] },
      run: async (d) => {
        await wait(1500);
        await d.burst('sse', 5, 'teacher');
        await d.burst('ws', 5, 'teacher');
      },
    },
    {
      show: TL.TRANSPORTS, hot: {}, compare: true,
      run: async (d) => { await wait(1500); await d.burst('ws', 10, 'teacher'); },
    },
    {
      show: [], hot: {}, rooms: true,
      run: async () => { await roomsDemo(); },
    },
    {
      show: ['sse', 'stream'], hot: {}, detector: ['sse'], hostile: true,
      before: async (d) => { await (await hostile()).breakNetwork(d); },
      run: async (d) => { await (await hostile()).run(d, () => !!STEPS[index].hostile); },
    },
  ];
  const WORDS = Array.from(document.querySelectorAll('#steps > li'));
  if (WORDS.length !== STEPS.length) throw new Error('walkthrough: ' + WORDS.length + ' steps on the page, ' + STEPS.length + ' in walkthrough.js');

  // The rooms step: two SSE clients in two rooms, then one POST to the first.
  const GROUPS = ['group-a', 'group-b'];
  let groupClients = [];

  function stopGroups() {
    for (const c of groupClients) c.stop();
    groupClients = [];
  }

  async function roomsDemo() {
    stopGroups();
    const box = document.getElementById('rooms-demo');
    const opened = GROUPS.map(async (room) => {
      const el = box.querySelector('[data-room="' + room + '"]');
      const list = el.querySelector('[data-role=messages]');
      const state = el.querySelector('[data-role=state]');
      list.replaceChildren();
      el.dataset.received = '0';
      // From the room's newest message: only what is sent from now on shows.
      const newest = await TL.newest(room);
      return new Promise((resolve) => {
        const c = TL.create('sse', demo.clientId() + '-' + room, newest.id, {
          onMessage: (m) => {
            const li = document.createElement('li');
            li.dataset.id = String(m.id);
            li.textContent = '#' + m.id + ' in ' + m.room + ': ' + m.user + ': ' + m.text;
            list.prepend(li);
            el.dataset.received = String(Number(el.dataset.received) + 1);
          },
          onGap: () => {},
          onState: (text, cls) => {
            state.textContent = text;
            if (cls === 'live') resolve();
          },
        }, newest.epoch);
        c.room = room;
        groupClients.push(c);
        c.start();
      });
    });
    await Promise.all(opened);
    const r = await fetch('/api/messages?room=group-a', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'teacher', text: 'only for group-a' }),
    });
    const sent = await r.json().catch(() => ({}));
    if (r.status !== 201) throw new Error(sent.error || ('HTTP ' + r.status));
  }

  let hostileModule = null;
  function hostile() {
    hostileModule = hostileModule || import('/static/hostile.js').catch((e) => { hostileModule = null; throw e; });
    return hostileModule;
  }
  // Clears the hostile step's faults, if it ran: when it is left or run again.
  function leaveHostile() {
    return hostileModule ? hostileModule.then((m) => m.leave(), () => {}) : Promise.resolve();
  }

  let index = 0;
  // Whether the presenter has started the current step: nothing is sent before the first key.
  let started = false;
  let demo = null;

  // Shows step `index`: its words, its panels (hidden ones paused), its hot counters. Runs before
  // the panels exist too (demo === null), so the first paint already has the first step's layout.
  function render() {
    const step = STEPS[index];
    WORDS.forEach((li, i) => { li.hidden = i !== index; });
    document.getElementById('step-n').textContent = String(index + 1);
    document.getElementById('step-total').textContent = String(STEPS.length);
    document.getElementById('compare').hidden = !step.compare;
    document.getElementById('rooms-demo').hidden = !step.rooms;
    if (!step.rooms) stopGroups();
    const auto = document.getElementById('auto-panel');
    auto.hidden = !step.hostile;
    // The step starts it: no button for the presenter.
    auto.querySelector('.auto-start').hidden = true;
    if (!step.hostile) leaveHostile();
    const panels = document.getElementById('panels');
    panels.classList.toggle('few', step.show.length < 5);
    panels.classList.toggle('brief', !!step.compare);
    for (const el of panels.querySelectorAll('.panel[data-transport]')) {
      const t = el.dataset.transport;
      el.classList.toggle('hidden', !step.show.includes(t));
      el.classList.toggle('focus', !!(step.detector && step.detector.includes(t)));
      for (const box of el.querySelectorAll('[data-stat-box]')) {
        box.classList.toggle('hot', (step.hot[t] || []).includes(box.dataset.statBox));
      }
    }
    document.body.dataset.step = String(index + 1);
  }

  // Starts step `index`: counters from zero (a new client id for the ledger), cursors at the
  // room's newest message (no history in the lists), its panels running, then its messages.
  async function run() {
    started = true;
    document.getElementById('step-keys').textContent = '← → space PageUp PageDown to move';
    render();
    const step = STEPS[index];
    const mine = index;
    try {
      lastSnap = null;
      fillNotes();
      await leaveHostile();
      await demo.restart();
      if (mine !== index) return;
      if (step.before) await step.before(demo);
      for (const t of step.show) demo.panels[t].resume();
      await step.run(demo);
      if (mine === index) demo.say('step ' + (index + 1) + ': messages sent');
    } catch (e) {
      demo.say('step could not send: ' + e.message, true);
    }
  }

  function go(delta) {
    if (!demo) return;
    // The first forward key starts the step on screen rather than skipping it.
    if (!started && delta > 0) { run(); return; }
    const next = Math.max(0, Math.min(STEPS.length - 1, index + delta));
    if (next === index) return;
    index = next;
    run();
  }

  // Keys for the whole page, whatever has focus (a clicked button keeps it), except while typing:
  // presentation clickers send PageDown / PageUp, some send the arrows.
  const FORWARD = ['ArrowRight', 'PageDown', ' '];
  const BACK = ['ArrowLeft', 'PageUp'];
  const NOTES = ['n', 'N'];
  const typing = (t) => !!(t && t.closest && t.closest('input, textarea, select, [contenteditable]'));
  document.addEventListener('keydown', (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || typing(e.target)) return;
    // The reset's confirmation has the keys while it is open.
    if (document.querySelector('dialog[open]')) return;
    if (NOTES.includes(e.key)) {
      e.preventDefault();
      toggleNotes();
      return;
    }
    const delta = FORWARD.includes(e.key) ? 1 : BACK.includes(e.key) ? -1 : 0;
    if (!delta) return;
    e.preventDefault();
    go(delta);
  }, true);
  // A focused button (or summary) "clicks" when space is let go: the keydown already moved.
  document.addEventListener('keyup', (e) => {
    if (e.key === ' ' && !typing(e.target)) e.preventDefault();
  }, true);

  render();

  // The teacher's notes: fetched on the first n (they are not in the page the class opens), each
  // step's <aside> put in its <li>, so it shows and hides with its step.
  let notesLoaded = null;
  function loadNotes() {
    notesLoaded = notesLoaded || fetch('/walkthrough/notes', { cache: 'no-store' })
      .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.text(); })
      .then((html) => {
        // A parsed document runs no script: the fragment is only markup to move into the steps.
        const doc = new DOMParser().parseFromString(html, 'text/html');
        for (const aside of doc.querySelectorAll('aside.teacher-notes[data-step]')) {
          const li = document.querySelector('#steps > li[data-step="' + aside.dataset.step + '"]');
          if (li) li.append(document.adoptNode(aside));
        }
      })
      .catch((e) => { notesLoaded = null; if (demo) demo.say('no teacher\'s notes: ' + e.message, true); });
    return notesLoaded;
  }
  async function toggleNotes() {
    const on = !document.body.classList.contains('notes-on');
    if (on) await loadNotes();
    document.body.classList.toggle('notes-on', on);
    document.body.dataset.notes = on ? 'shown' : 'hidden';
    fillNotes();
  }

  // The teacher's notes' live numbers, from the newest counters of the step and the detectors.
  let lastSnap = null;
  function fillNotes() {
    for (const span of document.querySelectorAll('.teacher-notes [data-live]')) {
      const [who, field] = span.dataset.live.split('.');
      span.textContent = liveValue(who, field);
    }
  }
  function liveValue(who, field) {
    const room = document.querySelector('#rooms-demo [data-room="' + who + '"]');
    if (room) return room.dataset.received || '0';
    if (who === 'auto') {
      const a = document.getElementById('auto-panel');
      return field === 'transport' ? a.dataset.on || '–' : a.querySelector('[data-role=auto-detector]').dataset[field];
    }
    const det = document.querySelector('#panel-' + who + ' [data-role=detector]');
    if (field === 'received' || field === 'gaps' || field === 'dups') return det ? det.dataset[field] : '–';
    if (!lastSnap || !lastSnap.transports[who]) return '–';
    const f = TL.figures(lastSnap.transports[who]);
    // The page's data-stat names (per_message), the figures' keys (perMessage).
    const v = f[field.replace(/_([a-z])/g, (_, c) => c.toUpperCase())];
    if (v === null || v === undefined) return '–';
    return field === 'ratio' ? v.toFixed(2) : String(Math.round(v));
  }

  function compareTable(snap) {
    if (!STEPS[index].compare) return;
    const rows = TL.TRANSPORTS.map((t) => {
      const f = TL.figures(snap.transports[t]);
      const tr = document.createElement('tr');
      const cells = [NAMES[t], f.requests, f.messages,
        f.messages ? (f.requests / f.messages).toFixed(2) : '–',
        f.perMessage === null ? '–' : f.perMessage.toFixed(0),
        f.ratio === null ? '–' : f.ratio.toFixed(2)];
      for (const c of cells) { const td = document.createElement('td'); td.textContent = String(c); tr.append(td); }
      return tr;
    });
    document.getElementById('compare-body').replaceChildren(...rows);
  }

  // The teacher's reset: POST /api/reset?room=NAME after a confirmation. From the server's own
  // machine no token is needed; elsewhere the server answers 403, and the dialog asks for the token
  // the server printed at start.
  function wireReset() {
    const $ = (id) => document.getElementById(id);
    const dialog = $('reset-dialog');
    const status = (text, bad) => { $('reset-status').textContent = text; $('reset-status').classList.toggle('bad', !!bad); };
    $('reset-open').addEventListener('click', () => {
      $('reset-room').textContent = demo.room();
      status('');
      dialog.showModal();
    });
    $('reset-cancel').addEventListener('click', () => dialog.close());
    $('reset-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const token = $('reset-token').value.trim();
      const headers = token ? { Authorization: 'Bearer ' + token } : {};
      status('starting over…');
      try {
        const r = await fetch('/api/reset?room=' + encodeURIComponent(demo.room()), { method: 'POST', headers: headers });
        const body = await r.json().catch(() => ({}));
        if (r.status === 403 && !token) {
          $('reset-token-row').hidden = false;
          $('reset-token').focus();
          status(body.error || 'refused', true);
          return;
        }
        if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
        dialog.close();
        // The step on screen runs again from nothing on the next forward key.
        started = false;
        stopGroups();
        await demo.restart();
        document.getElementById('step-keys').textContent = 'the room started over: → or space runs this step';
        document.body.dataset.reset = body.epoch;
        demo.say('room ' + body.room + ' started over (epoch ' + body.epoch + '; ' + body.dropped +
          ' messages and its counters cleared)');
      } catch (err) {
        status('not started over: ' + err.message, true);
      }
    });
  }

  TL.whenDemoReady(() => {
    demo = window.TLDemo;
    wireReset();
    document.getElementById('next').addEventListener('click', () => go(1));
    document.getElementById('prev').addEventListener('click', () => go(-1));
    document.getElementById('again').addEventListener('click', run);
    document.addEventListener('tl-stats', (e) => { lastSnap = e.detail; compareTable(e.detail); fillNotes(); });
    // Detectors change between two counters updates (and the rooms step has no counters).
    setInterval(fillNotes, 1000);
    TL.onLeave(stopGroups);
    TL.onLeave(leaveHostile);
    render();
  });
})();
