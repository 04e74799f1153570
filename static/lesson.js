// transport-lab, `/transports/{name}`: a demo client of one transport, watched through the
// server's tap. The sequence diagram, the heads and the cost are drawn from what the tap and the
// ledger report for this client, never from a fixed picture.
'use strict';

(function () {
  const root = document.getElementById('lesson');
  const transport = root.dataset.transport;
  const clientId = TL.newClientId('lesson-' + transport);
  const MAX_ARROWS = 14;
  // A transport that upgrades (Socket.IO) has its dance read off the tap by dance.js.
  const dance = window.TLDance || null;
  const maxArrows = dance ? 22 : MAX_ARROWS;
  const arrows = [];
  const svg = document.getElementById('seq');
  const statusEl = document.getElementById('lesson-status');
  const NS = 'http://www.w3.org/2000/svg';
  const started = performance.now();
  let client = null;
  document.getElementById('client-id').textContent = clientId;

  function say(text) { statusEl.textContent = text; }

  function svgEl(name, attrs, text) {
    const el = document.createElementNS(NS, name);
    for (const k in attrs) el.setAttribute(k, attrs[k]);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // One tap record: its first line is the title ("→ sse request head (312 bytes)"), the rest
  // the bytes made visible.
  function onRecord(data) {
    const nl = data.indexOf('\n');
    const title = nl < 0 ? data : data.slice(0, nl);
    // The tap marks CR and LF with the symbols ␍ ␊, which many fonts lack: shown as \r \n.
    const bytes = (nl < 0 ? '' : data.slice(nl + 1)).replace(/␍/g, '\\r').replace(/␊/g, '\\n');
    const up = title.startsWith('→');
    // Over HTTP/2 (the page opened on the TLS port) a record is a frame of one stream: HEADERS
    // (the decoded header list, as HPACK sent it) or DATA.
    const h2 = title.match(/HTTP\/2 (HEADERS|DATA), stream (\d+)/);
    if (h2 && h2[1] === 'HEADERS') document.getElementById(up ? 'req-head' : 'resp-head').textContent = title + '\n' + bytes;
    else if (/request head/.test(title) && up) document.getElementById('req-head').textContent = bytes;
    else if (/response head/.test(title)) document.getElementById('resp-head').textContent = bytes;
    else if (/body|frame|DATA/.test(title)) document.getElementById('body').textContent = title + '\n' + bytes;
    const t = (performance.now() - started) / 1000;
    if (h2) {
      // The stream id goes in its own column; the label keeps what the frame carried.
      const label = title.replace(/^[→←]\s*/, '').replace(/ HTTP\/2 /, ' ').replace(/, stream \d+/, '');
      arrows.push({ up: up, label: label, title: title, t: t, stream: Number(h2[2]) });
    } else if (dance) dance.record(arrows, title, bytes, up, t);
    else arrows.push({ up: up, label: title.replace(/^[→←]\s*/, ''), t: t });
    while (arrows.length > maxArrows) arrows.shift();
    draw();
  }

  // An arrow's label, whole: a long one (a WebSocket frame with its text) is squeezed to the
  // arrow's width rather than cut, and its full text is the tooltip.
  function label(text, x, y, width, tooltip) {
    const attrs = { x: x, y: y, 'text-anchor': 'middle', class: 'label' };
    // About 7 px per character at the label's size: past the arrow's width, fit it.
    if (text.length * 7 > width) {
      attrs.textLength = width;
      attrs.lengthAdjust = 'spacingAndGlyphs';
    }
    const el = svgEl('text', attrs, text);
    el.append(svgEl('title', {}, tooltip ? tooltip + '\n' + text : text));
    return el;
  }

  // Over HTTP/2 the diagram says so: every arrow is a frame of a stream, all on one connection.
  let http2Caption = false;
  function captionHttp2(streams) {
    document.body.dataset.http2Streams = String(streams.size);
    if (http2Caption) return;
    http2Caption = true;
    document.getElementById('seq-caption').textContent = 'Newest at the bottom. HTTP/2: every arrow is a frame ' +
      '(HEADERS: the head, HPACK-compressed; DATA: body bytes) of a stream, and all the streams share one ' +
      'connection; the stream id is on the right (odd: opened by the browser, one per request). The last ' +
      maxArrows + ' frames.';
  }

  function draw() {
    const W = 600, top = 34, gap = 26, left = 70, right = 530;
    const H = top + Math.max(1, arrows.length) * gap + 10;
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.replaceChildren();
    const streams = new Set(arrows.filter((a) => a.stream).map((a) => a.stream));
    svg.append(
      svgEl('text', { x: left, y: 18, 'text-anchor': 'middle', class: 'actor' }, 'browser'),
      svgEl('text', { x: right, y: 18, 'text-anchor': 'middle', class: 'actor' }, 'server'),
      svgEl('line', { x1: left, y1: 24, x2: left, y2: H, class: 'life' }),
      svgEl('line', { x1: right, y1: 24, x2: right, y2: H, class: 'life' }));
    if (streams.size) {
      captionHttp2(streams);
      svg.append(svgEl('text', { x: (left + right) / 2, y: 18, 'text-anchor': 'middle', class: 'time', 'data-role': 'connection' },
        'one HTTP/2 connection · ' + streams.size + (streams.size === 1 ? ' stream' : ' streams') + ' shown'));
    }
    arrows.forEach((a, i) => {
      const y = top + i * gap + 12;
      const cls = 'arrow ' + (a.up ? 'up' : 'down') + (a.ws ? ' ws' : '');
      const x1 = a.up ? left : right, x2 = a.up ? right : left;
      const tip = a.up ? -7 : 7;
      svg.append(
        svgEl('line', { x1: x1, y1: y, x2: x2, y2: y, class: cls }),
        svgEl('polygon', { points: x2 + ',' + y + ' ' + (x2 + tip) + ',' + (y - 4) + ' ' + (x2 + tip) + ',' + (y + 4), class: cls }),
        label(a.label, (left + right) / 2, y - 4, right - left - 16, a.title),
        svgEl('text', { x: 4, y: y + 4, class: 'time' }, a.t.toFixed(1) + ' s'));
      // Which carrier, where a transport has two; over HTTP/2 which stream.
      if (a.stream) svg.append(svgEl('text', { x: right + 6, y: y + 4, class: 'time stream' }, 'stream ' + a.stream));
      else if (dance) svg.append(svgEl('text', { x: right + 6, y: y + 4, class: 'time' }, a.ws ? 'WS' : 'HTTP'));
    });
  }

  function showStats(s) {
    const f = TL.figures(s);
    const set = (k, v) => { root.querySelector('#cost [data-stat="' + k + '"]').textContent = v; };
    set('requests', f.requests);
    set('messages', f.messages);
    set('down', TL.fmtBytes(f.down));
    set('up', TL.fmtBytes(f.up));
    set('per_message', f.perMessage === null ? '–' : f.perMessage.toFixed(0));
    set('ratio', f.ratio === null ? '–' : f.ratio.toFixed(2));
  }

  async function send() {
    try {
      const m = await client.send('lesson', 'hello over ' + transport + ' at ' + new Date().toLocaleTimeString());
      say('sent #' + m.id);
    } catch (e) {
      say('not sent: ' + e.message);
    }
  }

  async function main() {
    const newest = await TL.newest().catch(() => ({ id: 0, epoch: null }));
    client = TL.create(transport, clientId, newest.id, {
      onMessage: (m) => say('received #' + m.id + ' from ' + m.user),
      onGap: (missed, reset) => say(reset
        ? 'server notice: it restarted; starting over from its history'
        : 'server notice: ' + missed + ' messages too old to resend'),
      onState: (text) => say(text),
    }, newest.epoch);
    if (transport === 'poll') client.interval = 2000;
    client.user = 'lesson';
    // The tap first, so the very first request of the client is on the diagram. It carries the
    // client's counters too (`stats=1`, once a second): one connection of the browser's six for
    // both, where two streams took two (see transports.js).
    const tap = TL.trackedEventSource('the tap', '/api/tap?stats=1&client=' + encodeURIComponent(clientId));
    let lastSnapshot = null;
    tap.addEventListener('tap', (e) => onRecord(e.data));
    tap.addEventListener('stats', (e) => {
      const snap = JSON.parse(e.data);
      lastSnapshot = { at: performance.now(), stats: snap };
      showStats(snap.transports[transport]);
      const sending = document.getElementById('sending');
      sending.textContent = TL.sendingLine(snap.sends && snap.sends[transport]);
      sending.dataset.requests = String(snap.sends ? snap.sends[transport].requests : 0);
    });
    tap.onopen = () => { if (!client.running) client.start(); };
    TL.onLeave(() => { tap.close(); client.stop(); });
    TL.watchQueue(() => [client], () => lastSnapshot);
    document.getElementById('send').addEventListener('click', send);
    document.getElementById('drop').addEventListener('click', () => client.drop());
    document.getElementById('copy').addEventListener('click', async () => {
      const text = document.getElementById('command').textContent;
      const out = document.getElementById('copied');
      try {
        await navigator.clipboard.writeText(text);
        out.textContent = 'copied';
      } catch (e) {
        // Clipboard access needs a secure context (localhost is one); otherwise select the text.
        const range = document.createRange();
        range.selectNodeContents(document.getElementById('command'));
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        out.textContent = 'selected: press Ctrl+C';
      }
    });
    if (dance) {
      document.getElementById('seq-caption').textContent = 'Newest at the bottom. → browser to server, ← server to ' +
        'browser; a head and the body after it are one arrow, HTTP or WS says which carrier; the last ' + maxArrows + ' arrows.';
    }
    draw();
    planCost();
    document.body.dataset.ready = 'yes';
  }

  // What receiving with this transport costs under the one measurement plan (/overhead's, the
  // README's), so the lesson quotes the same figure as the comparison page.
  async function planCost() {
    const out = (k, v) => { document.querySelector('#plan-cost [data-plan="' + k + '"]').textContent = v; };
    try {
      const r = await fetch('/api/overhead', { cache: 'no-store' });
      const report = await r.json();
      if (!r.ok) throw new Error(report.error || ('HTTP ' + r.status));
      const row = report.rows.find((x) => x.transport === transport && x.headers === 'browser');
      out('bytes', (row.down_per_message + row.up_per_message).toFixed(0));
      out('requests', row.requests_per_message.toFixed(2));
    } catch (e) {
      out('bytes', '(not measured: ' + e.message + ')');
    }
  }

  main();
})();
