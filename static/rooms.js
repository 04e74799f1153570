// transport-lab, page `/`: the room picker. Join (or create) a room by name, see every room with
// how many people are in it on each transport, and follow a room's link. The list is the
// server's presence (`GET /api/rooms`) read every 2 s; switching moves all five panels (demo.js).
'use strict';

(function () {
  const REFRESH_MS = 2000;
  const form = document.getElementById('room-form');
  const input = document.getElementById('room-name');
  const status = document.getElementById('room-status');
  const current = document.getElementById('room-current');
  const people = document.getElementById('room-people');
  const link = document.getElementById('room-link');
  const list = document.getElementById('room-list');
  let demo = null;
  let timer = null;

  function say(text, bad) {
    status.textContent = text;
    status.classList.toggle('bad', !!bad);
  }

  function plural(n, one, many) { return n + ' ' + (n === 1 ? one : many); }

  function roomUrl(name) {
    return name === TL.DEFAULT_ROOM ? '/' : '/?room=' + encodeURIComponent(name);
  }

  function showCurrent(name) {
    current.textContent = 'Room ' + name;
    link.href = roomUrl(name);
    if (document.activeElement !== input) input.value = name;
  }

  async function join(name) {
    name = name.trim();
    try {
      await demo.switchRoom(name, true);
      say('in ' + name);
      refresh();
    } catch (e) {
      // The server's own words: the 400 says what the rule is.
      say('not joined: ' + e.message, true);
    }
  }

  function cell(text) {
    const td = document.createElement('td');
    td.textContent = String(text);
    return td;
  }

  function render(body) {
    const here = demo.room();
    const rooms = body.rooms || [];
    const mine = rooms.find((r) => r.room === here);
    const n = mine ? mine.members : 0;
    const by = mine ? mine.by_transport : {};
    people.textContent = plural(n, 'person', 'people') + ' (' +
      TL.TRANSPORTS.map((t) => TL.LABELS[t] + ' ' + (by[t] || 0)).join(', ') + ')';
    people.dataset.members = String(n);
    const rows = rooms.map((r) => {
      const tr = document.createElement('tr');
      tr.dataset.room = r.room;
      if (r.room === here) tr.className = 'here';
      const name = document.createElement('td');
      const a = document.createElement('a');
      a.href = roomUrl(r.room);
      a.textContent = r.room;
      a.addEventListener('click', (e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        join(r.room);
      });
      name.append(a);
      tr.append(name, cell(r.members));
      for (const t of TL.TRANSPORTS) tr.append(cell((r.by_transport || {})[t] || 0));
      tr.append(cell(r.room === here ? 'you are here' : ''));
      return tr;
    });
    list.replaceChildren(...rows);
    list.dataset.loaded = 'yes';
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const r = await fetch('/api/rooms', { cache: 'no-store' });
      if (r.ok) render(await r.json());
    } catch (e) {
      // The panels say when the server is gone; the list just waits for the next round.
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  TL.whenDemoReady(() => {
    demo = window.TLDemo;
    showCurrent(demo.room());
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      join(input.value);
    });
    document.addEventListener('tl-room', (e) => { showCurrent(e.detail); refresh(); });
    TL.onLeave(() => clearTimeout(timer));
    refresh();
  });
})();
