// transport-lab, `/walkthrough`: classroom mode. A fixed sequence of steps (short poll, long
// poll, stream, SSE, WebSocket, compare); each step starts the transports it teaches on the live
// demo panels (demo.js), sends a burst, highlights the counters that answer its question.
// The last step leaves the panels for two clients of its own, one per room.
// Keys: → / space / PageDown next, ← / PageUp back (presentation clickers send PageUp/PageDown).
'use strict';

(function () {
  // Hold the panels until a step starts the ones it needs (demo.js reads this after its first await).
  document.body.dataset.autostart = 'no';
  const NAMES = TL.LABELS;

  const wait = (ms) => new Promise((r) => setTimeout(r, ms));

  const STEPS = [
    {
      title: '1. Short polling',
      text: 'The browser asks "anything new?" every second, and the server answers at once. ' +
        'We just sent 3 messages. Watch requests and empty answers keep climbing while nothing happens.',
      question: 'How many requests did it take to deliver 3 messages? How many answers were empty, and what did each cost?',
      show: ['poll'], hot: { poll: ['requests', 'empty', 'per_message'] },
      run: async (d) => { d.panels.poll.client.interval = 1000; await wait(1500); await d.burst('poll', 3, 'teacher'); },
    },
    {
      title: '2. Long polling',
      text: 'Now the server holds each request until it has news. Same 5 messages sent to both: ' +
        'compare the requests, and the bytes per message.',
      question: 'Requests per message for the long poll? Why is it still not cheap (look at bytes / msg)?',
      show: ['poll', 'longpoll'], hot: { poll: ['requests'], longpoll: ['requests', 'messages', 'per_message'] },
      run: async (d) => { await wait(1500); await d.burst('poll', 5, 'teacher'); },
    },
    {
      title: '3. HTTP streaming',
      text: 'One request, a response that never ends: each message is a chunk of the same body. ' +
        'Send another burst and watch the request counter of the stream.',
      question: 'How many requests has the stream made? How many bytes does one message cost compared with its payload?',
      show: ['longpoll', 'stream'], hot: { longpoll: ['per_message'], stream: ['requests', 'per_message', 'ratio'] },
      run: async (d) => { await wait(1500); await d.burst('stream', 5, 'teacher'); },
    },
    {
      title: '4. Server-Sent Events',
      text: 'The browser\'s EventSource keeps one response open, like the stream. We now cut its ' +
        'connection and send 5 messages while it is down. It comes back with its cursor.',
      question: 'Did the SSE panel lose any message? Read the detector: gaps, duplicates, reordered.',
      show: ['sse'], hot: { sse: ['ratio'] }, detector: ['sse'],
      run: async (d) => {
        await wait(1500);
        d.panels.sse.client.drop();
        await d.burst('sse', 5, 'teacher');
      },
    },
    {
      title: '5. WebSocket',
      text: 'One upgrade request, then small frames both ways. This time the messages are sent on ' +
        'the socket itself instead of a POST.',
      question: 'Compare bytes up with the SSE panel, which had to POST its messages. Where did the headers go?',
      show: ['sse', 'ws'], hot: { sse: ['up'], ws: ['up', 'per_message', 'ratio'] },
      run: async (d) => {
        await wait(1500);
        await d.burst('sse', 5, 'teacher');
        await d.burst('ws', 5, 'teacher');
      },
    },
    {
      title: '6. Compare',
      text: 'All five at once, 10 more messages. The table sums up each transport\'s ledger for this page. ' +
        'More on the overhead page (/overhead), with a capacity projector.',
      question: 'For 10,000 clients and one message a second, which would you pick, and what would it cost per message?',
      show: TL.TRANSPORTS, hot: {}, compare: true,
      run: async (d) => { await wait(1500); await d.burst('ws', 10, 'teacher'); },
    },
    {
      title: '7. Two groups, two rooms',
      text: 'Two clients, each an EventSource: one in room group-a, one in room group-b. ' +
        'We post one message to group-a. Rooms are separate logs, each with its own ids.',
      question: 'Who received the message? What id did it get, and why does group-b still count from its own 0?',
      show: [], hot: {}, rooms: true,
      run: async () => { await roomsDemo(); },
    },
  ];

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
        const c = TL.create('sse', demo.clientId + '-' + room, newest.id, {
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

  let index = 0;
  let demo = null;

  function render() {
    const step = STEPS[index];
    document.getElementById('step-n').textContent = String(index + 1);
    document.getElementById('step-total').textContent = String(STEPS.length);
    document.getElementById('step-title').textContent = step.title;
    document.getElementById('step-text').textContent = step.text;
    document.getElementById('step-question').textContent = step.question;
    document.getElementById('compare').hidden = !step.compare;
    document.getElementById('rooms-demo').hidden = !step.rooms;
    if (!step.rooms) stopGroups();
    const panels = document.getElementById('panels');
    panels.classList.toggle('few', step.show.length < 5);
    for (const t of Object.keys(demo.panels)) {
      const p = demo.panels[t];
      const shown = step.show.includes(t);
      p.el.classList.toggle('hidden', !shown);
      p.el.classList.toggle('focus', !!(step.detector && step.detector.includes(t)));
      for (const box of p.el.querySelectorAll('[data-stat-box]')) {
        box.classList.toggle('hot', (step.hot[t] || []).includes(box.dataset.statBox));
      }
      if (shown && !p.client.running) p.resume();
      if (!shown && p.client.running) p.pause();
    }
    document.body.dataset.step = String(index + 1);
  }

  async function run() {
    render();
    const step = STEPS[index];
    const mine = index;
    try {
      await step.run(demo);
      if (mine === index) demo.say('step ' + (index + 1) + ': messages sent');
    } catch (e) {
      demo.say('step could not send: ' + e.message, true);
    }
  }

  function go(delta) {
    const next = Math.max(0, Math.min(STEPS.length - 1, index + delta));
    if (next === index) return;
    index = next;
    run();
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

  document.addEventListener('tl-ready', () => {
    demo = window.TLDemo;
    document.getElementById('next').addEventListener('click', () => go(1));
    document.getElementById('prev').addEventListener('click', () => go(-1));
    document.getElementById('again').addEventListener('click', run);
    document.addEventListener('tl-stats', (e) => compareTable(e.detail));
    TL.onLeave(stopGroups);
    document.addEventListener('keydown', (e) => {
      if (e.target.closest && e.target.closest('input, select, textarea, button')) return;
      if (e.key === 'ArrowRight' || e.key === ' ' || e.key === 'PageDown') { e.preventDefault(); go(1); }
      if (e.key === 'ArrowLeft' || e.key === 'PageUp') { e.preventDefault(); go(-1); }
    });
    run();
  });
})();
