// transport-lab, `/overhead`: the measured cost of each transport (from /api/overhead, a private
// server's ledger), a chart of where one message's bytes go, a capacity projection computed from
// those measured costs, and this server's own ledger since it started (/api/stats).
// The rate slider measures the same plan again at another message rate (/api/overhead?rate=R),
// and says which of short and long polling is cheaper at it, from the measured figures.
'use strict';

(function () {
  const NAMES = TL.LABELS;
  const ORDER = TL.TRANSPORTS;
  /** The long-poll timeout the projection assumes for a quiet room (the server's default). */
  const LONG_POLL_TIMEOUT_S = 25;
  let report = null;

  const $ = (id) => document.getElementById(id);
  const fmt = (n, d) => (n === null || !isFinite(n)) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

  function td(text) { const c = document.createElement('td'); c.textContent = text; return c; }
  function tr(cells) { const r = document.createElement('tr'); r.append(...cells.map(td)); return r; }

  function headerSet() { return document.querySelector('input[name=hs]:checked').value; }
  function rows() { return ORDER.map((t) => report.rows.find((r) => r.transport === t && r.headers === headerSet())); }

  function drawTable() {
    const body = $('ov-table').tBodies[0];
    body.replaceChildren(...rows().map((r) => {
      const total = r.down_per_message + r.up_per_message;
      return tr([NAMES[r.transport], fmt(r.down_per_message, 0), fmt(r.up_per_message, 0),
        fmt(r.requests_per_message, 2), fmt(r.payload_per_message, 0),
        fmt(total ? 100 * r.header_per_message / total : null, 0) + ' %', fmt(r.ratio, 2),
        r.per_request ? fmt(r.per_request, 0) + ' B' : 'no request']);
    }));
    const hs = report.header_sets.find((h) => h.name === headerSet());
    $('hs-bytes').textContent = 'request headers of this set: ' + hs.bytes + ' bytes besides Host';
    $('hs-bytes').title = hs.headers;
  }

  // HTTP/1.1 beside HTTP/2 for the chosen header set: the http2 rows measured in the same window.
  function drawHttp2() {
    const h2rows = report.http2 || [];
    const cost = (r) => r.down_per_message + r.up_per_message;
    const share = (r) => fmt(cost(r) ? 100 * r.header_per_message / cost(r) : null, 0) + ' %';
    $('h2-table').tBodies[0].replaceChildren(...rows().map((r) => {
      const h2 = h2rows.find((x) => x.transport === r.transport && x.headers === r.headers);
      if (!h2) {
        return tr([NAMES[r.transport], fmt(cost(r), 0), 'HTTP/1.1 only', share(r), '–',
          fmt(r.requests_per_message, 2), '–', '–', '–']);
      }
      return tr([NAMES[r.transport], fmt(cost(r), 0), fmt(cost(h2), 0), share(r), share(h2),
        fmt(r.requests_per_message, 2) + ' / ' + fmt(h2.requests_per_message, 2),
        fmt(h2.http1_request_header_bytes, 0) + ' B', h2.first_request_header_bytes + ' B',
        h2.later_request_header_bytes === null ? 'no later request' : fmt(h2.later_request_header_bytes, 0) + ' B']);
    }));
    const pick = (t) => [report.rows.find((x) => x.transport === t && x.headers === headerSet()),
      h2rows.find((x) => x.transport === t && x.headers === headerSet())];
    const [poll1, poll2] = pick('poll');
    const [stream1, stream2] = pick('stream');
    const set = (k, text) => { document.querySelector('[data-hp="' + k + '"]').textContent = text; };
    set('set', headerSet() === 'browser' ? 'browser-like' : 'curl-like');
    if (!poll2 || !stream2) return;
    set('h1', fmt(poll2.http1_request_header_bytes, 0));
    set('first', String(poll2.first_request_header_bytes));
    set('later', fmt(poll2.later_request_header_bytes, 0));
    set('rpm', fmt(poll1.requests_per_message, 1));
    set('poll', fmt(cost(poll1), 0) + ' bytes a message over HTTP/1.1, ' + fmt(cost(poll2), 0) + ' over HTTP/2');
    set('stream', fmt(cost(stream1), 0) + ' bytes a message over HTTP/1.1, ' + fmt(cost(stream2), 0) + ' over HTTP/2');
  }

  function drawChart() {
    const chart = $('ov-chart');
    const rs = rows();
    const max = Math.max(...rs.map((r) => r.down_per_message + r.up_per_message));
    chart.replaceChildren();
    for (const r of rs) {
      const total = r.down_per_message + r.up_per_message;
      const parts = [['header', r.header_per_message], ['framing', r.framing_per_message],
        ['payload', r.payload_per_message], ['other', Math.max(0, total - r.header_per_message - r.framing_per_message - r.payload_per_message)]];
      const name = document.createElement('div');
      name.textContent = NAMES[r.transport];
      const row = document.createElement('div');
      row.className = 'row';
      const bar = document.createElement('div');
      bar.className = 'bar';
      // Widths through the CSSOM: allowed under the page's CSP, unlike style= attributes.
      bar.style.width = (100 * total / max) + '%';
      for (const [k, n] of parts) {
        const s = document.createElement('span');
        s.className = 'k-' + k;
        s.style.width = (total ? 100 * n / total : 0) + '%';
        s.title = k + ': ' + n.toFixed(1) + ' bytes';
        bar.append(s);
      }
      const val = document.createElement('span');
      val.className = 'val';
      val.textContent = fmt(total, 0) + ' B/msg';
      row.append(bar, val);
      chart.append(name, row);
    }
  }

  // The projection: measured per-request and per-message costs times the user's numbers.
  function project() {
    const num = (id, min) => Math.max(min, parseFloat($(id).value) || 0);
    const clients = num('p-clients', 1), rate = num('p-rate', 0), payload = num('p-payload', 1), interval = num('p-interval', 0.1);
    const out = rows().map((r) => {
      const d = r.delta;
      const perReqUp = d.requests ? d.request_bytes / d.requests : 0;
      const perReqDown = d.requests ? (d.response_header_bytes + d.other_bytes) / d.requests : 0;
      const framing = d.messages ? d.framing_bytes / d.messages : 0;
      const msgDown = clients * rate * (payload + framing);
      let reqs = 0;
      if (r.transport === 'poll') reqs = clients / interval;
      else if (r.transport === 'longpoll') reqs = clients * Math.max(rate * r.requests_per_message, 1 / LONG_POLL_TIMEOUT_S);
      return tr([NAMES[r.transport], fmt(reqs, 1), fmtRate(msgDown + reqs * perReqDown), fmtRate(reqs * perReqUp), fmt(clients, 0)]);
    });
    $('p-table').tBodies[0].replaceChildren(...out);
  }

  function fmtRate(bps) {
    if (bps < 1e3) return fmt(bps, 0) + ' B/s';
    if (bps < 1e6) return fmt(bps / 1e3, 1) + ' kB/s';
    if (bps < 1e9) return fmt(bps / 1e6, 2) + ' MB/s';
    return fmt(bps / 1e9, 2) + ' GB/s';
  }

  function redraw() { if (report) { drawTable(); drawHttp2(); drawChart(); project(); } }

  async function live() {
    try {
      const r = await fetch('/api/stats', { cache: 'no-store' });
      const s = await r.json();
      $('live-table').tBodies[0].replaceChildren(...ORDER.map((t) => {
        const f = TL_figures(s.transports[t]);
        return tr([NAMES[t], fmt(f.requests, 0), fmt(f.messages, 0), fmt(f.down, 0), fmt(f.up, 0),
          f.messages ? fmt((f.down + f.up) / f.messages, 0) : '–', fmt(f.open, 0)]);
      }));
    } catch (e) {
      // The next tick tries again.
    }
  }
  function TL_figures(s) {
    return { requests: s.requests, messages: s.messages, down: s.response_bytes, up: s.request_bytes, open: s.open };
  }

  // The slider's stops (messages a second), from the page: the server defines them.
  const slider = $('rate');
  const STOPS = slider.dataset.stops.split(' ');
  const PLAN_RATE = $('plan').dataset.rate;
  // Which measurement the page shows: a later one asked for wins over an earlier one still running.
  let asked = 0;
  /** How long the slider must rest before its rate is measured. */
  const SETTLE_MS = 600;

  function rateQuery(rate) { return rate === PLAN_RATE ? '' : '?rate=' + encodeURIComponent(rate); }

  // Which of short and long polling costs less per message at the measured rate, in one line.
  function verdict() {
    if (!report) return;
    const el = $('verdict');
    const byT = (t) => report.rows.find((r) => r.transport === t && r.headers === headerSet());
    const poll = byT('poll'), lp = byT('longpoll');
    const cost = (r) => r.down_per_message + r.up_per_message;
    const winner = cost(poll) < cost(lp) ? 'poll' : 'longpoll';
    const p = report.plan;
    el.dataset.winner = winner;
    el.dataset.rate = String(p.rate);
    el.textContent = 'At ' + fmtRate1(p.rate) + ' messages a second: ' + NAMES.poll + ' ' + fmt(cost(poll), 0) +
      ' B/msg (' + fmt(poll.requests_per_message, 2) + ' requests/msg), ' + NAMES.longpoll + ' ' + fmt(cost(lp), 0) +
      ' B/msg (' + fmt(lp.requests_per_message, 2) + ' requests/msg): ' + NAMES[winner] + ' is cheaper' +
      (p.rate < p.crossover_rate ? ' (below the crossover at ' + fmtRate1(p.crossover_rate) + ')'
        : p.rate > p.crossover_rate ? ' (above the crossover at ' + fmtRate1(p.crossover_rate) + ')'
          : ' (at the crossover: about even)') + '.';
  }
  function fmtRate1(r) { return String(Math.round(r * 100) / 100); }

  function describe() {
    const p = report.plan;
    $('ov-status').textContent = 'measured ' + new Date(report.measured_at).toLocaleString() + ' in ' +
      (report.duration_ms / 1000).toFixed(1) + ' s on a private instance of this server';
    $('ov-status').classList.remove('bad');
    $('ov-plan').textContent = 'Measured: ' + p.messages + ' messages of ' + report.text_bytes +
      ' bytes of text (payload ' + fmt(report.rows[0].payload_per_message, 0) + ' bytes of message JSON), one every ' +
      p.publish_every + ' ms (' + fmtRate1(p.rate) + ' a second' + (String(p.rate) === PLAN_RATE ? ', the plan' : ', the plan at another rate') +
      '); short polling every ' + p.poll_every + ' ms, long polling asking again at once. ' +
      'Per message: everything both ways between "all subscribers connected" and "all have the last message".';
  }

  // Measures (or reads the server's earlier measurement of) the plan at `rate`. An earlier request
  // still waiting is cancelled: the server measures one rate at a time.
  let inflight = null;
  async function measure(rate) {
    const mine = ++asked;
    if (inflight) inflight.abort();
    const ctrl = new AbortController();
    inflight = ctrl;
    document.body.dataset.measuring = rate;
    $('ov-status').textContent = 'measuring at ' + rate + ' messages a second (a few seconds)…';
    try {
      const r = await fetch('/api/overhead' + rateQuery(rate), { cache: 'no-store', signal: ctrl.signal });
      const body = await r.json();
      if (!r.ok) throw new Error(body.error || ('HTTP ' + r.status));
      if (mine !== asked) return;
      report = body;
      describe();
      redraw();
      verdict();
      $('p-rate').value = fmtRate1(report.plan.rate);
      $('p-payload').value = Math.round(report.rows[0].payload_per_message) || 91;
      project();
      document.body.dataset.measured = String(report.plan.rate);
    } catch (e) {
      if (mine !== asked) return;
      $('ov-status').textContent = 'the measurement failed: ' + e.message;
      $('ov-status').classList.add('bad');
    }
  }

  function showStop() {
    const rate = STOPS[slider.valueAsNumber];
    $('rate-out').textContent = rate;
    slider.setAttribute('aria-valuetext', rate + ' messages a second');
    return rate;
  }

  async function main() {
    for (const el of document.querySelectorAll('input[name=hs]')) el.addEventListener('change', () => { redraw(); verdict(); });
    for (const el of document.querySelectorAll('#plan-form input')) el.addEventListener('input', project);
    $('plan-form').addEventListener('submit', (e) => e.preventDefault());
    $('rate-form').addEventListener('submit', (e) => e.preventDefault());
    // The number follows the thumb; measuring waits until it is let go (`change`).
    slider.addEventListener('input', showStop);
    // Arrow keys fire one `change` per stop: measure the stop the reader settles on.
    let settle = null;
    slider.addEventListener('change', () => {
      clearTimeout(settle);
      settle = setTimeout(() => measure(showStop()), SETTLE_MS);
    });
    live();
    setInterval(live, 2000);
    await measure(showStop());
    document.body.dataset.ready = 'yes';
  }

  main();
})();
