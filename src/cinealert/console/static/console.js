// cinealert operator console. Alert text is data: it only ever reaches the page through textContent / text
// nodes (never innerHTML), and the Content-Security-Policy forbids inline script besides.
"use strict";

const state = { alerts: new Map(), pending: [], selected: null, session: null, hls: null, clip: null,
                player: { error: null, fatal: false }, actions: [] };
window.consoleState = state;  // read by the browser test

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function channelsOf(a) { return Object.keys(a.channels || {}); }

function headline(a) {
  const t = (a.texts || [])[0];
  return t ? (t.headline || t.event || "") : "";
}

// "2030-11-26T06:00:00+09:00" -> "2030-11-26 06:00 +09:00"; what the alert said, in its own offset
function when(iso) {
  if (!iso) return "";
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)(?::\d\d(?:\.\d+)?)?(.*)$/.exec(iso);
  return m ? m[1] + " " + m[2] + (m[3] ? " " + m[3].replace("+00:00", "UTC") : "") : iso;
}

function timings(t) {
  return Object.entries(t || {}).map(([k, v]) => k + " " + Math.round(Number(v) * 10) / 10).join(" · ");
}

function badge(a) {
  return el("span", { class: "state state-" + a.state }, a.state);
}

function renderList() {
  const body = document.querySelector("#alerts tbody");
  clear(body);
  const rows = [...state.alerts.values()].sort((x, y) => (y.seq || 0) - (x.seq || 0));
  document.getElementById("count").textContent = "(" + rows.length + ")";
  for (const a of rows) {
    const tr = el("tr", { "data-id": a.id, onclick: () => select(a.id) },
      el("td", { class: "state-cell" }, badge(a), a.reason ? el("span", { class: "reason" }, a.reason) : null),
      el("td", {}, a.disaster || ""),
      el("td", {}, channelsOf(a).join(", ")),
      el("td", {}, a.sender || (a.partition !== undefined ? "partition " + a.partition + " @" + a.offset : "")),
      el("td", { class: "headline" }, headline(a)),
      el("td", { class: "nowrap" }, when(a.expires)),
      el("td", { class: "nowrap" }, when(a.received_at).slice(11, 16) || ""));
    if (a.id === state.selected) tr.classList.add("selected");
    body.append(tr);
  }
}

function fact(dl, name, value) {
  if (value === undefined || value === null || value === "") return;
  dl.append(el("dt", {}, name), el("dd", {}, typeof value === "string" ? value : JSON.stringify(value)));
}

function publishedChannel(a) {
  for (const [name, ch] of Object.entries(a.channels || {})) if (ch.master) return [name, ch];
  for (const [name, ch] of Object.entries(a.channels || {})) if (ch.slug) return [name, ch];
  return [null, null];
}

function mediaUrl(channel, slug, name) {
  return "/media/" + [channel, slug, name].map(encodeURIComponent).join("/");
}

