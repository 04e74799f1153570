// transport-lab, `/class`: how many students are here, on which transport, in which room; read
// from the server's presence (`GET /api/rooms`) every 2 s.
'use strict';

(function () {
  const REFRESH_MS = 2000;
  const transports = Array.from(document.querySelectorAll('th[data-transport]'), (th) => th.dataset.transport);
  const total = document.getElementById('class-total');
  const body = document.getElementById('class-rooms');

  function row(name, members, by) {
    const tr = document.createElement('tr');
    for (const v of [name, members, ...transports.map((t) => by[t] || 0)]) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    return tr;
  }

  async function refresh() {
    try {
      const r = await fetch('/api/rooms', { cache: 'no-store' });
      if (r.ok) {
        const rooms = (await r.json()).rooms || [];
        const sum = {};
        let people = 0;
        for (const room of rooms) {
          people += room.members;
          for (const t of transports) sum[t] = (sum[t] || 0) + ((room.by_transport || {})[t] || 0);
        }
        total.textContent = people + (people === 1 ? ' person' : ' people') + ' in ' + rooms.length +
          (rooms.length === 1 ? ' room' : ' rooms');
        total.dataset.members = String(people);
        const rows = rooms.map((room) => row(room.room, room.members, room.by_transport || {}));
        const all = row('all rooms', people, sum);
        all.className = 'total';
        body.replaceChildren(...rows, all);
      }
    } catch (e) {
      total.textContent = 'the server did not answer';
    }
    document.body.dataset.ready = 'yes';
    setTimeout(refresh, REFRESH_MS);
  }

  refresh();
})();
