/* The live floor: every live call, the ones that need a human first; then the recently ended. */
"use strict";
(() => {
  const { el, clear, fmtTime, pct, connect, connectionIndicator } = window.UI;
  const root = document.getElementById("floor");
  if (!root) return;
  const prefix = root.dataset.callUrlPrefix || "/ui/calls/";
  const MAX_ENDED = 20;
  const live = new Map(); // session_id -> {item, at}: `at` is when it came (duration_s ticks on from there)
  let ended = []; // items, newest first
  const rows = new Map(); // "live:sid" | "ended:sid" -> <tr>

  const COLUMNS = [["c-call", "Call"], ["c-door", "Door"], ["c-duration num", "Duration"], ["c-customer", "Customer"],
    ["c-score num", "Score"], ["c-talk", "Talk agent/cust."], ["c-alert", "Latest alert"], ["c-text", "Last said"]];
  const head = (extra) =>
    el("thead", {}, el("tr", {}, [...COLUMNS.slice(0, 3), ...extra, ...COLUMNS.slice(3)].map(([cls, c]) => el("th", { scope: "col", class: cls }, c))));

  const indicator = connectionIndicator();
  const count = el("span", { id: "floor-count", class: "muted" });
  const liveBody = el("tbody", { id: "floor-calls" });
  const liveTable = el("table", { id: "floor-table", class: "calls" }, el("caption", { class: "sr-only" }, "Live calls"), head([]), liveBody);
  const empty = el("p", { id: "floor-empty", class: "empty" }, "No live calls right now.");
  const endedBody = el("tbody", { id: "floor-ended-calls" });
  const endedTable = el("table", { id: "floor-ended", class: "calls" }, el("caption", { class: "sr-only" }, "Recently ended calls"), head([["c-ended", "Ended"]]), endedBody);
  const endedSection = el("section", { class: "panel", "aria-labelledby": "ended-title" }, el("h2", { id: "ended-title" }, "Recently ended"), endedTable);
  clear(root).append(
    el("header", { class: "page-header" }, el("h1", {}, "Live floor"), count, indicator),
    el("section", { class: "panel", "aria-labelledby": "live-title" }, el("h2", { id: "live-title" }, "Live calls"), empty, liveTable),
    endedSection
  );

  const durationOf = (entry) => entry.item.duration_s + (performance.now() - entry.at) / 1000;

  function cell(cls, ...children) {
    return el("td", { class: cls }, ...children);
  }

  function fill(tr, item, entry) {
    const sid = item.session_id;
    const share = item.talk_share || {};
    const alert = item.latest_alert;
    const score = item.agent_score;
    const cells = [
      cell("c-call", el("a", { class: "call-link", href: prefix + encodeURIComponent(sid) }, item.conversation_id || sid)),
      cell("c-door", item.door || ""),
      cell("c-duration num", fmtTime(entry ? durationOf(entry) : item.duration_s)),
      entry ? null : cell("c-ended", item.end_reason || "ended"),
      el("td", { class: "c-customer", title: [item.customer_sentiment, item.customer_emotion].filter(Boolean).join(" \u00b7 ") },
        item.customer_sentiment ? el("span", { class: `sentiment sentiment-${item.customer_sentiment}` }, item.customer_sentiment) : "\u2013",
        item.customer_emotion ? el("span", { class: "emotion" }, ` \u00b7 ${item.customer_emotion}`) : null
      ),
      cell("c-score num", score === null || score === undefined ? "\u2013" : el("span", { class: `score score-${score}` }, `${score}/5`)),
      cell(
        "c-talk",
        Object.keys(share).length
          ? [
              el("span", { class: "share-bar", "aria-hidden": "true" },
                el("span", { class: "share-agent", style: { width: pct(share.agent) } }),
                el("span", { class: "share-customer", style: { width: pct(share.customer) } })),
              `${pct(share.agent)} / ${pct(share.customer)}`,
            ]
          : "\u2013"
      ),
      cell("c-alert", alert ? el("span", { class: `alert-label alert-${alert.kind}`, title: `${alert.label} at ${fmtTime(alert.at)} (${alert.speaker})` }, alert.label) : ""),
      cell("c-text", el("span", { class: "last-text", title: item.last_text || "" }, item.last_text || "")),
    ];
    clear(tr).append(...cells.filter(Boolean));
    tr.className = "call-row" + (entry && item.attention >= 1 ? " needs-attention" : ""); // live calls only
    tr.dataset.session = sid;
    tr.dataset.attention = String(item.attention ?? 0);
  }

  // Put these rows into tbody in this order, moving only what is out of place (a moved row loses focus).
  function place(tbody, wanted) {
    const keep = new Set(wanted);
    for (const tr of [...tbody.children]) if (!keep.has(tr)) tr.remove();
    wanted.forEach((tr, i) => {
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
    });
  }

  function rowFor(key) {
    let tr = rows.get(key);
    if (!tr) rows.set(key, (tr = el("tr", { class: "call-row" })));
    return tr;
  }

  function render() {
    const entries = [...live.values()].sort(
      (a, b) => (b.item.attention || 0) - (a.item.attention || 0) || durationOf(b) - durationOf(a)
    );
    const used = new Set();
    const liveRows = entries.map((entry) => {
      const key = `live:${entry.item.session_id}`;
      used.add(key);
      const tr = rowFor(key);
      if (tr._item !== entry.item) fill(tr, entry.item, entry);
      tr._item = entry.item;
      tr._entry = entry;
      return tr;
    });
    const endedRows = ended.map((item) => {
      const key = `ended:${item.session_id}`;
      used.add(key);
      const tr = rowFor(key);
      if (tr._item !== item) fill(tr, item, null);
      tr._item = item;
      return tr;
    });
    for (const key of [...rows.keys()]) if (!used.has(key)) rows.delete(key);
    place(liveBody, liveRows);
    place(endedBody, endedRows);
    liveTable.hidden = entries.length === 0;
    empty.hidden = entries.length > 0;
    endedSection.hidden = ended.length === 0;
    const needing = entries.filter((e) => e.item.attention >= 1).length;
    count.textContent = `${entries.length} live` + (needing ? ` \u00b7 ${needing} need attention` : "");
    document.title = (needing ? `(${needing}) ` : "") + "Live floor";
  }

  function addEnded(item) {
    ended = [item, ...ended.filter((e) => e.session_id !== item.session_id)].slice(0, MAX_ENDED);
  }

  function upsert(item) {
    if (!item || !item.session_id) return;
    if (item.live) {
      live.set(item.session_id, { item, at: performance.now() });
    } else {
      live.delete(item.session_id);
      const i = ended.findIndex((e) => e.session_id === item.session_id);
      if (i >= 0) ended[i] = item;
      else addEnded(item);
    }
  }

  const handlers = {
    snapshot(data) {
      live.clear();
      ended = [];
      for (const item of data.calls || []) {
        if (item.live) live.set(item.session_id, { item, at: performance.now() });
        else if (ended.length < MAX_ENDED) ended.push(item);
      }
      render();
    },
    call(item) {
      upsert(item);
      render();
    },
    ended(item) {
      live.delete(item.session_id);
      addEnded({ ...item, live: false });
      render();
    },
  };

  setInterval(() => {
    for (const tr of liveBody.children) {
      const td = tr._entry && tr.querySelector(".c-duration");
      if (td) td.textContent = fmtTime(durationOf(tr._entry));
    }
  }, 1000);

  render();
  if (root.dataset.eventsUrl) connect(root.dataset.eventsUrl, handlers, indicator);
})();