function play(url) {
  const video = document.getElementById("clip");
  if (state.clip === url) return;
  state.clip = url;
  state.player = { error: null, fatal: false };
  if (state.hls) { state.hls.destroy(); state.hls = null; }
  if (!url) { video.removeAttribute("src"); video.load(); return; }
  if (window.Hls && window.Hls.isSupported()) {
    const hls = new window.Hls({ enableWorker: false });
    hls.on(window.Hls.Events.ERROR, (_e, data) => {
      state.player.error = data.details;
      if (data.fatal) state.player.fatal = true;
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    state.hls = hls;
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url;
  } else {
    document.getElementById("d-player").textContent = "No HLS player here (console.hls_js is not installed).";
    return;
  }
  video.loop = true;
  video.play().catch(() => {});
}

function actionButton(a, action, channel, label) {
  return el("button", { class: action, "data-action": action, onclick: () => act(a.id, action, channel) }, label);
}

function renderActions(a) {
  const box = document.getElementById("d-actions");
  clear(box);
  for (const [name, ch] of Object.entries(a.channels || {})) {
    const buttons = [];
    if (ch.state === "pending" || ch.state === "held") {
      buttons.push(actionButton(a, "approve", name, "Approve"));
      if (ch.state === "pending") buttons.push(actionButton(a, "hold", name, "Hold"));
    }
    if (ch.state === "published") buttons.push(actionButton(a, "reair", name, "Re-air"));
    if (["pending", "held", "published", "rendering"].includes(ch.state)) {
      buttons.push(actionButton(a, "withdraw", name, "Withdraw"));
    }
    const approval = ch.approval || {};
    if (ch.state === "pending" && approval.auto_approve_at) {
      buttons.push(el("span", { class: "reason" }, "airs by itself at " + when(approval.auto_approve_at) + " unless held"));
    } else if (ch.state === "held" && approval.held_by) {
      buttons.push(el("span", { class: "reason" }, "held by " + approval.held_by));
    }
    if (buttons.length) box.append(el("div", { class: "channel-actions", "data-channel": name }, name + ": ", ...buttons));
  }
}

function renderDetail() {
  const a = state.alerts.get(state.selected);
  const pane = document.getElementById("detail");
  if (!a) { pane.hidden = true; return; }
  pane.hidden = false;
  document.getElementById("d-title").textContent = headline(a) || a.id;
  const st = document.getElementById("d-state");
  clear(st);
  st.append(badge(a), " ", a.reason || "");
  renderActions(a);
  const texts = document.getElementById("d-texts");
  clear(texts);
  for (const t of a.texts || []) {
    texts.append(el("p", { class: "text" }, el("span", { class: "lang" }, t.language), t.headline || t.event,
      t.instruction ? el("span", { class: "reason" }, t.instruction) : null));
  }
  const [channel, ch] = publishedChannel(a);
  const overlay = document.getElementById("d-overlay");
  clear(overlay);
  for (const page of (ch && ch.overlay) || []) {
    // a page of result.json picture.pages: {language, band?, lines: [...], crawl?, expiry}
    const lines = [page.band, ...(page.lines || []), page.crawl, page.expiry].filter((v) => v);
    overlay.append(el("div", { class: "page" }, el("span", { class: "lang" }, page.language || ""),
      lines.join("\n")));
  }
  const thumb = document.getElementById("thumb");
  thumb.hidden = !(ch && ch.first_segment);
  if (!thumb.hidden) thumb.src = "/api/alerts/" + encodeURIComponent(a.id) + "/thumbnail.jpg";
  else thumb.removeAttribute("src");
  document.getElementById("clip").hidden = !(ch && ch.master);
  document.getElementById("d-player").textContent = ch && !ch.master
    ? "No HLS rendition on this channel: add \"hls\" to its profiles to watch the clip here." : "";
  play(ch && ch.master ? mediaUrl(channel, ch.slug, ch.master) : null);
  const facts = document.getElementById("d-facts");
  clear(facts);
  fact(facts, "sender", a.sender);
  fact(facts, "sent", a.sent);
  fact(facts, "type", [a.msg_type, a.status].filter(Boolean).join(" / "));
  fact(facts, "severity", a.severity);
  fact(facts, "expires", when(a.expires));
  for (const [name, c] of Object.entries(a.channels || {})) {
    fact(facts, "channel " + name, c.state + (c.reason ? " (" + c.reason + ")" : ""));
    if (c.rung) fact(facts, "rung", c.rung);
    if (c.timings_ms) fact(facts, "timings (ms)", timings(c.timings_ms));
  }
  if (a.timings_s) fact(facts, "timings (s)", timings(a.timings_s));
  const history = document.getElementById("d-history");
  clear(history);
  for (const h of a.history || []) {
    history.append(el("li", {}, "+" + h.after_s + " s " + h.state + (h.channel ? " [" + h.channel + "]" : "") +
      (h.reason ? ": " + h.reason : "")));
  }
}

function select(id) {
  state.selected = id;
  renderList();
  renderDetail();
}

const CONFIRM = {
  withdraw: "Withdraw this alert on every channel? It is announced as withdrawn, as a CAP Cancel would be.",
  reair: "Announce this alert's output for playout again?",
};

async function act(id, action, channel) {
  if (CONFIRM[action] && !window.confirm(CONFIRM[action])) return;
  const response = await fetch("/api/alerts/" + encodeURIComponent(id) + "/" + action, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": state.session.csrf },
    body: JSON.stringify({ channel }),
  });
  const result = await response.json().catch(() => ({}));
  state.actions.push({ id, action, channel, status: response.status, result });
  if (!response.ok) alert(action + " refused: " + (result.error || response.status));
}

function update(entry) {
  state.alerts.set(entry.id, entry);
  renderList();
  if (entry.id === state.selected) renderDetail();
}

async function start() {
  const response = await fetch("/api/session", { credentials: "same-origin" });
  if (response.status === 401) { location.href = "/login"; return; }
  state.session = await response.json();
  document.getElementById("who").textContent = "operator: " + state.session.operator;
  const link = document.getElementById("link");
  const source = new EventSource("/api/events");
  source.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    state.alerts.clear();
    for (const a of data.alerts) state.alerts.set(a.id, a);
    state.pending = data.pending;
    renderList();
    renderDetail();
  });
  source.addEventListener("alert", (e) => update(JSON.parse(e.data)));
  source.onopen = () => { link.textContent = "live"; link.classList.add("live"); };
  source.onerror = () => { link.textContent = "reconnecting…"; link.classList.remove("live"); };
}

document.addEventListener("DOMContentLoaded", start);
