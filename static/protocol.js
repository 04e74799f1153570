// transport-lab, page `/`: each panel's connection line, which protocol its requests came over,
// read off the ledger (not guessed from the page's address): `http2_requests` of `requests` were
// HTTP/2 streams, the rest HTTP/1.1, and TLS bytes counted mean an encrypted connection. Apart
// from demo.js because only `/` shows it: the walkthrough, which shares demo.js, has no room for
// it and a weight budget to keep.
'use strict';

(function () {
  // `s`: a transport's snapshot; `all`: the client's snapshots of every transport. Over HTTP/2 a
  // page's requests share one connection, and the ledger counts its TLS bytes under the latest
  // request on it, so a long-lived stream may show none of its own: then TLS counted under the
  // client's other HTTP/2 requests says the shared connection is encrypted.
  // `kind`: h2, http/1.1, mixed or '' (no request yet); `tls`: yes or no.
  function of(s, all) {
    if (!s || !s.requests) return { kind: '', tls: '', text: 'connection: no request yet', detail: '' };
    const h2 = s.http2_requests || 0;
    const tlsOf = (x) => (x.tls_request_bytes || 0) + (x.tls_response_bytes || 0);
    const own = tlsOf(s);
    const shared = h2 > 0 && Object.values(all || {}).some((x) => x && x.http2_requests > 0 && tlsOf(x) > 0);
    const tls = own > 0 || shared;
    const kind = h2 === s.requests ? 'h2' : h2 === 0 ? 'http/1.1' : 'mixed';
    const n = (k, one, many) => k + ' ' + (k === 1 ? one : many);
    let text = kind === 'h2' ? 'HTTP/2, ' + n(s.requests, 'stream', 'streams') + ' on the shared connection'
      : kind === 'http/1.1' ? 'HTTP/1.1, ' + n(s.requests, 'request', 'requests')
      : 'HTTP/2 for ' + h2 + ', HTTP/1.1 for ' + (s.requests - h2) + ' of ' + s.requests + ' requests';
    text += tls ? ' · TLS' : ' · plain TCP';
    // A browser that speaks HTTP/2 to this server (other requests of the page did) takes
    // HTTP/1.1 only for a WebSocket, which cannot ride HTTP/2 here (no RFC 8441 in actix).
    const pageOnH2 = Object.values(all || {}).some((x) => x && x.http2_requests > 0);
    if (kind !== 'h2' && tls && pageOnH2) text += ' (WebSocket: HTTP/1.1 only here)';
    const detail = !tls ? 'no TLS bytes counted: an unencrypted connection'
      : own > 0 ? TL.fmtBytes(own) + ' bytes of TLS records and handshake counted under this transport so far'
      : 'TLS: the shared connection\'s TLS bytes are counted under its latest request, here another transport\'s';
    return { kind: kind, tls: tls ? 'yes' : 'no', text: 'connection: ' + text, detail: detail };
  }

  // The panel's line, made before its first figures (so nothing moves when they come), above the
  // sending line.
  function line(panel) {
    let p = panel.querySelector('[data-role=protocol]');
    if (p) return p;
    p = document.createElement('p');
    p.className = 'protocol';
    p.dataset.role = 'protocol';
    p.dataset.protocol = '';
    p.dataset.tls = '';
    p.textContent = 'connection: no request yet';
    panel.querySelector('[data-role=sending]').before(p);
    return p;
  }

  function show(panel, s, all) {
    const proto = of(s, all);
    const p = line(panel);
    if (p.textContent !== proto.text) p.textContent = proto.text;
    p.title = proto.detail;
    p.dataset.protocol = proto.kind;
    p.dataset.tls = proto.tls;
    p.dataset.requests = String(s.requests);
    p.dataset.http2Requests = String(s.http2_requests || 0);
  }

  for (const panel of document.querySelectorAll('.panel[data-transport]')) {
    if (panel.querySelector('[data-role=sending]')) line(panel);
  }
  window.TLProtocol = { of, show };
})();
