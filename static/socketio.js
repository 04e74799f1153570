// transport-lab: the pages' Socket.IO client, no library, doing what socket.io-client does by
// default (docs/PAGES.md walks through it): polling (held GETs bring the server's packets joined
// by 0x1e, POSTs ours), a probe (2probe, 3probe), the server's noop 6 ending the held GET, the
// upgrade (5). A probe refused, or closed before 5, leaves it polling. No ping (2, answered 3)
// for pingInterval + pingTimeout is a "ping timeout": only silence tells a frozen server. Events
// 42["chat",{..}]; 4213[..] asks ack 13, 4313[{"id":..}] answers. Each reconnect is a new
// session whose handshake carries the cursor (?since=EPOCH-ID).
'use strict';

(function () {
  // Joins the packets of one polling body.
  const RS = '\x1e';
  const ACK_TIMEOUT_MS = 5000;

  class SocketIo extends TL.Client {
    constructor(...a) {
      super(...a);
      this.user = 'ada';
      this.pending = new Map();
      this.ref = 0;
      this.reset();
    }
    // A session's state, all of it: a new session starts from this.
    reset() {
      this.sid = null;
      this.ws = null;
      this.carrier = 'polling';
      this.connected = false;
      this.outbox = [];
      this.posting = false;
      this.polling = false;
      // Between 3probe and 5: no new poll and no new post, so the upgrade loses nothing.
      this.pausing = false;
      // The probe's WebSocket, until the upgrade is done or off.
      this.probing = null;
      this.ctrls = new Set();
      clearTimeout(this.pingTimer);
      this.pingTimer = null;
    }
    // The open packet or a ping: the next must come within pingWindow.
    heard(gen, sid) {
      clearTimeout(this.pingTimer);
      this.pingTimer = setTimeout(() => {
        if (!this.current(gen) || this.sid !== sid) return;
        this.generation++;
        this.close();
        this.retry('ping timeout');
      }, this.pingWindow);
    }
    live() {
      this.attempt = 0;
      this.h.onState('live · ' + this.carrier, 'live');
    }
    // Every request of the session names the client, so the ledger counts it under this panel.
    url(carrier) {
      return '/socket.io/?EIO=4&transport=' + carrier + '&sid=' + encodeURIComponent(this.sid) +
        '&client=' + encodeURIComponent(this.clientId);
    }
    async fetchText(url, options, gen) {
      const ctrl = new AbortController();
      this.ctrls.add(ctrl);
      try {
        const r = await fetch(url, Object.assign({ cache: 'no-store', signal: ctrl.signal }, options));
        const text = await r.text();
        if (!r.ok) throw new Error('HTTP ' + r.status + ': ' + text);
        return text;
      } finally {
        this.ctrls.delete(ctrl);
        if (!this.current(gen)) ctrl.abort();
      }
    }
    async open(gen) {
      this.reset();
      try {
        this.sent();
        const opened = await this.fetchText('/socket.io/?EIO=4&transport=polling&' + this.query() +
          '&user=' + encodeURIComponent(this.user), {}, gen);
        if (!this.current(gen)) return;
        this.answered();
        if (opened[0] !== '0') throw new Error('no open packet: ' + opened.slice(0, 40));
        const handshake = JSON.parse(opened.slice(1));
        this.sid = handshake.sid;
        this.pingWindow = (handshake.pingInterval || 25000) + (handshake.pingTimeout || 20000);
        this.heard(gen, this.sid);
        this.h.onState('connecting · polling', 'wait');
        this.send4('0');
        this.pollLoop(gen, this.sid);
        if ((handshake.upgrades || []).includes('websocket')) this.probe(gen, this.sid);
      } catch (e) {
        if (this.current(gen)) { this.answered(); this.retry('failed'); }
      }
    }
    // The held GETs of the polling phase, one at a time, until the upgrade or the session's end.
    async pollLoop(gen, sid) {
      while (this.current(gen) && this.sid === sid && this.carrier === 'polling' && !this.pausing) {
        this.polling = true;
        let body;
        try {
          body = await this.fetchText(this.url('polling'), {}, gen);
        } catch (e) {
          this.polling = false;
          if (this.current(gen) && this.sid === sid && this.carrier === 'polling') this.retry('poll failed');
          return;
        }
        this.polling = false;
        if (!this.current(gen) || this.sid !== sid) return;
        for (const packet of body.split(RS)) this.packet(packet, gen);
      }
    }
    // An Engine.IO packet from the server, whichever carrier brought it.
    packet(p, gen) {
      switch (p[0]) {
        case '1': if (this.current(gen)) this.retry('closed by the server'); return;
        case '2': this.heard(gen, this.sid); this.engine('3' + p.slice(1)); return;
        case '4': this.socketPacket(p.slice(1), gen); return;
        default: return; // 6 (noop) releases a held poll; 0, 3, 5 are not sent to a client.
      }
    }
    socketPacket(s, gen) {
      const kind = s[0];
      if (kind === '0') { this.connected = true; return; }
      if (kind === '1' || kind === '4') { if (this.current(gen)) this.retry(kind === '1' ? 'disconnected' : 'refused'); return; }
      const at = s.search(/[[{]/);
      const id = at > 1 ? parseInt(s.slice(1, at), 10) : NaN;
      const data = at < 0 ? null : JSON.parse(s.slice(at));
      if (kind === '3') { this.settle(id, data && data[0]); return; }
      if (kind !== '2' || !Array.isArray(data)) return;
      const [name, obj] = data;
      if (name === 'chat') this.deliver(obj);
      else if (name === 'ready') this.ready(obj);
      else if (name === 'gap') this.gap(obj);
    }
    // Sends a Socket.IO packet (`4` + it) on whichever carrier holds the session.
    send4(s) { this.engine('4' + s); }
    engine(packet) {
      if (this.carrier === 'websocket' && this.ws && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(packet);
        return;
      }
      this.outbox.push(packet);
      this.flush();
    }
    // The outbox as one POST (packets joined by 0x1e), one POST at a time.
    async flush() {
      if (this.posting || this.pausing || !this.outbox.length || !this.sid || this.carrier !== 'polling') return;
      const gen = this.generation, sid = this.sid;
      const body = this.outbox.splice(0).join(RS);
      this.posting = true;
      try {
        const r = await TL.trackedFetch('a Socket.IO post', this.url('polling'), {
          method: 'POST', cache: 'no-store', headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: body,
        });
        if (!r.ok) throw new Error('HTTP ' + r.status);
      } catch (e) {
        this.posting = false;
        if (this.current(gen) && this.sid === sid) this.retry('post failed');
        return;
      }
      this.posting = false;
      this.flush();
    }
    // The upgrade: a WebSocket on the same session, probed before it takes over.
    probe(gen, sid) {
      const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + this.url('websocket'));
      let upgraded = false;
      this.probing = ws;
      ws.onopen = () => { if (this.current(gen) && this.sid === sid) ws.send('2probe'); else ws.close(); };
      ws.onmessage = (e) => {
        if (!this.current(gen) || this.sid !== sid) return;
        if (!upgraded) {
          if (e.data !== '3probe') return;
          upgraded = true;
          this.pausing = true;
          this.upgrade(gen, sid, ws);
          return;
        }
        this.packet(e.data, gen);
      };
      ws.onclose = () => {
        if (!this.current(gen) || this.sid !== sid) return;
        if (this.carrier === 'websocket') {
          this.failPending('the socket closed');
          this.retry('closed');
          return;
        }
        // Refused, or closed before 5 (a server shutting down): the session stays on polling,
        // where the server's close packet waits; switching to the dead socket would go deaf.
        this.probing = null;
        if (upgraded) { this.pausing = false; if (!this.polling) this.pollLoop(gen, sid); this.flush(); }
        this.h.onState('live · polling (no WebSocket)', 'live');
      };
    }
    // Waits for the held poll (released by the server's noop) and any post under way, then
    // sends 5: from now on the WebSocket carries everything, the outbox first.
    upgrade(gen, sid, ws) {
      if (!this.current(gen) || this.sid !== sid || this.probing !== ws) return;
      if (this.polling || this.posting) { setTimeout(() => this.upgrade(gen, sid, ws), 20); return; }
      // Closing: its close event calls the upgrade off.
      if (ws.readyState !== WebSocket.OPEN) return;
      this.probing = null;
      this.ws = ws;
      ws.send('5');
      this.carrier = 'websocket';
      this.pausing = false;
      for (const packet of this.outbox.splice(0)) ws.send(packet);
      if (this.connected) this.live();
    }
    close() {
      if (this.probing) this.probing.close();
      for (const ctrl of this.ctrls) ctrl.abort();
      this.ctrls.clear();
      if (this.ws) this.ws.close(1000, 'drop');
      else if (this.sid) {
        // Says goodbye, so the server ends the session now rather than at its ping timeout.
        fetch(this.url('polling'), { method: 'POST', body: '1', keepalive: true }).catch(() => {});
      }
      this.failPending('the session closed');
      this.reset();
    }
    settle(id, answer) {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      if (answer && typeof answer.id === 'number') p.resolve({ id: answer.id });
      else p.reject(new Error((answer && answer.error) || 'refused'));
    }
    failPending(why) {
      for (const p of this.pending.values()) p.reject(new Error(why));
      this.pending.clear();
    }
    // emit("chat", {..}, ack): a Socket.IO event asking for an ack, on the session itself.
    send(user, text, toOthers) {
      if (!this.connected) {
        const why = this.running
          ? 'Socket.IO is connecting: send again in a moment, or send via another transport'
          : 'the Socket.IO panel is paused: press Resume on it, or send via another transport';
        return Promise.reject(new Error(why));
      }
      const ref = ++this.ref;
      const data = { room: this.room, text: text, user: user };
      if (toOthers) data.except_sender = true;
      return new Promise((resolve, reject) => {
        this.pending.set(ref, { resolve, reject });
        this.send4('2' + ref + JSON.stringify(['chat', data]));
        setTimeout(() => { if (this.pending.delete(ref)) reject(new Error('no ack in 5 s')); }, ACK_TIMEOUT_MS);
      });
    }
  }

  // Registered under the name the page gives this script (the one definition is the server's).
  TL.register(document.currentScript.dataset.transport, SocketIo);
})();
