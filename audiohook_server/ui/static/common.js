/* Shared helpers for the supervisor pages. Text from calls only ever goes through textContent. */
"use strict";
(() => {
  // el("div", {class: "x", dataset: {id: "1"}, onclick: fn, title: "t"}, "text", childNode, ...)
  // Strings become text nodes; there is no way in here to set HTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "style") Object.assign(node.style, value); // CSSOM: allowed under a strict CSP
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "hidden") node.hidden = Boolean(value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.firstChild.remove();
    return node;
  }

  // The element with this id, or the one make() builds (and places).
  function ensure(id, make) {
    return document.getElementById(id) || make();
  }

  // 75.4 -> "01:15"; 3725 -> "1:02:05"
  function fmtTime(seconds) {
    const s = Math.max(0, Math.floor(Number(seconds) || 0));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(r)}` : `${two(m)}:${two(r)}`;
  }

  function fmtDate(iso) {
    const d = new Date(iso);
    if (!iso || Number.isNaN(d.getTime())) return iso || "";
    return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
  }

  function pct(share) {
    return `${Math.round((Number(share) || 0) * 100)}%`;
  }

  function signed(points) {
    const n = Number(points) || 0;
    return (n > 0 ? "+" : n < 0 ? "\u2212" : "\u00b1") + Math.abs(n).toFixed(2);
  }

  // "process_issues/long_hold" -> "long hold"
  function categoryLabel(category) {
    const text = String(category || "");
    return (text.includes("/") ? text.slice(text.indexOf("/") + 1) : text).replace(/_/g, " ");
  }

  const STATES = { connecting: "connecting\u2026", live: "live", reconnecting: "reconnecting\u2026", closed: "not connected" };

  function connectionIndicator() {
    return ensure("connection", () => el("span", { id: "connection", role: "status", "aria-live": "polite" }));
  }

  function showState(indicator, state) {
    if (!indicator) return;
    indicator.hidden = state === "off";
    indicator.dataset.state = state;
    indicator.className = `connection conn-${state}`;
    if (STATES[state]) indicator.textContent = STATES[state];
  }

  // An EventSource on url; handlers: {eventName(data, event)}. Each event's data is parsed as JSON.
  // EventSource reconnects by itself after a dropped stream; when it gives up (an HTTP error), this
  // starts a new one after a growing pause. Returns {close()}.
  function connect(url, handlers, indicator = connectionIndicator()) {
    let source = null, closed = false, retry = 2000, timer = 0;
    const open = () => {
      if (closed) return;
      showState(indicator, source ? "reconnecting" : "connecting");
      source = new EventSource(url, { withCredentials: true });
      source.onopen = () => { retry = 2000; showState(indicator, "live"); };
      source.onerror = () => {
        if (closed) return;
        if (source.readyState === EventSource.CLOSED) {
          showState(indicator, "reconnecting");
          timer = setTimeout(open, retry);
          retry = Math.min(retry * 2, 30000);
        } else {
          showState(indicator, "reconnecting");
        }
      };
      for (const [name, handler] of Object.entries(handlers)) {
        source.addEventListener(name, (event) => {
          let data;
          try {
            data = JSON.parse(event.data);
          } catch (err) {
            console.warn(`ui: the ${name} event is not JSON`, err);
            return;
          }
          try {
            handler(data, event);
          } catch (err) {
            console.error(`ui: the ${name} event could not be shown`, err);
          }
        });
      }
    };
    open();
    return {
      close() {
        closed = true;
        clearTimeout(timer);
        if (source) source.close();
        showState(indicator, "off");
      },
    };
  }

  window.UI = { el, append, clear, ensure, fmtTime, fmtDate, pct, signed, categoryLabel, connect, connectionIndicator, showState };
})();
