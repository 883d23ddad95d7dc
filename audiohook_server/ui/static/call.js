/* One call: live (data + events), finished (data), or the offline report (#call-data). */
"use strict";
(() => {
  const { el, clear, fmtTime, fmtDate, pct, signed, categoryLabel, connect, connectionIndicator, showState } = window.UI;
  const root = document.getElementById("call");
  if (!root) return;
  const { dataUrl, eventsUrl, recordingUrl } = root.dataset;
  const embedded = document.getElementById("call-data"); // read before the page is built (it may sit inside main)
  const embeddedText = embedded ? embedded.textContent : null;
  const ROLES = ["agent", "customer", "unknown"];
  const COLORS = { agent: "#1f6fd1", customer: "#e0700f", unknown: "#7b8794" };
  const CHART_HEIGHT = 160;
  const roleOf = (speaker) => (ROLES.includes(speaker) ? speaker : "unknown");

  let call = null;
  let receivedAt = 0; // performance.now() when call.duration_s was true
  let stream = null;
  let chart = null, chartRoles = "", chartFinals = [];
  let stick = true; // the transcript follows new utterances until the user scrolls up

  // ---- the page's parts -------------------------------------------------------------------
  const indicator = connectionIndicator();
  const title = el("h1", { id: "call-title" });
  const subtitle = el("p", { class: "muted subtitle" });
  const facts = el("dl", { class: "facts" });
  const status = el("span", { id: "status", class: "status" });
  const duration = el("span", { id: "duration", class: "num" });
  const talk = el("span", { id: "talk-share" });
  const header = el("header", { id: "call-header", class: "page-header call-header" },
    el("div", {}, title, subtitle), facts, indicator);
  const summaryText = el("p", { class: "summary-text" });
  const analysisFacts = el("dl", { class: "analysis-facts" });
  const summary = el("section", { id: "summary", class: "panel" }, el("h2", {}, "Summary"), summaryText, analysisFacts);
  const scoreValue = el("p", { class: "score-value" });
  const breakdown = el("tbody");
  const score = el("section", { id: "score", class: "panel" }, el("h2", {}, "Agent score"), scoreValue,
    el("table", { class: "breakdown" }, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Component"), el("th", { scope: "col", class: "num" }, "Points"))), breakdown));
  const alertsTitle = el("h2", {}, "Alerts");
  const alertList = el("ul", { class: "alert-list" });
  const alerts = el("section", { id: "alerts", class: "panel" }, alertsTitle, alertList);
  const chartBox = el("div", { id: "sentiment-chart", class: "chart" });
  const track = el("div", { class: "timeline-track" });
  const timeline = el("div", { id: "timeline", class: "timeline", role: "group", "aria-label": "Alerts and moments over the call" }, track);
  const player = el("div", { id: "player" });
  const transcript = el("div", { id: "transcript", class: "transcript", tabindex: "0", role: "log", "aria-label": "Transcript" });
  const problem = el("p", { class: "error", role: "alert", hidden: true });
  clear(root).append(
    header,
    problem,
    el("div", { class: "call-layout" },
      el("div", { class: "call-main" },
        el("section", { class: "panel chart-panel" }, el("h2", {}, "Sentiment"), chartBox, timeline),
        el("section", { class: "panel transcript-panel" }, el("h2", {}, "Transcript"), player, transcript)),
      el("aside", { class: "call-side" }, alerts, summary, score))
  );

  transcript.addEventListener("scroll", () => {
    stick = transcript.scrollTop + transcript.clientHeight >= transcript.scrollHeight - 24;
  });

  const flash = (node, cls = "changed") => {
    node.classList.remove(cls);
    void node.offsetWidth; // restart the animation
    node.classList.add(cls);
    setTimeout(() => node.classList.remove(cls), 1600);
  };

  const callDuration = () => {
    let d = Number(call.duration_s) || 0;
    if (call.live) d += (performance.now() - receivedAt) / 1000;
    for (const u of call.utterances) d = Math.max(d, u.end || 0);
    return d;
  };
  const axisEnd = () => Math.max(callDuration(), 30); // the chart's x axis and the timeline both span 0..axisEnd()

  // ---- header, analysis, alerts ---------------------------------------------------------------
  function renderHeader() {
    title.textContent = call.conversation_id || call.session_id;
    subtitle.textContent = call.conversation_id ? `session ${call.session_id}` : "";
    status.textContent = call.live ? "live" : `ended${call.end_reason ? `: ${call.end_reason}` : ""}`;
    status.className = `status ${call.live ? "status-live" : "status-ended"}`;
    duration.textContent = fmtTime(callDuration());
    renderTalk();
    const fact = (name, value) => [el("dt", {}, name), el("dd", {}, value)];
    clear(facts).append(
      ...fact("Door", call.door || "\u2013"),
      ...fact("Started", fmtDate(call.started_at) || "\u2013"),
      ...fact("Duration", duration),
      ...fact("Talk share", talk),
      ...fact("Status", status)
    );
  }

  function renderTalk() {
    const share = call.talk_share || {};
    const parts = ROLES.filter((r) => share[r]).map((r) => `${r} ${pct(share[r])}`);
    talk.textContent = parts.length ? parts.join(" \u00b7 ") : "\u2013";
  }

  function renderAnalysis(highlight) {
    const a = call.analysis;
    const text = (a && a.summary) || "no analysis yet";
    if (summaryText.textContent !== text) {
      summaryText.textContent = text;
      summaryText.classList.toggle("muted", !(a && a.summary));
      if (highlight) flash(summaryText);
    }
    clear(analysisFacts);
    const rows = [["Sentiment", "sentiment"], ["Emotion", "emotion"], ["Outcome", "outcome"], ["Process issues", "process_issues"],
      ["Repeated problems", "repeated_problems"], ["Marketing mentions", "marketing_mentions"]];
    for (const [name, key] of rows) if (a && a[key]) analysisFacts.append(el("dt", {}, name), el("dd", {}, String(a[key])));

    const value = a && a.agent_score !== null && a.agent_score !== undefined ? String(a.agent_score) : null;
    const shown = value === null ? "\u2013" : `${value} / 5`;
    if (scoreValue.textContent !== shown) {
      clear(scoreValue).append(el("span", { class: `score score-${value}` }, shown));
      if (highlight) flash(scoreValue);
    }
    const parts = (a && a.breakdown) || {};
    const names = Object.keys(parts);
    for (const tr of [...breakdown.children]) if (!names.includes(tr.dataset.name)) tr.remove();
    for (const name of names) {
      let tr = [...breakdown.children].find((row) => row.dataset.name === name);
      const points = signed(parts[name]);
      if (!tr) {
        tr = el("tr", { dataset: { name } }, el("th", { scope: "row" }, name.replace(/_/g, " ")), el("td", { class: "num points" }));
        breakdown.append(tr);
      }
      const td = tr.lastChild;
      if (td.textContent !== points) {
        td.textContent = points;
        td.className = `num points ${parts[name] > 0 ? "pos" : parts[name] < 0 ? "neg" : ""}`;
        if (highlight) flash(td);
      }
    }
    if (!names.length && !breakdown.children.length) breakdown.append(el("tr", { dataset: { name: "" } }, el("td", { colspan: "2", class: "muted" }, "no breakdown yet")));
  }

  function renderAlerts() {
    const list = call.alerts || [];
    alertsTitle.textContent = `Alerts (${list.length})`;
    clear(alertList);
    if (!list.length) alertList.append(el("li", { class: "empty" }, "No alerts."));
    for (const a of list) {
      alertList.append(el("li", { class: `alert alert-${a.kind}`, dataset: { id: a.id } },
        el("button", { type: "button", class: "jump", onclick: () => focusUtterance(a.utterance_id) },
          el("span", { class: "time num" }, fmtTime(a.at)), " ",
          el("span", { class: "label" }, a.label), " ",
          el("span", { class: `speaker-name speaker-${roleOf(a.speaker)}` }, a.speaker))));
    }
  }

  // ---- timeline ---------------------------------------------------------------------------
  function marker(kind, item, text) {
    const label = `${text}: ${item.label} at ${fmtTime(item.at)}`;
    return el("button", { type: "button", class: `marker ${kind}-marker`, dataset: { at: String(item.at) },
      "aria-label": label, title: label, onclick: () => focusUtterance(item.utterance_id) });
  }

  function renderTimeline() {
    clear(track).append(
      el("span", { class: "lane-label", "aria-hidden": "true" }, "alerts"),
      el("span", { class: "lane-label lane-moments", "aria-hidden": "true" }, "moments"),
      ...[...(call.alerts || []).map((a) => ["alert", a, "Alert"]), ...(call.moments || []).map((m) => ["moment", m, "Moment"])]
        .sort((x, y) => x[1].at - y[1].at) // tab order: by time, an alert before a moment at the same time
        .map(([kind, item, text]) => marker(kind, item, text))
    );
    placeMarkers();
  }

  function placeMarkers() {
    const total = axisEnd();
    for (const m of track.querySelectorAll(".marker")) m.style.left = `${Math.min(100, Math.max(0, (Number(m.dataset.at) / total) * 100))}%`;
    alignTimeline();
  }

  // The strip spans the chart's plot area, so a marker sits under its point.
  function alignTimeline() {
    if (!chart) return;
    const plot = chart.over.getBoundingClientRect(), box = timeline.getBoundingClientRect();
    if (!plot.width) return;
    track.style.marginLeft = `${plot.left - box.left}px`;
    track.style.width = `${plot.width}px`;
  }

  // ---- chart ------------------------------------------------------------------------------
  function chartData() {
    chartFinals = [...call.utterances].sort((a, b) => a.start - b.start);
    const roles = ROLES.filter((r) => chartFinals.some((u) => roleOf(u.speaker) === r));
    // undefined: not this speaker's point (the line joins over it); null: no valence (a gap)
    const ys = roles.map((r) => chartFinals.map((u) => (roleOf(u.speaker) !== r ? undefined : typeof u.valence === "number" ? u.valence : null)));
    return { roles, data: [chartFinals.map((u) => u.start), ...ys] };
  }

  function renderChart() {
    if (typeof window.uPlot !== "function") return;
    const { roles, data } = chartData();
    const width = Math.max(200, chartBox.clientWidth || 600);
    if (chart && chartRoles === roles.join()) {
      chart.setData(data);
      alignTimeline();
      return;
    }
    if (chart) chart.destroy();
    chartRoles = roles.join();
    const value = (u, v) => (v === null || v === undefined ? "\u2013" : v.toFixed(2));
    chart = new window.uPlot({
      width, height: CHART_HEIGHT,
      scales: { x: { time: false, range: (u, min, max) => [0, Math.max(axisEnd(), max || 0)] }, y: { range: [-1, 1] } },
      axes: [
        { values: (u, splits) => splits.map(fmtTime), incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200], space: 70, stroke: "#4a5563", grid: { stroke: "#e6e9ee" }, ticks: { stroke: "#d0d5dc" } },
        { values: (u, splits) => splits.map((v) => v.toFixed(1)), splits: () => [-1, -0.5, 0, 0.5, 1], size: 44, stroke: "#4a5563",
          grid: { stroke: "#e6e9ee" }, ticks: { stroke: "#d0d5dc" } },
      ],
      series: [
        { label: "time", value: (u, v) => (v === null || v === undefined ? "\u2013" : fmtTime(v)) },
        ...roles.map((r) => ({ label: r, stroke: COLORS[r], width: 2, value, points: { show: true, size: 6, fill: COLORS[r] } })),
      ],
      cursor: { drag: { x: false, y: false } },
      hooks: { setSize: [() => alignTimeline()] },
    }, data, chartBox);
    chart.over.title = "Click a point to go to its utterance";
    chart.over.addEventListener("click", () => {
      const i = chart.cursor.idx;
      if (i !== null && i !== undefined && chartFinals[i]) focusUtterance(chartFinals[i].id);
    });
    alignTimeline();
  }

  new ResizeObserver((entries) => {
    const width = Math.floor(entries[0].contentRect.width);
    if (chart && width > 0 && Math.abs(width - chart.width) > 1) chart.setSize({ width, height: CHART_HEIGHT });
    alignTimeline();
  }).observe(chartBox);

  // ---- transcript -------------------------------------------------------------------------
  let audio = null;
  function renderPlayer() {
    const wanted = Boolean(call.has_recording && recordingUrl && !call.live);
    if (wanted && !audio) {
      audio = el("audio", { id: "recording", controls: true, preload: "metadata", src: recordingUrl });
      audio.addEventListener("timeupdate", () => {
        const t = audio.currentTime;
        const now = call.utterances.find((u) => u.start <= t && t < u.end);
        for (const n of transcript.querySelectorAll(".playing")) if (!now || n.dataset.id !== now.id) n.classList.remove("playing");
        if (now) { const n = findUtterance(now.id); if (n) n.classList.add("playing"); }
      });
      player.append(audio);
    } else if (!wanted && audio) {
      audio.remove();
      audio = null;
    }
  }

  function play(start) {
    if (!audio) return;
    audio.currentTime = start;
    audio.play().catch((err) => console.warn("ui: the recording does not play", err));
  }

  function utteranceNode(u) {
    const role = roleOf(u.speaker);
    const time = fmtTime(u.start);
    const tags = [];
    if (u.sentiment && u.sentiment !== "neutral") tags.push(el("span", { class: `tag sentiment sentiment-${u.sentiment}`, title: typeof u.valence === "number" ? `valence ${u.valence.toFixed(2)}` : null }, u.sentiment));
    if (u.emotion && u.emotion !== "neutral") tags.push(el("span", { class: "tag emotion" }, u.emotion));
    for (const c of u.categories || []) tags.push(el("span", { class: "tag category", title: c }, categoryLabel(c)));
    return el("div", { class: `utterance speaker-${role}${u.final === false ? " partial" : ""}`, tabindex: "-1", dataset: { id: u.id, start: String(u.start) } },
      audio && u.final !== false
        ? el("button", { type: "button", class: "play time num", "aria-label": `Play from ${time}`, onclick: () => play(u.start) }, time)
        : el("span", { class: "time num" }, time),
      el("div", { class: "u-body" },
        el("div", { class: "u-head" },
          el("span", { class: "speaker-name" }, u.speaker || "unknown", u.speaker_id ? el("small", { class: "speaker-id" }, u.speaker_id) : null),
          tags.length ? el("span", { class: "tags" }, tags) : null,
          u.final === false ? el("span", { class: "tag partial-tag" }, "speaking\u2026") : null),
        el("p", { class: "text" }, u.text || "")));
  }

  const findUtterance = (id) => [...transcript.children].find((n) => n.dataset.id === id);

  // Into the transcript in time order (a new node goes after any with the same start).
  function insertNode(node) {
    const start = Number(node.dataset.start);
    let before = null;
    for (let n = transcript.lastElementChild; n && Number(n.dataset.start) > start; n = n.previousElementSibling) before = n;
    transcript.insertBefore(node, before);
  }

  function followTranscript() {
    if (call.live && stick) transcript.scrollTop = transcript.scrollHeight;
  }

  function renderTranscript() {
    const top = transcript.scrollTop;
    clear(transcript);
    const all = [...call.utterances, ...(call.live ? call.partials || [] : [])].sort((a, b) => a.start - b.start);
    if (!all.length) transcript.append(el("p", { class: "empty", dataset: { start: "-1" } }, call.live ? "Waiting for speech\u2026" : "Nothing was said."));
    for (const u of all) transcript.append(utteranceNode(u));
    if (call.live && stick) followTranscript();
    else transcript.scrollTop = top;
  }

  function dropEmpty() {
    const e = transcript.querySelector(".empty");
    if (e) e.remove();
  }

  function focusUtterance(id) {
    const node = id && findUtterance(id);
    if (!node) return;
    node.scrollIntoView({ block: "center", behavior: "smooth" });
    node.focus({ preventScroll: true });
    flash(node, "flash");
  }

  // ---- the whole call, and the events that change it --------------------------------------------
  function setCall(data) {
    call = { utterances: [], partials: [], alerts: [], moments: [], analysis: null, talk_share: {}, ...data };
    receivedAt = performance.now();
    problem.hidden = true;
    renderHeader();
    renderAnalysis(false);
    renderAlerts();
    renderPlayer();
    renderTranscript();
    renderChart();
    renderTimeline();
    if (!call.live) stopStream();
  }

  function stopStream() {
    if (stream) stream.close();
    stream = null;
  }

  const handlers = {
    snapshot: setCall,
    partial(p) {
      if (!call || !call.live) return;
      call.partials = call.partials.filter((x) => x.id !== p.id).concat([{ ...p, final: false }]);
      const old = findUtterance(p.id);
      const node = utteranceNode({ ...p, final: false });
      dropEmpty();
      if (old && Number(old.dataset.start) === Number(p.start)) old.replaceWith(node);
      else { if (old) old.remove(); insertNode(node); }
      followTranscript();
    },
    final(u) {
      if (!call) return;
      const { replaces, ...utterance } = u;
      utterance.final = true;
      call.partials = call.partials.filter((x) => x.id !== replaces && x.id !== utterance.id);
      for (const id of [replaces, utterance.id]) { const n = id && findUtterance(id); if (n) n.remove(); }
      call.utterances = call.utterances.filter((x) => x.id !== utterance.id);
      call.utterances.push(utterance);
      call.utterances.sort((a, b) => a.start - b.start);
      dropEmpty();
      insertNode(utteranceNode(utterance));
      followTranscript();
      renderChart();
      placeMarkers();
    },
    analysis(d) {
      if (!call) return;
      if ("analysis" in d) call.analysis = d.analysis;
      if (d.talk_share) call.talk_share = d.talk_share;
      renderAnalysis(true);
      renderTalk();
    },
    alert(a) {
      if (!call) return;
      call.alerts = call.alerts.filter((x) => x.id !== a.id).concat([a]);
      renderAlerts();
      renderTimeline();
      const li = alertList.lastElementChild;
      if (li) flash(li);
    },
    moment(m) {
      if (!call) return;
      call.moments = call.moments.filter((x) => x.id !== m.id).concat([m]);
      renderTimeline();
    },
    ended(d) {
      stopStream();
      if (!call) return;
      call.duration_s = callDuration();
      call.live = false;
      call.end_reason = d.end_reason || "";
      call.partials = [];
      for (const n of transcript.querySelectorAll(".partial")) n.remove();
      renderHeader();
      const reason = call.end_reason;
      // the finished call, from its files (still shown as ended should the server not know yet)
      if (dataUrl) loadAndShow(3, (data) => (data.live ? { ...data, live: false, end_reason: data.end_reason || reason, partials: [] } : data));
    },
  };

  async function load(tries = 1) {
    for (let i = 0; i < tries; i++) {
      try {
        const response = await fetch(dataUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        return await response.json();
      } catch (err) {
        if (i === tries - 1) {
          problem.textContent = `The call could not be loaded (${err.message}).`;
          problem.hidden = false;
          return null;
        }
        await new Promise((resolve) => setTimeout(resolve, 1500 * (i + 1)));
      }
    }
    return null;
  }
  const loadAndShow = async (tries, patch = (data) => data) => {
    const data = await load(tries);
    if (data) setCall(patch(data));
    return data;
  };

  setInterval(() => {
    if (!call || !call.live) return;
    duration.textContent = fmtTime(callDuration());
    if (Math.round(performance.now() / 1000) % 5 === 0) {
      if (chart) chart.setData(chart.data);
      placeMarkers();
    }
  }, 1000);

  // ---- start ----------------------------------------------------------------------------------
  if (embeddedText !== null) {
    showState(indicator, "off");
    try {
      setCall(JSON.parse(embeddedText));
    } catch (err) {
      problem.textContent = "The report's data could not be read.";
      problem.hidden = false;
      console.error(err);
    }
  } else if (dataUrl) {
    showState(indicator, "off");
    loadAndShow(2).then((data) => {
      if (data && data.live && eventsUrl) stream = connect(eventsUrl, handlers, indicator);
    });
  }
})();
