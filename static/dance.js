// transport-lab, the lesson of a transport that upgrades (Socket.IO): its tap records read as the
// dance they are. Each arrow of the sequence diagram says what its request or packets mean (the
// handshake, a held poll, 40 CONNECT, 2probe, 6 noop, 5 upgrade, 42["chat"]), a head and the body
// after it are one arrow, WebSocket frames are marked as such, and the steps of the dance in the
// page's list (#dance) are ticked off as the tap shows them, with the requests made before the
// upgrade. Loaded before lesson.js, which hands it every record (window.TLDance).
'use strict';

(function () {
  const list = document.getElementById('dance');
  if (!list) return;
  const cost = document.querySelector('#dance-cost [data-dance=requests]');

  const ENGINE = { 0: 'open', 1: 'close', 2: 'ping', 3: 'pong', 4: 'message', 5: 'upgrade', 6: 'noop' };
  const SOCKET = { 0: 'CONNECT', 1: 'DISCONNECT', 2: 'EVENT', 3: 'ACK', 4: 'CONNECT_ERROR' };

  // One Engine.IO packet's name: `0 open`, `2probe`, `42["chat"]`, `43 ACK`.
  function packetName(p) {
    if (p === '2probe' || p === '3probe') return p;
    const engine = ENGINE[p[0]];
    if (!engine) return p.slice(0, 24);
    if (p[0] !== '4') return p[0] + ' ' + engine;
    const s = p.slice(1);
    const event = s[0] === '2' ? (s.match(/^2\d*\["([^"]*)"/) || [])[1] : null;
    return '4' + s[0] + (event ? '["' + event + '"]' : ' ' + (SOCKET[s[0]] || '?'));
  }

  // The packets of a record's bytes, as lesson.js shows them (the tap writes 0x1e as \x1E).
  function packets(bytes) {
    return bytes.replace(/\\[rn]/g, '').split('\\x1E').map((p) => p.trim()).filter(Boolean);
  }

  // What a record means: its label, and the step of the dance it shows (or null).
  function describe(title, bytes) {
    const first = bytes.split('\\r\\n')[0].split('\n')[0];
    if (/request head/.test(title)) {
      const m = first.match(/^(GET|POST) \S*transport=(polling|websocket)/);
      if (!m) return { label: first.slice(0, 60), step: null };
      if (m[2] === 'websocket') return { label: 'GET transport=websocket: the probe\'s WebSocket', step: 'probe' };
      if (m[1] === 'POST') return { label: 'POST', step: null };
      return /[?&]sid=/.test(first) ? { label: 'GET poll (held until there are packets)', step: null }
        : { label: 'GET transport=polling: the handshake', step: 'handshake' };
    }
    if (/response head/.test(title)) {
      const status = (first.match(/^HTTP\/1\.1 (\d{3}[^\\]*)/) || [])[1] || first.slice(0, 30);
      return { label: status, step: null };
    }
    const ps = packets(bytes);
    let step = null;
    if (ps.some((p) => p.startsWith('0{'))) step = 'handshake';
    else if (ps.includes('40') && /→/.test(title)) step = 'connect';
    else if (ps.some((p) => p.startsWith('40{'))) step = 'connected';
    else if (ps.includes('6')) step = 'noop';
    else if (ps.includes('5')) step = 'upgrade';
    else if (ps.includes('3probe')) step = 'probe';
    return { label: ps.map(packetName).join(' + ') || 'ok', step: step };
  }

  let requests = 0;
  function tick(step, t) {
    const li = list.querySelector('[data-step="' + step + '"]');
    if (!li) return;
    // A new handshake is a new session: its dance starts over.
    if (step === 'handshake' && list.querySelector('.done:not([data-step=handshake])')) {
      for (const done of list.querySelectorAll('.done')) { done.classList.remove('done'); delete done.dataset.at; }
      requests = 1;
      cost.textContent = '…';
    }
    if (li.classList.contains('done')) return;
    li.classList.add('done');
    li.dataset.at = t.toFixed(1);
    if (step === 'upgrade') cost.textContent = String(requests);
  }

  // One tap record onto the diagram's `arrows` (lesson.js draws them).
  function record(arrows, title, bytes, up, t) {
    const what = describe(title, bytes);
    const last = arrows[arrows.length - 1];
    if (/body/.test(title) && last && last.head && last.up === up) {
      last.label += ' · ' + what.label;
      last.title += '\n' + title;
      last.head = false;
    } else {
      arrows.push({ up: up, label: what.label, title: title, t: t, head: /head/.test(title), ws: /websocket frame/.test(title) });
    }
    if (/request head/.test(title)) requests++;
    if (what.step) tick(what.step, t);
  }

  window.TLDance = { record: record };
})();
