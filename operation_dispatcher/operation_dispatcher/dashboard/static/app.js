// Operation Dispatcher dashboard: vanilla JS, no build step.
// Data: /events (SSE read with fetch so it can carry the bearer token) for
// live events and a state push every second; REST for what the page shows,
// and only that: the first QUEUE_ROWS of the queue, the timeline's window.
// Live events are applied to what is shown; everything is read again only
// when the stream (re)connects or an event number was skipped.
"use strict";

const QUEUE_ROWS = 200;      // rows shown, one page of the queue; X-Total-Count says how many there are
const TIMELINE_ROWS = 80;    // past operations on the timeline
const EVENT_ROWS = 300;      // events kept in the list
const QUEUE_REREAD_MS = 1000; // the queue page is read again at most this often
const TOKEN_KEY = "operation_dispatcher.token";
const LEAVES_QUEUE = new Set(["OPERATION_STARTED", "OPERATION_CANCELLED", "OPERATION_FAILED", "OPERATION_COMPLETED"]);
const FINISHES = new Set(["OPERATION_COMPLETED", "OPERATION_FAILED", "OPERATION_CANCELLED"]);

const $ = (id) => document.getElementById(id);
const view = { snapshot: null, current: null, queue: [], queueTotal: 0, history: [], lastSequence: null, stale: true };

// ---------------------------------------------------------------- token + API

function takeTokenFromUrl() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function authHeaders() {
  const token = localStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: "Bearer " + token } : {};
}

class ApiError extends Error {
  constructor(status, error) {
    super(error.message || "HTTP " + status);
    this.status = status;
    this.code = error.code;
    this.details = error.details || {};
  }
}

async function request(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401) askForToken();
    throw new ApiError(response.status, data.error || {});
  }
  return { data, headers: response.headers };
}

const api = async (method, path, body) => (await request(method, path, body)).data;

async function queuePage() {
  const { data, headers } = await request("GET", "/operations?state=QUEUED&limit=" + QUEUE_ROWS);
  return { rows: data, total: Number(headers.get("X-Total-Count")) };
}

function askForToken() {
  const dialog = $("token-dialog");
  if (!dialog.open) dialog.showModal();
}

$("token-form").addEventListener("submit", () => {
  localStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
  restartStream();
});

// ------------------------------------------------------------------- helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "");
const seconds = (ms) => (ms < 60000 ? (ms / 1000).toFixed(1) + " s" : Math.floor(ms / 60000) + " min " + Math.round((ms % 60000) / 1000) + " s");

