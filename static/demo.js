// transport-lab, page `/` (and the walkthrough): five panels, each a live client of its own
// transport, one compose box, per-panel counters from the server's ledger, and per-panel
// gap / duplicate / reorder detection by message id.
//
// The panels share one ledger client id (this page load), each counted under its own transport,
// so one poll of /api/stats a second reads all their counters (a stream would hold another of the
// browser's six HTTP/1.1 connections). The one id also makes "to others" work: the server leaves
// out the client id a send names in `except`. TL.watchQueue (transports.js) reports requests the
// browser holds back for want of a connection.
//
// The panels are in one room, the URL's (`?room=math`, else `lobby`); switchRoom() moves them
// all, each reconnecting with a cursor of the new room.
'use strict';

(function () {
  const MAX_SHOWN = 60;
  const SPARK_POINTS = 60;
  // A new one per walkthrough step (restart()), so that step's counters start from zero.
  let clientId = TL.newClientId('page');
  // The counters are polled (GET /api/stats?client=ID) once a second rather than streamed: a
  // stream would hold one of the browser's six connections to this server for as long as the page
  // is open (see transports.js), and this page's long poll, stream and SSE panels hold three.
  const STATS_EVERY_MS = 1000;
  let statsTimer = null;
  // The server has answered a request under the current client id, so its ledger knows it (asking
  // before would be a 404, and a console error).
  let clientKnown = false;
  // The newest snapshot, { at, stats }: the queue watch reads long polls off it.
  let lastSnapshot = null;
  // How many restart() calls began: only the latest one sets the panels up.
  let restarts = 0;
  const panels = {};
  // Server clock minus ours, estimated from our own POSTs; latency is measured against it.
  let clockOffset = 0;
  // Messages up to this id were already in the room when the page opened: shown as history.
  let liveFrom = Infinity;
  // How many of the servers that answered a panel it shows, newest last.
  const NODES_SHOWN = 6;
  // The room all the panels are in.
  let room = TL.roomFromUrl();
  const status = document.getElementById('c-status');

  // Each panel's body, from the page's one <template>, at once (before any await), so the scripts
  // after this one find the panels whole. Its controls and list are named for their panel
  // ("Pause SSE", "SSE messages"): six buttons called just "Pause" could not be told apart.
  function buildPanels() {
    const body = document.getElementById('panel-body');
    if (!body) return;
    for (const el of document.querySelectorAll('.panel[data-transport]')) {
      if (el.querySelector('[data-role=messages]')) continue;
      el.append(body.content.cloneNode(true));
      const name = el.querySelector('h2').textContent.trim();
      el.querySelector('[data-act=pause]').setAttribute('aria-label', 'Pause ' + name);
      el.querySelector('[data-act=drop]').setAttribute('aria-label', 'Drop connection ' + name);
      el.querySelector('[data-role=messages]').setAttribute('aria-label', name + ' messages');
    }
  }
  buildPanels();
  const idLabel = document.getElementById('client-id');
  if (idLabel) idLabel.textContent = clientId;

  function say(text, bad) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle('bad', !!bad);
  }

  class Panel {
    constructor(el, transport, since, epoch) {
      this.el = el;
      this.t = transport;
      this.q = (role) => el.querySelector('[data-role="' + role + '"]');
      this.list = this.q('messages');
      this.stateEl = this.q('state');
      this.det = this.q('detector');
      this.seen = new Set();
      this.highest = since;
      this.counts = { received: 0, gaps: 0, dups: 0, reorders: 0, notices: 0 };
      this.samples = [];
      this.lastTotal = null;
      // The servers that answered, newest last (see node()).
      this.nodes = [];
      this.client = TL.create(transport, clientId, since, {
        onMessage: (m) => this.receive(m),
        onGap: (missed, reset) => this.notice(missed, reset),
        onState: (text, cls) => this.state(text, cls),
        onAnswered: () => { if (this.client.clientId === clientId) clientKnown = true; },
        onNode: (node) => this.node(node),
      }, epoch);
      this.client.room = room;
      el.querySelector('[data-act="pause"]').addEventListener('click', () => this.toggle());
      el.querySelector('[data-act="drop"]').addEventListener('click', () => this.client.drop());
    }
    state(text, cls) {
      this.stateEl.textContent = text;
      this.stateEl.className = 'state ' + (cls || '');
    }
    // Behind a load balancer polls alternate between servers ("a b a b"); a stream stays with one.
    // Only servers on a shared bus name themselves, so a lone server's page is unchanged.
    node(name) {
      const el = this.q('node');
      if (!el) return;
      this.nodes = this.nodes.concat(name).slice(-NODES_SHOWN);
      el.hidden = false;
      el.title = 'the servers that answered this panel, newest last';
      el.dataset.node = name;
      el.textContent = 'node ' + this.nodes.join(' ');
    }
    toggle() {
      if (this.client.running) this.pause(); else this.resume();
    }
    pause() {
      this.client.stop();
      this.pauseButton('Resume', true);
    }
    resume() {
      this.client.start();
      this.pauseButton('Pause', false);
    }
    // The word shown, and for screen readers the same word with the panel's name ("Pause SSE"):
    // six buttons called just "Pause" could not be told apart.
    pauseButton(word, pressed) {
      const b = this.el.querySelector('[data-act="pause"]');
      b.textContent = word;
      b.setAttribute('aria-label', word + ' ' + this.el.querySelector('h2').textContent.trim());
      b.setAttribute('aria-pressed', String(pressed));
    }
    // Forgets what the panel showed and counted: ids start from 1 again in another room.
    reset(since) {
      this.seen.clear();
      this.highest = since;
      this.resync = false;
      for (const k of Object.keys(this.counts)) this.counts[k] = 0;
      this.list.replaceChildren();
      this.detector();
    }
    // The ledger's figures back to nothing, for a new client id.
    zero() {
      for (const dd of this.el.querySelectorAll('[data-stat]')) {
        const dash = dd.dataset.stat === 'per_message' || dd.dataset.stat === 'ratio';
        dd.textContent = dash ? '–' : '0';
        dd.dataset.value = dash ? '' : '0';
      }
      for (const span of this.q('split').children) span.style.width = '0';
      this.q('legend').textContent = '';
      this.samples = [];
      this.lastTotal = null;
      this.spark();
    }
    // The detector: ids are consecutive, so a jump is a gap, a repeat a duplicate, a step back
    // a reorder. A gap the server announced (history overflow) is shown as a notice, not hidden.
    receive(m) {
      const c = this.counts;
      if (this.seen.has(m.id)) {
        c.dups++;
      } else {
        this.seen.add(m.id);
        if (this.resync) {
          // After a server notice the next id starts a new run (the notice accounted for the jump).
          this.resync = false;
          this.highest = m.id - 1;
        }
        if (m.id < this.highest) c.reorders++;
        else if (m.id > this.highest + 1) c.gaps += m.id - this.highest - 1;
        if (m.id > this.highest) this.highest = m.id;
        c.received++;
      }
      if (this.seen.size > 5000) this.seen = new Set([...this.seen].slice(-2500));
      this.show(m);
      this.detector();
    }
    notice(missed, reset) {
      this.counts.notices++;
      // The server's own notice explains the jump that follows: it is not a silent loss.
      this.resync = true;
      if (reset) {
        // A new run of the server: its ids start again from 1, and none of them is history.
        this.seen.clear();
        liveFrom = 0;
      }
      const li = document.createElement('li');
      li.className = 'notice';
      li.textContent = reset ? 'server restarted: starting over from its history'
        : 'server says ' + missed + ' messages were too old to resend';
      this.list.prepend(li);
    }
    show(m) {
      const li = document.createElement('li');
      li.dataset.id = String(m.id);
      const id = document.createElement('span');
      id.className = 'mid';
      id.textContent = '#' + m.id;
      const where = document.createElement('span');
      where.className = 'room';
      where.textContent = m.room || '';
      const who = document.createElement('span');
      who.className = 'who';
      who.textContent = m.user;
      const text = document.createElement('span');
      text.className = 'text';
      text.textContent = m.text;
      const lat = document.createElement('span');
      lat.className = 'lat';
      const ms = Date.now() - (m.ts - clockOffset);
      // Messages older than the page are marked, not timed.
      // Below zero, the clock offset estimated from our POSTs was off by more than the delivery
      // took: say so rather than show a made-up 0 ms.
      if (m.id <= liveFrom) lat.textContent = 'history';
      else if (ms < 0) {
        lat.textContent = 'clock skew';
        lat.title = 'arrived ' + Math.round(-ms) + ' ms "before" it was sent: the clocks of this ' +
          'machine and the server differ by more than the delivery took';
      } else lat.textContent = Math.round(ms) + ' ms';
      li.dataset.latency = String(Math.round(ms));
      li.append(lat, id, where, who, text);
      this.list.prepend(li);
      while (this.list.children.length > MAX_SHOWN) this.list.lastChild.remove();
    }
    detector() {
      const c = this.counts;
      const d = this.det;
      d.dataset.received = c.received;
      d.dataset.gaps = c.gaps;
      d.dataset.dups = c.dups;
      d.dataset.reorders = c.reorders;
      d.textContent = 'received ' + c.received + ' · gaps ' + c.gaps + ' · duplicates ' + c.dups +
        ' · reordered ' + c.reorders + (c.notices ? ' · server notices ' + c.notices : '');
      d.classList.toggle('bad', c.gaps + c.dups + c.reorders > 0);
    }
    // `all`: the snapshot of every transport of the page's client id (for the connection line).
    stats(s, all) {
      const f = TL.figures(s);
      const set = (k, v, raw) => {
        const dd = this.el.querySelector('[data-stat="' + k + '"]');
        dd.textContent = v;
        dd.dataset.value = String(raw);
      };
      set('requests', f.requests, f.requests);
      set('messages', f.messages, f.messages);
      set('down', TL.fmtBytes(f.down), f.down);
      set('up', TL.fmtBytes(f.up), f.up);
      set('empty', f.empty, f.empty);
      set('open', f.open, f.open);
      set('per_message', f.perMessage === null ? '–' : f.perMessage.toFixed(0), f.perMessage === null ? '' : f.perMessage);
      set('ratio', f.ratio === null ? '–' : f.ratio.toFixed(2), f.ratio === null ? '' : f.ratio);
      const spans = this.q('split').children;
      const legend = [];
      f.kinds.forEach(([k, n], i) => {
        spans[i].style.width = f.total ? (100 * n / f.total) + '%' : '0';
        if (f.total && n) legend.push(k + ' ' + Math.round(100 * n / f.total) + '%');
      });
      this.q('legend').textContent = legend.join(' · ');
      // The connection line: `/` loads protocol.js for it; the walkthrough does not show it.
      if (window.TLProtocol) TLProtocol.show(this.el, s, all);
      if (this.lastTotal !== null) this.samples.push(Math.max(0, f.total - this.lastTotal));
      this.lastTotal = f.total;
      if (this.samples.length > SPARK_POINTS) this.samples.shift();
      this.spark();
    }
    // Posts sent via this panel's transport, apart from what receiving with it cost.
    sends(s) {
      const line = this.q('sending');
      line.textContent = TL.sendingLine(s);
      line.dataset.requests = String(s ? s.requests : 0);
    }
    spark() {
      const max = Math.max(1, ...this.samples);
      const step = 120 / (SPARK_POINTS - 1);
      const pts = this.samples.map((v, i) => (i * step).toFixed(1) + ',' + (23 - 22 * v / max).toFixed(1));
      this.q('spark').firstElementChild.setAttribute('points', pts.join(' '));
    }
  }

  function showStats(snap) {
    for (const t of TL.TRANSPORTS) {
      if (panels[t] && snap.transports[t]) panels[t].stats(snap.transports[t], snap.transports);
      if (panels[t] && snap.sends) panels[t].sends(snap.sends[t]);
    }
    document.dispatchEvent(new CustomEvent('tl-stats', { detail: snap }));
  }

  // Polls the current client id's counters until the id changes (restart()) or the page goes.
  function watchStats() {
    clearTimeout(statsTimer);
    const mine = clientId;
    lastSnapshot = null;
    const tick = async () => {
      if (mine !== clientId) return;
      if (clientKnown) {
        const at = performance.now();
        try {
          const r = await TL.trackedFetch('the counters', '/api/stats?client=' + encodeURIComponent(mine), { cache: 'no-store' });
          // Forgotten by the ledger (idle for 10 minutes): known again at the next answer.
          if (r.status === 404) clientKnown = false;
          const snap = r.ok ? await r.json() : null;
          if (snap && mine === clientId) {
            lastSnapshot = { at: at, stats: snap };
            showStats(snap);
          }
        } catch (e) {
          // The next tick asks again.
        }
      }
      if (mine === clientId) statsTimer = setTimeout(tick, STATS_EVERY_MS);
    };
    tick();
  }

  // `toOthers`: leave this page's own panels out (the server skips our client id).
  async function send(via, user, text, toOthers) {
    const t0 = Date.now();
    const stored = await panels[via].client.send(user, text, !!toOthers);
    const t1 = Date.now();
    if (typeof stored.ts === 'number') clockOffset = stored.ts - (t0 + t1) / 2;
    return stored;
  }

  async function burst(via, n, user, toOthers) {
    n = Math.max(1, Math.min(40, n | 0));
    let last = null;
    for (let i = 1; i <= n; i++) last = await send(via, user, 'burst ' + i + ' of ' + n, toOthers);
    return last;
  }

  function wireCompose() {
    const form = document.getElementById('compose');
    if (!form) return;
    const user = document.getElementById('c-user');
    const text = document.getElementById('c-text');
    const via = document.getElementById('c-via');
    const others = document.getElementById('c-others');
    const toOthers = () => !!(others && others.checked);
    const user0 = () => user.value.trim() || 'anonymous';
    panels.ws.client.user = user0();
    user.addEventListener('change', () => { panels.ws.client.user = user0(); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!text.value) return;
      const started = performance.now();
      try {
        const m = await send(via.value, user0(), text.value, toOthers());
        say('sent #' + m.id + ' to ' + room + (toOthers() ? ' (others only)' : '') + ' via ' + via.value +
          ' in ' + Math.round(performance.now() - started) + ' ms');
        text.value = '';
      } catch (err) {
        say('not sent: ' + err.message, true);
      }
    });
    document.getElementById('c-burst').addEventListener('click', async () => {
      const n = parseInt(document.getElementById('c-n').value, 10) || 1;
      try {
        const m = await burst(via.value, n, user0(), toOthers());
        say('burst of ' + Math.min(40, n) + ' sent via ' + via.value + ', last #' + m.id);
      } catch (err) {
        say('burst stopped: ' + err.message, true);
      }
    });
    const interval = document.getElementById('c-interval');
    interval.addEventListener('change', () => { panels.poll.client.interval = parseInt(interval.value, 10); });
  }

  // Moves all the panels to room `name`: the server creates it on first use, or refuses the
  // name with a 400 whose text is thrown here. `push`: record it in the URL (and the history).
  async function switchRoom(name, push) {
    const newest = await TL.newest(name);
    const since = Math.max(0, newest.id - 5);
    room = name;
    liveFrom = newest.id;
    for (const p of Object.values(panels)) {
      p.reset(since);
      p.client.switchRoom(name, { epoch: newest.epoch, id: since });
    }
    if (push) {
      const url = new URL(location.href);
      if (name === TL.DEFAULT_ROOM) url.searchParams.delete('room'); else url.searchParams.set('room', name);
      history.pushState({ room: name }, '', url);
    }
    document.body.dataset.room = name;
    document.dispatchEvent(new CustomEvent('tl-room', { detail: name }));
  }

  // A clean start for a walkthrough step: every panel stopped, a new client id (the ledger counts
  // from zero), cursors at the room's newest message (no history shown), lists and counters empty.
  // The caller resumes the panels it wants.
  async function restart() {
    const mine = ++restarts;
    for (const p of Object.values(panels)) p.client.stop();
    const newest = await TL.newest(room);
    // A later restart (the presenter pressed again) owns the panels now.
    if (mine !== restarts) return;
    clientId = TL.newClientId('page');
    clientKnown = false;
    if (idLabel) idLabel.textContent = clientId;
    liveFrom = newest.id;
    for (const p of Object.values(panels)) {
      p.reset(newest.id);
      p.zero();
      p.client.clientId = clientId;
      p.client.cursor = newest.id;
      p.client.epoch = newest.epoch;
      p.pauseButton('Resume', true);
    }
    watchStats();
  }

  // The auto panel's module (auto.js, and lab-client.js with it), imported when first asked for.
  let autoModule = null;
  function auto() {
    autoModule = autoModule || import('/static/auto.js').catch((e) => { autoModule = null; throw e; });
    return autoModule;
  }

  function wireAuto() {
    const button = document.querySelector('#auto-panel [data-act=auto-start]');
    if (!button) return;
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await (await auto()).follow(window.TLDemo);
      } catch (e) {
        button.disabled = false;
        say('the auto client did not start: ' + e.message, true);
      }
    });
  }

  async function main() {
    TL.onLeave(() => clearTimeout(statsTimer));
    let since = 0;
    let epoch = null;
    if (!TL.ROOM_NAME.test(room)) {
      say('no room ' + JSON.stringify(room) + ': names are 1 to 64 of A-Z a-z 0-9 - _ . (in the lobby instead)', true);
      room = TL.DEFAULT_ROOM;
    }
    document.body.dataset.room = room;
    try {
      // Start every panel at the same cursor, a few messages back, so all of them show the same list.
      const newest = await TL.newest(room);
      since = Math.max(0, newest.id - 5);
      epoch = newest.epoch;
      liveFrom = newest.id;
    } catch (e) {
      liveFrom = 0;
      say('the server did not answer: ' + e.message, true);
    }
    for (const el of document.querySelectorAll('.panel[data-transport]')) {
      const t = el.dataset.transport;
      panels[t] = new Panel(el, t, since, epoch);
      TL.onLeave(() => panels[t].client.stop());
    }
    wireCompose();
    wireAuto();
    watchStats();
    TL.watchQueue(() => Object.values(panels).map((p) => p.client), () => lastSnapshot);
    const autostart = document.body.dataset.autostart !== 'no';
    for (const t of TL.TRANSPORTS) if (panels[t] && autostart) panels[t].resume();
    // Back and forward move between the rooms this page was in.
    window.addEventListener('popstate', () => {
      switchRoom(TL.roomFromUrl(), false).catch((e) => say('could not switch room: ' + e.message, true));
    });
    document.body.dataset.ready = 'yes';
    document.dispatchEvent(new Event('tl-ready'));
  }

  window.TLDemo = { panels, clientId: () => clientId, send, burst, say, switchRoom, restart, room: () => room, auto };
  main();
})();
