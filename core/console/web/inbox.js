// The hand-off inbox, live: server-sent events from
// /console/api/v1/tickets/events refresh the list and the open ticket.
(function () {
  'use strict';
  var es;
  function fmt(s, lang) {
    try { return new Date(s).toLocaleString(lang === 'en' ? 'en-GB' : 'vi-VN', {timeZone: 'Asia/Ho_Chi_Minh', day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit'}); } catch (e) { return s; }
  }
  function td(text) { var c = document.createElement('td'); c.textContent = text; return c; }
  function live() {
    var l = document.getElementById('live');
    if (l) { l.hidden = false; }
  }

  var table = document.getElementById('tickets');
  if (table) {
    var kinds = JSON.parse(table.dataset.kinds || '{}');
    var state = table.dataset.state, lang = table.dataset.lang, unassigned = table.dataset.unassigned;
    var body = table.tBodies[0];
    var upsert = function (t) {
      var row = document.getElementById('ticket-' + t.number);
      var wanted = state === 'all' || t.state === state;
      if (!wanted) { if (row) { row.remove(); } return; }
      var fresh = document.createElement('tr');
      fresh.id = 'ticket-' + t.number;
      fresh.className = 'state-' + t.state;
      var a = document.createElement('a');
      a.href = '/console/inbox/' + t.number;
      a.textContent = '#' + t.number;
      var first = document.createElement('td'); first.appendChild(a);
      fresh.appendChild(first);
      fresh.appendChild(td(kinds[t.kind] || t.kind));
      fresh.appendChild(td(t.channel));
      var ag = td(t.agency || unassigned); ag.className = 'agency'; fresh.appendChild(ag);
      var sub = td(t.subject); sub.className = 'subject'; fresh.appendChild(sub);
      fresh.appendChild(td(fmt(t.last_activity_at, lang)));
      if (row) { row.remove(); }
      body.insertBefore(fresh, body.firstChild);
      var none = document.getElementById('none');
      if (none) { none.remove(); }
    };
    es = new EventSource('/console/api/v1/tickets/events');
    es.onopen = live;
    es.addEventListener('ticket', function (ev) { upsert(JSON.parse(ev.data)); });
  }

  var box = document.getElementById('ticket');
  if (box) {
    var number = Number(box.dataset.number), authors = JSON.parse(box.dataset.authors || '{}'), tlang = box.dataset.lang;
    var conv = document.getElementById('conversation');
    var refresh = function () {
      fetch('/console/api/v1/tickets/' + number, {credentials: 'same-origin'}).then(function (r) { return r.ok ? r.json() : null; }).then(function (v) {
        if (!v) { return; }
        var list = document.createDocumentFragment();
        v.conversation.forEach(function (e) {
          var li = document.createElement('li');
          li.className = 'entry author-' + e.author;
          var who = document.createElement('span'); who.className = 'who';
          who.textContent = (authors[e.author] || e.author) + (e.name ? ' (' + e.name + ')' : '');
          var when = document.createElement('span'); when.className = 'muted'; when.textContent = ' ' + fmt(e.at, tlang);
          var text = document.createElement('div'); text.className = 'text'; text.textContent = e.text;
          li.appendChild(who); li.appendChild(when); li.appendChild(text);
          list.appendChild(li);
        });
        conv.replaceChildren(list);
        var st = document.getElementById('ticket-state');
        if (st && st.className !== 'state-' + v.ticket.state) { st.className = 'state-' + v.ticket.state; st.dataset.state = v.ticket.state; }
        var ds = document.getElementById('dossier-status');
        if (ds && v.dossier) { ds.textContent = v.dossier.status_name; }
      });
    };
    es = new EventSource('/console/api/v1/tickets/events');
    es.onopen = live;
    es.addEventListener('ticket', function (ev) {
      var t = JSON.parse(ev.data);
      if (t.number === number) { refresh(); }
    });
  }
})();