function toast(message, kind) {
  const node = el("div", { class: "toast " + (kind || "") }, message);
  $("toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}

function describeError(err) {
  if (!(err instanceof ApiError)) return String(err);
  const reason = err.details && err.details.reason;
  return err.code + ": " + (reason ? reason : err.message);
}

// --------------------------------------------------------------------- render

function renderSnapshot(snapshot) {
  view.snapshot = snapshot;
  $("resource").textContent = snapshot.resource_id;
  const status = $("status");
  status.textContent = snapshot.status;
  status.className = "badge " + snapshot.status;
  $("paused-reason").textContent = snapshot.paused && snapshot.paused_reason ? snapshot.paused_reason : "";
  $("btn-pause").disabled = snapshot.paused;
  $("btn-resume").disabled = !snapshot.paused;
  $("btn-start").disabled = snapshot.running;
  $("btn-stop").disabled = !snapshot.running;
  const counts = $("counts");
  counts.replaceChildren(
    ...Object.entries(snapshot.counts).map(([state, n]) =>
      el("div", { class: "chip", "data-state": state }, el("b", {}, n), el("span", {}, state.toLowerCase())))
  );
  $("queue-count").textContent = snapshot.queue_length;
}

function renderCurrent(record) {
  view.current = record;
  const body = $("current-body");
  if (!record) {
    body.className = "empty";
    body.replaceChildren("No operation is running.");
    return;
  }
  const { operation: op, execution: ex } = record;
  const pct = Math.round(ex.progress * 100);
  const elapsed = ex.started_at ? Date.now() - new Date(ex.started_at).getTime() : 0;
  body.className = "";
  body.replaceChildren(
    el("div", { class: "current-head" },
      el("span", { class: "id", "data-id": op.id }, op.id),
      el("span", { class: "badge " + ex.state }, ex.state)),
    el("div", { class: "progress " + ex.state, role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100 },
      el("div", { style: "width:" + pct + "%" })),
    el("div", { class: "meta" },
      el("span", {}, pct + " %"),
      el("span", {}, "started " + time(ex.started_at)),
      el("span", {}, "elapsed " + seconds(elapsed)),
      op.planned_duration ? el("span", {}, "planned " + seconds(op.planned_duration * 1000)) : null,
      el("span", {}, "priority " + op.priority),
      op.payload && op.payload.task ? el("span", {}, "task " + op.payload.task) : null),
    el("div", { class: "actions" },
      el("button", { "data-action": "op-pause", "data-id": op.id, disabled: ex.state !== "RUNNING" }, "Pause"),
      el("button", { "data-action": "op-resume", "data-id": op.id, disabled: ex.state !== "PAUSED" }, "Resume"),
      el("button", { "data-action": "op-cancel", "data-id": op.id, class: "danger" }, "Cancel"))
  );
}

function renderQueue() {
  const queue = view.queue;
  const rows = queue.map(({ operation: op, execution: ex }, i) =>
    el("tr", { "data-id": op.id },
      el("td", { class: "muted" }, i + 1),
      el("td", { class: "id", title: op.id }, op.id),
      el("td", {}, op.priority),
      el("td", { class: "muted" }, op.release_date ? time(op.release_date) : ex.not_before ? time(ex.not_before) : ""),
      el("td", {}, (op.payload && op.payload.task) || ""),
      el("td", {}, el("button", { "data-action": "op-cancel", "data-id": op.id }, "Cancel"))));
  $("queue").replaceChildren(...rows);
  const more = view.queueTotal - queue.length;
  $("queue-more").textContent = !view.queueTotal ? "The queue is empty."
    : more > 0 ? "… and " + more.toLocaleString("en-US") + " more queued" : "";
}

function renderTimeline() {
  const records = view.history.slice(0, TIMELINE_ROWS);
  if (view.current) records.unshift(view.current);
  const now = Date.now();
  const spans = records.map(({ operation: op, execution: ex }) => {
    const end = ex.finished_at ? new Date(ex.finished_at).getTime() : now;
    const start = ex.started_at ? new Date(ex.started_at).getTime() : end;
    return { id: op.id, state: ex.state, start, end };
  });
  const t0 = spans.length ? Math.min(...spans.map((s) => s.start)) : now - 60000;
  const range = Math.max(now - t0, 1000);
  const pos = (t) => ((t - t0) / range) * 100;
  $("timeline").replaceChildren(
    ...spans.map((s) =>
      el("div", { class: "row", title: s.id + ": " + s.state + " " + time(new Date(s.start).toISOString()) + " – " + seconds(s.end - s.start) },
        el("span", { class: "label" }, s.id),
        el("span", { class: "track" },
          el("span", { class: "seg " + s.state, style: "left:" + pos(s.start) + "%;width:" + Math.max(pos(s.end) - pos(s.start), 0.3) + "%" }))))
  );
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    el("span", { style: "left:" + f * 100 + "%" }, time(new Date(t0 + f * range).toISOString())));
  $("timeline-axis").replaceChildren(...ticks);
  $("timeline-note").textContent = spans.length ? "last " + spans.length + " operations" : "nothing finished yet";
}

function eventKind(type) {
  if (type.startsWith("OPERATION_DISPATCHER_")) return "dispatcher";
  if (type.endsWith("_REQUESTED")) return "request";
  if (type.endsWith("_DENIED")) return "denied";
  if (type.endsWith("_FAILED")) return "failed";
  if (type.endsWith("_COMPLETED")) return "done";
  return "";
}

function addEvent(event) {
  const meta = event.metadata || {};
  const detail = [event.operation_id, meta.reason, meta.outcome].filter(Boolean).join(" · ");
  const item = el("li", { "data-type": event.event_type, "data-op": event.operation_id || "" },
    el("span", { class: "time" }, time(event.created_at)),
    el("span", { class: "type " + eventKind(event.event_type), title: event.event_type }, event.event_type.replace(/^OPERATION_/, "")),
    el("span", { class: "detail", title: detail }, detail));
  const list = $("events");
  list.prepend(item);
  while (list.childElementCount > EVENT_ROWS) list.lastElementChild.remove();
}

// -------------------------------------------------------------------- refresh

// One read at a time per kind: a read asked for while one runs runs once after it.
function serialized(read) {
  let running = null;
  let again = false;
  const run = () => {
    if (running) { again = true; return running; }
    running = read()
      .catch((err) => { if (!(err instanceof ApiError && err.status === 401)) $("connection").className = "connection down"; })
      .finally(() => { running = null; if (again) { again = false; run(); } });
    return running;
  };
  return run;
}

// Everything shown, read again: on load, on (re)connecting, after a skipped event number.
const refresh = serialized(async () => {
  view.stale = false;
  const [snapshot, current, queue, history] = await Promise.all([
    api("GET", "/dispatcher"),
    api("GET", "/operations/current"),
    queuePage(),
    api("GET", "/operations/history?limit=" + TIMELINE_ROWS),
  ]);
  view.history = history;
  view.queue = queue.rows;
  view.queueTotal = queue.total;
  renderSnapshot(snapshot);
  renderCurrent(current);
  renderQueue();
  renderTimeline();
});

// The dispatcher's state and the current operation, at once after a button
// (the stream pushes them every second).
const refreshState = serialized(async () => {
  const [snapshot, current] = await Promise.all([api("GET", "/dispatcher"), api("GET", "/operations/current")]);
  renderSnapshot(snapshot);
  renderCurrent(current);
  renderTimeline();
});

// The first page of the queue only: where a new operation lands depends on its
// priority and the queue's order, which the dispatcher knows; the page asks it.
const rereadQueue = serialized(async () => {
  const queue = await queuePage();
  view.queue = queue.rows;
  view.queueTotal = queue.total;
  renderQueue();
});

let queueTimer = null;
let queueReadAt = 0;
function scheduleQueueReread() {
  if (queueTimer !== null) return;
  const wait = Math.max(150, queueReadAt + QUEUE_REREAD_MS - Date.now());
  queueTimer = setTimeout(() => { queueTimer = null; queueReadAt = Date.now(); rereadQueue(); }, wait);
}

// Everything read again once the stream's backlog has arrived (an event before
// the read is in what it reads; one after it is applied to it).
let refreshTimer = null;
function refreshSoon() {
  view.stale = true;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 150);
}

// A live event applied to what is shown, instead of reading it all again.
async function applyEvent(event) {
  const seen = view.lastSequence;
  view.lastSequence = event.sequence;
  if (seen !== null && event.sequence !== seen + 1) refreshSoon();  // missed some: read it all
  if (view.stale) return;
  const type = event.event_type;
  if (type === "OPERATION_ADDED") scheduleQueueReread();
  if (LEAVES_QUEUE.has(type)) {
    const shown = view.queue.findIndex((r) => r.operation.id === event.operation_id);
    if (shown >= 0) {
      view.queue.splice(shown, 1);
      view.queueTotal -= 1;
      renderQueue();
      if (view.queueTotal > view.queue.length) scheduleQueueReread();  // the next one moves up
    }
  }
  if (FINISHES.has(type) && event.operation_id) {
    const record = await api("GET", "/operations/" + encodeURIComponent(event.operation_id)).catch(() => null);
    if (record) {
      view.history = [record, ...view.history.filter((r) => r.operation.id !== record.operation.id)].slice(0, TIMELINE_ROWS);
      renderTimeline();
    }
  }
}

// The state pushed every second carries the queue's length: a queue that changed
// in a way no event showed (an operation put back in line) is read again.
function checkQueueLength(snapshot) {
  if (!view.stale && snapshot.queue_length !== view.queueTotal) scheduleQueueReread();
}

// ------------------------------------------------------------ live event stream

let streamAbort = null;

function restartStream() {
  if (streamAbort) streamAbort.abort();
  streamEvents();
}

async function streamEvents() {
  const controller = new AbortController();
  streamAbort = controller;
  const status = $("connection");
  try {
    const response = await fetch("/events", { headers: authHeaders(), signal: controller.signal });
    if (response.status === 401) { askForToken(); status.className = "connection down"; status.textContent = "token needed"; return; }
    if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
    status.className = "connection live";
    status.textContent = "live";
    view.lastSequence = null;
    refreshSoon();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        handleMessage(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  } catch (err) {
    if (controller.signal.aborted) return;
  }
  if (streamAbort !== controller) return;
  status.className = "connection down";
  status.textContent = "reconnecting";
  setTimeout(() => { if (streamAbort === controller) streamEvents(); }, 2000);
}

function handleMessage(text) {
  let type = "message";
  const data = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (!data.length) return;
  const payload = JSON.parse(data.join("\n"));
  if (type === "state") {
    renderSnapshot(payload.dispatcher);
    renderCurrent(payload.current);
    renderTimeline();
    checkQueueLength(payload.dispatcher);
  } else if (type === "dispatch") {
    addEvent(payload);
    applyEvent(payload);
  }
}

// -------------------------------------------------------------------- actions

const ACTIONS = {
  "dispatcher-pause": () => api("POST", "/dispatcher/pause", { reason: "paused from the dashboard" }),
  "dispatcher-resume": () => api("POST", "/dispatcher/resume"),
  "dispatcher-start": () => api("POST", "/dispatcher/start"),
  "dispatcher-stop": () => api("POST", "/dispatcher/stop"),
  "op-cancel": (id) => api("POST", "/operations/" + encodeURIComponent(id) + "/cancel", { reason: "cancelled from the dashboard" }),
  "op-pause": (id) => api("POST", "/operations/" + encodeURIComponent(id) + "/pause", { reason: "paused from the dashboard" }),
  "op-resume": (id) => api("POST", "/operations/" + encodeURIComponent(id) + "/resume", { reason: "resumed from the dashboard" }),
};

document.addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-action]");
  if (!button) return;
  button.disabled = true;
  try {
    await ACTIONS[button.dataset.action](button.dataset.id);
  } catch (err) {
    toast(describeError(err), "error");
  } finally {
    button.disabled = false;
    refreshState();
  }
});

takeTokenFromUrl();
streamEvents();
