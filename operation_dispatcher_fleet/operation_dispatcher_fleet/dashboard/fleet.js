// Fleet dashboard: vanilla JS, no build step, nothing fetched from the internet.
// Data: /fleet/events (SSE read with fetch so it can carry the bearer token):
// every robot's dispatch events, and every robot (GET /robots's list) each
// second. Per robot, its next goals are read from its own routes
// (/robots/{id}/operations/current and ?state=QUEUED&limit=GOALS) when an
// event or its state says they changed, at most once a second each.
// Rendering is batched into one animation frame; the event list is bounded.
// Every string from the server goes into the page as text (textContent,
// setAttribute), never as HTML.
"use strict";

const EVENT_ROWS = 200;            // events kept in the list
const GOALS = 5;                   // queued operations drawn per robot
const ROUTE_REREAD_MS = 1500;      // a robot's goals are read again at most this often
const MAP_RENDER_MS = 250;         // the map is drawn again at most this often
const STATE_SILENCE_MS = 2000;     // no state message for this long while live: read GET /robots
const ROBOTS_REREAD_MS = 500;      // after events that change a robot's state, GET /robots at most this often
const TOKEN_KEY = "operation_dispatcher_fleet.token";
const ROUTE_EVENTS = new Set(["OPERATION_ADDED", "OPERATION_STARTED", "OPERATION_COMPLETED", "OPERATION_FAILED", "OPERATION_CANCELLED"]);
const PALETTE = ["#1f63c6", "#c2410c", "#15803d", "#7c3aed", "#be185d", "#0e7490", "#a16207", "#4d7c0f", "#b91c1c", "#4338ca"];
const MAP_W = 640;
const MAP_H = 400;
const MAP_MARGIN = 30;             // px kept free around what is drawn
const ON_LEG = 0.3;                // m: a pose this close to a leg of its route is driving that leg
const SVG_NS = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);

const fleet = {
  robots: new Map(),   // resource_id -> the gateway's view of it (GET /robots)
  order: [],           // resource ids in the gateway's order
  routes: new Map(),   // resource_id -> { current: {id, stops} | null, queued: [{id, stops}], seenCurrent, seenQueue }
  colors: new Map(),   // resource_id -> colour, in order of first sight (stable for the page's life)
  cards: new Map(),    // resource_id -> the card's nodes
  lastStateAt: 0,
  live: false,
};

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
    this.code = error.code || "HTTP_" + status;
    this.details = error.details || {};
  }
}

async function api(method, path, body) {
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401) askForToken();
    throw new ApiError(response.status, (data && data.error) || {});
  }
  return data;
}

const robotPath = (id) => "/robots/" + encodeURIComponent(id);

function askForToken() {
  const dialog = $("token-dialog");
  if (!dialog.open) dialog.showModal();
}

$("token-form").addEventListener("submit", () => {
  localStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
  restartStream();
});

function describeError(err) {
  if (!(err instanceof ApiError)) return String(err);
  const reason = err.details && err.details.reason;
  return err.code + ": " + (reason ? reason : err.message);
}

// ------------------------------------------------------------------- helpers

function build(node, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}
const el = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
const svg = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

function setText(node, text) {
  text = String(text);
  if (node.textContent !== text) node.textContent = text;
}
function setAttr(node, name, value) {
  value = String(value);
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "");
const fmt = (v) => String(Math.round(v * 100) / 100);

function toast(message, kind) {
  const node = el("div", { class: "toast " + (kind || ""), role: kind === "error" ? "alert" : null }, message);
  $("toasts").append(node);
  while ($("toasts").childElementCount > 5) $("toasts").firstElementChild.remove();
  setTimeout(() => node.remove(), 8000);
}

function colorOf(id) {
  if (!fleet.colors.has(id)) fleet.colors.set(id, PALETTE[fleet.colors.size % PALETTE.length]);
  return fleet.colors.get(id);
}

// The stops of a route payload, as the robots read it (route_payload.py):
// waypoints, or pickup + dropoff, or a goal. Anything else: no stops.
function stopsOf(payload) {
  if (!payload || typeof payload !== "object") return [];
  const point = (p, name) => (p && Number.isFinite(p.x) && Number.isFinite(p.y) ? { x: p.x, y: p.y, name } : null);
  let stops = [];
  if (Array.isArray(payload.waypoints)) stops = payload.waypoints.map((p, i) => point(p, "waypoint " + (i + 1)));
  else if (payload.pickup || payload.dropoff) stops = [point(payload.pickup, "pickup"), point(payload.dropoff, "dropoff")];
  else if (payload.goal) stops = [point(payload.goal, "goal")];
  return stops.filter(Boolean);
}

function distanceToSegment(p, a, b) {
  const dx = b.x - a.x, dy = b.y - a.y;
  const length2 = dx * dx + dy * dy;
  const t = length2 ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / length2)) : 0;
  return Math.hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

// The stops still ahead of a robot at `pose` on its route: those after the leg it is on
// (robots drive leg by leg; before the second stop's leg, every stop is ahead).
function stopsAhead(pose, stops) {
  if (!pose) return stops;
  for (let k = stops.length - 1; k >= 1; k--) {
    if (distanceToSegment(pose, stops[k - 1], stops[k]) <= ON_LEG) return stops.slice(k);
  }
  return stops;
}

// ----------------------------------------------------------------- rendering

let frameAsked = false;
const dirty = { robots: false, map: false };
const pendingEvents = [];

let mapDrawnAt = 0;
let mapTimer = null;

function scheduleRender(what) {
  if (what) dirty[what] = true;
  if (frameAsked) return;
  frameAsked = true;
  requestAnimationFrame(() => {
    frameAsked = false;
    if (dirty.robots) { dirty.robots = false; renderRobots(); renderTotals(); }
    if (dirty.map && mapTimer === null) {
      const wait = mapDrawnAt + MAP_RENDER_MS - Date.now();
      if (wait <= 0) { dirty.map = false; mapDrawnAt = Date.now(); renderMap(); }
      else mapTimer = setTimeout(() => { mapTimer = null; scheduleRender(); }, wait);
    }
    flushEvents();
  });
}

function card(id) {
  let c = fleet.cards.get(id);
  if (c) return c;
  c = {
    swatch: el("span", { class: "swatch", "aria-hidden": "true", style: "background:" + colorOf(id) }),
    status: el("span", { class: "badge" }),
    lost: el("span", { class: "lost-tag", hidden: true }, "LOST"),
    health: el("span", { class: "health" }),
    opId: el("span", { class: "op-id" }),
    fill: el("div"),
    pct: el("span", { class: "pct" }),
    queue: el("span", { class: "queue" }),
    stats: el("span", { class: "stats muted" }),
    note: el("p", { class: "note" }),
    pause: el("button", { class: "quiet", "data-action": "pause", "data-robot": id, "aria-label": "Pause the dispatcher of " + id }, "Pause"),
    resume: el("button", { class: "quiet", "data-action": "resume", "data-robot": id, "aria-label": "Resume the dispatcher of " + id }, "Resume"),
    cancel: el("button", { class: "danger", "data-action": "cancel", "data-robot": id, "aria-label": "Cancel the current operation of " + id }, "Cancel"),
  };
  c.bar = el("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0,
    "aria-label": "progress of the current operation of " + id }, c.fill);
  c.root = el("li", { class: "robot", "data-robot": id, "aria-label": "robot " + id },
    el("div", { class: "robot-head" }, c.swatch, el("h3", { class: "name", title: id }, id), c.status, c.lost, c.health, c.stats,
      el("span", { class: "actions" }, c.pause, c.resume, c.cancel)),
    el("div", { class: "robot-current" }, c.opId, c.bar, c.pct, c.queue),
    c.note);
  fleet.cards.set(id, c);
  return c;
}

function renderRobots() {
  const list = $("robots");
  $("no-robots").hidden = fleet.order.length > 0;
  setText($("robot-count"), fleet.order.length);
  const wanted = fleet.order.map((id) => card(id).root);
  for (const [id, c] of fleet.cards) {
    if (!fleet.robots.has(id)) { c.root.remove(); fleet.cards.delete(id); }
  }
  // Reorder only when the order changed (a robot appeared): no DOM moves otherwise.
  const shown = Array.from(list.children);
  if (shown.length !== wanted.length || shown.some((node, i) => node !== wanted[i])) list.replaceChildren(...wanted);
  for (const id of fleet.order) updateCard(card(id), fleet.robots.get(id));
}

function updateCard(c, robot) {
  const s = robot.state;
  const online = robot.online;
  const status = s ? s.status : "NO STATE";
  setAttr(c.root, "class", "robot" + (online ? "" : " lost"));
  setAttr(c.root, "data-online", online);
  setAttr(c.root, "data-status", status);
  setText(c.status, status);
  setAttr(c.status, "class", "badge " + status.replace(/\s/g, "_"));
  c.status.hidden = !online;  // a lost robot's last status is in its note
  c.lost.hidden = online;
  const level = robot.health ? robot.health.level : "STALE";
  setText(c.health, level);
  setAttr(c.health, "class", "health " + level);
  setAttr(c.health, "title", robot.health ? robot.health.message : "");
  setAttr(c.health, "aria-label", "health " + level + (robot.health && robot.health.message ? ": " + robot.health.message : ""));

  const current = s && s.current_operation_id;
  const pct = current ? Math.round((s.current_progress || 0) * 100) : 0;
  setText(c.opId, current || "idle");
  setAttr(c.opId, "title", current || "no operation running");
  setAttr(c.opId, "class", "op-id" + (current ? "" : " muted"));
  setAttr(c.bar, "aria-valuenow", pct);
  c.fill.style.transition = c.bar.getAttribute("data-op") === (current || "") ? "" : "none";  // a new operation's bar starts where it is
  setAttr(c.bar, "data-op", current || "");
  c.fill.style.width = pct + "%";
  setText(c.pct, current ? pct + " %" : "");
  setText(c.queue, s ? s.queue_length + " queued" : "");
  const counts = (s && s.counts) || {};
  setText(c.stats, !s ? "" : [counts.COMPLETED + " done", counts.FAILED ? counts.FAILED + " failed" : "", counts.CANCELLED ? counts.CANCELLED + " cancelled" : ""].filter(Boolean).join(" · "));
  setAttr(c.stats, "title", c.stats.textContent);

  const notes = [];
  if (!online) notes.push("lost since " + time(robot.changed_at) + (s ? " (last status " + s.status + ")" : "") + ": its routes answer 503 until it is back");
  else if (level !== "OK" && robot.health && robot.health.message) notes.push(robot.health.message);
  if (s && s.paused_reason) notes.push("paused: " + s.paused_reason);
  if (s && s.consecutive_denials) notes.push(s.consecutive_denials + " start(s) denied in a row");
  if (!robot.pose) notes.push("pose unknown");
  setText(c.note, notes.join(" · "));
  c.note.hidden = notes.length === 0;

  c.pause.disabled = !online || !s || s.status !== "RUNNING";
  c.resume.disabled = !online || !s || s.status !== "PAUSED";
  c.cancel.disabled = !online || !current;
  setAttr(c.cancel, "data-op", current || "");
}

function renderTotals() {
  let online = 0, running = 0, queued = 0, done = 0, failed = 0;
  for (const robot of fleet.robots.values()) {
    if (robot.online) online += 1;
    const s = robot.state;
    if (!s) continue;
    if (s.current_operation_id) running += 1;
    queued += s.queue_length;
    done += (s.counts && s.counts.COMPLETED) || 0;
    failed += (s.counts && s.counts.FAILED) || 0;
  }
  const lost = fleet.robots.size - online;
  const chips = [
    ["robots", online + " / " + fleet.robots.size, "online"],
    ["lost", lost, "lost"],
    ["active", running, "operations active"],
    ["queued", queued, "queued"],
    ["completed", done, "completed"],
    ["failed", failed, "failed"],
  ];
  const box = $("totals");
  if (!box.childElementCount) {
    box.replaceChildren(...chips.map(([key, , label]) => el("div", { class: "chip", "data-total": key }, el("b"), el("span", {}, label))));
  }
  for (const [key, value] of chips) {
    const chip = box.querySelector('[data-total="' + key + '"]');
    setText(chip.firstElementChild, value);
    if (key === "lost") setAttr(chip, "class", "chip" + (lost ? " alert" : ""));
  }
}

// --------------------------------------------------------------------- map

function niceStep(rough) {
  const power = Math.pow(10, Math.floor(Math.log10(rough)));
  const f = rough / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

// World -> map: every point in view, equal scale on both axes, y up. The box is
// snapped to a fifth of the grid step, so the view does not move with every pose.
function fit(points) {
  let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
  for (const p of points) {
    minX = Math.min(minX, p.x); maxX = Math.max(maxX, p.x);
    minY = Math.min(minY, p.y); maxY = Math.max(maxY, p.y);
  }
  if (!points.length) { minX = -5; maxX = 5; minY = -5; maxY = 5; }
  const pad = Math.max(0.5, 0.05 * Math.max(maxX - minX, maxY - minY));  // a marker at the edge stays whole
  const spanX = Math.max(maxX - minX + 2 * pad, 4), spanY = Math.max(maxY - minY + 2 * pad, 4);
  const innerW = MAP_W - 2 * MAP_MARGIN, innerH = MAP_H - 2 * MAP_MARGIN;
  const step = niceStep(Math.max(spanX / innerW, spanY / innerH) * MAP_W / 10);  // about ten grid lines across
  const snap = niceStep(step / 5);
  const cx = (minX + maxX) / 2, cy = (minY + maxY) / 2;
  const x0 = Math.floor((cx - spanX / 2) / snap) * snap, x1 = Math.ceil((cx + spanX / 2) / snap) * snap;
  const y0 = Math.floor((cy - spanY / 2) / snap) * snap, y1 = Math.ceil((cy + spanY / 2) / snap) * snap;
  const scale = Math.min(innerW / (x1 - x0), innerH / (y1 - y0));
  const mx = (x0 + x1) / 2, my = (y0 + y1) / 2;
  return {
    step, scale,
    x: (x) => MAP_W / 2 + (x - mx) * scale,
    y: (y) => MAP_H / 2 - (y - my) * scale,
    left: mx - MAP_W / 2 / scale, right: mx + MAP_W / 2 / scale,
    bottom: my - MAP_H / 2 / scale, top: my + MAP_H / 2 / scale,
  };
}

function renderGrid(view) {
  const nodes = [];
  const first = (v) => Math.ceil(v / view.step) * view.step;
  for (let x = first(view.left); x <= view.right; x += view.step) {
    const px = view.x(x);
    nodes.push(svg("line", { x1: px, y1: 0, x2: px, y2: MAP_H, class: Math.abs(x) < view.step / 2 ? "axis" : "" }));
    if (px < MAP_W - 24) nodes.push(svg("text", { x: px + 3, y: MAP_H - 5, class: "tick" }, fmt(x)));
  }
  for (let y = first(view.bottom); y <= view.top; y += view.step) {
    const py = view.y(y);
    nodes.push(svg("line", { x1: 0, y1: py, x2: MAP_W, y2: py, class: Math.abs(y) < view.step / 2 ? "axis" : "" }));
    if (py > 26 && py < MAP_H - 16) nodes.push(svg("text", { x: 3, y: py - 3, class: "tick" }, fmt(y)));
  }
  nodes.push(svg("text", { x: MAP_W - 5, y: 14, class: "tick unit", "text-anchor": "end" }, "grid " + fmt(view.step) + " m"));
  $("map-grid").replaceChildren(...nodes);
}

function renderMap() {
  const items = [];
  const points = [];
  for (const id of fleet.order) {
    const robot = fleet.robots.get(id);
    const routes = fleet.routes.get(id);
    const pose = robot.pose;
    const ahead = routes && routes.current ? stopsAhead(pose, routes.current.stops) : [];
    const queued = routes ? routes.queued.filter((q) => q.stops.length) : [];
    items.push({ id, robot, pose, ahead, queued, color: colorOf(id), current: routes && routes.current });
    if (pose) points.push(pose);
    points.push(...ahead);
    for (const q of queued) points.push(...q.stops);
  }
  const view = fit(points);
  renderGrid(view);
  const X = (p) => fmt(view.x(p.x)), Y = (p) => fmt(view.y(p.y));
  const line = (pts) => pts.map((p) => X(p) + "," + Y(p)).join(" ");

  const routeNodes = [];
  for (const it of items) {
    const group = svg("g", { class: "route" + (it.robot.online ? "" : " lost"), "data-robot": it.id, stroke: it.color });
    let from = it.pose;
    if (it.ahead.length) {
      const path = from ? [from, ...it.ahead] : it.ahead;
      if (path.length > 1) group.append(svg("polyline", { points: line(path), class: "current-route" }));
      it.ahead.forEach((stop, i) => {
        const last = i === it.ahead.length - 1;
        group.append(svg("g", last ? { class: "goal current", "data-robot": it.id, "data-op": it.current.id } : { class: "stop" },
          svg("title", {}, it.id + ": " + it.current.id + ", " + stop.name + " (" + fmt(stop.x) + ", " + fmt(stop.y) + ")"),
          svg("circle", { cx: X(stop), cy: Y(stop), r: last ? 6 : 3.5, fill: last ? it.color : "#fff" })));
      });
      from = it.ahead[it.ahead.length - 1];
    }
    it.queued.forEach((q, i) => {
      const path = from ? [from, ...q.stops] : q.stops;
      if (path.length > 1) group.append(svg("polyline", { points: line(path), class: "queued-route" }));
      for (const stop of q.stops.slice(0, -1)) group.append(svg("circle", { cx: X(stop), cy: Y(stop), r: 3, class: "queued-stop" }));
      const end = q.stops[q.stops.length - 1];
      group.append(svg("g", { class: "goal queued", "data-robot": it.id, "data-op": q.id },
        svg("title", {}, it.id + ": queued #" + (i + 1) + " " + q.id + " (" + fmt(end.x) + ", " + fmt(end.y) + ")"),
        svg("circle", { cx: X(end), cy: Y(end), r: 8 }),
        svg("text", { x: X(end), y: fmt(view.y(end.y) + 3.5), "text-anchor": "middle", fill: it.color }, i + 1)));
      from = end;
    });
    routeNodes.push(group);
  }
  $("map-routes").replaceChildren(...routeNodes);

  // Robots on top, labels moved down until they do not overlap an earlier one.
  const boxes = [];
  const robotNodes = [];
  const described = [];
  for (const it of items) {
    if (!it.pose) continue;
    const s = it.robot.state;
    const px = view.x(it.pose.x), py = view.y(it.pose.y);
    const label = it.id + (it.robot.online ? (s && s.current_operation_id ? " " + Math.round(s.current_progress * 100) + "%" : "") : " LOST");
    const width = 7.6 * label.length + 4, height = 14;  // bold 12 px, estimated: measuring would force a layout
    let lx = px + 11, ly = py - 8;
    if (lx + width > MAP_W) lx = px - 11 - width;
    for (let tries = 0; tries < 8 && boxes.some((b) => lx < b.x + b.w && b.x < lx + width && ly - height < b.y && b.y - b.h < ly); tries++) ly += height;
    boxes.push({ x: lx, y: ly, w: width, h: height });
    const online = it.robot.online;
    robotNodes.push(svg("g", { class: "robot-marker" + (online ? "" : " lost"), "data-robot": it.id, "data-online": String(online) },
      svg("title", {}, it.id + " at (" + fmt(it.pose.x) + ", " + fmt(it.pose.y) + ")" + (online ? ", " + (s ? s.status : "no state") : ", lost")),
      svg("circle", { cx: fmt(px), cy: fmt(py), r: 8, fill: online ? it.color : "#fff", stroke: online ? "#fff" : "#6b7385" }),
      online ? null : svg("path", { d: "M" + fmt(px - 4) + " " + fmt(py - 4) + "l8 8m0 -8l-8 8", class: "cross" }),
      svg("text", { x: fmt(lx), y: fmt(ly), class: "label", fill: online ? it.color : "#5b6272" }, label)));
    const goals = (it.ahead.length ? 1 : 0) + it.queued.length;
    described.push(it.id + " at (" + fmt(it.pose.x) + ", " + fmt(it.pose.y) + ")" + (online ? "" : " lost") +
      (goals ? ", " + goals + (goals === 1 ? " goal" : " goals") + " ahead" : ""));
  }
  $("map-robots").replaceChildren(...robotNodes);
  setText($("map-desc"), described.length ? described.join("; ") : "No robot pose known yet.");
  const unplaced = items.length - robotNodes.length;
  setText($("map-note"), items.length ? robotNodes.length + " of " + items.length + " robots placed" + (unplaced ? " (" + unplaced + " without a pose)" : "") : "");
}

// ------------------------------------------------------------------ events

const seenEvents = new Set();
const seenOrder = [];

function queueEvent(event) {
  if (event.id) {
    if (seenEvents.has(event.id)) return;  // the backlog sent again on reconnecting
    seenEvents.add(event.id);
    seenOrder.push(event.id);
    if (seenOrder.length > 5 * EVENT_ROWS) seenEvents.delete(seenOrder.shift());
  }
  pendingEvents.push(event);
  if (pendingEvents.length > EVENT_ROWS) pendingEvents.splice(0, pendingEvents.length - EVENT_ROWS);
  scheduleRender();
}

function eventKind(type) {
  if (type.startsWith("OPERATION_DISPATCHER_")) return "dispatcher";
  if (type.endsWith("_REQUESTED")) return "request";
  if (type.endsWith("_DENIED")) return "denied";
  if (type.endsWith("_FAILED")) return "failed";
  if (type.endsWith("_COMPLETED")) return "done";
  return "";
}

function eventRow(event) {
  const meta = event.metadata || {};
  const detail = [event.operation_id, meta.reason, meta.outcome].filter((v) => typeof v === "string" && v).join(" · ");
  const type = String(event.event_type || "");
  return el("li", { "data-robot": event.resource_id || "", "data-type": type, "data-op": event.operation_id || "" },
    el("span", { class: "time" }, time(event.created_at)),
    el("span", { class: "who", title: event.resource_id || "" },
      el("span", { class: "swatch", "aria-hidden": "true", style: "background:" + colorOf(event.resource_id || "") }), event.resource_id || "?"),
    el("span", { class: "type " + eventKind(type), title: type }, type.replace(/^OPERATION_/, "")),
    el("span", { class: "detail", title: detail }, detail));
}

function flushEvents() {
  if (!pendingEvents.length) return;
  const batch = pendingEvents.splice(0);
  const rows = document.createDocumentFragment();
  for (let i = batch.length - 1; i >= 0; i--) rows.append(eventRow(batch[i]));
  const list = $("events");
  list.prepend(rows);
  while (list.childElementCount > EVENT_ROWS) list.lastElementChild.remove();
}

// ------------------------------------------------------------------ reading

function applyRobots(list) {
  fleet.lastStateAt = Date.now();
  const ids = [];
  for (const robot of list) {
    const id = robot.resource_id;
    const before = fleet.robots.get(id);
    ids.push(id);
    colorOf(id);
    fleet.robots.set(id, robot);
    const seen = fleet.routes.get(id);
    const s = robot.state;
    const changed = !seen || (before && !before.online) ||
      (s && ((s.current_operation_id || null) !== seen.seenCurrent || s.queue_length !== seen.seenQueue));
    if (robot.online && changed) scheduleRoutes(id);
  }
  const listed = new Set(ids);
  for (const id of Array.from(fleet.robots.keys())) {
    if (!listed.has(id)) { fleet.robots.delete(id); fleet.routes.delete(id); }
  }
  fleet.order = ids;
  dirty.map = true;
  scheduleRender("robots");
}

// A robot's goals: its current operation and the first GOALS queued, one read at a
// time per robot, at most once per ROUTE_REREAD_MS; a read asked for meanwhile runs after.
const routeReads = new Map();

function scheduleRoutes(id) {
  let read = routeReads.get(id);
  if (!read) routeReads.set(id, (read = { running: false, again: false, timer: null, at: 0 }));
  if (read.running) { read.again = true; return; }
  if (read.timer !== null) return;
  const wait = Math.max(50, read.at + ROUTE_REREAD_MS - Date.now());
  read.timer = setTimeout(() => { read.timer = null; readRoutes(id, read); }, wait);
}

async function readRoutes(id, read) {
  const robot = fleet.robots.get(id);
  if (!robot || !robot.online) return;  // a lost robot answers 503: its last goals stay drawn
  read.running = true;
  read.at = Date.now();
  const s = robot.state;
  const seenCurrent = (s && s.current_operation_id) || null;
  const seenQueue = s ? s.queue_length : null;
  try {
    const [current, queued] = await Promise.all([
      api("GET", robotPath(id) + "/operations/current"),
      api("GET", robotPath(id) + "/operations?state=QUEUED&limit=" + GOALS),
    ]);
    fleet.routes.set(id, {
      seenCurrent, seenQueue,
      current: current && current.operation ? { id: current.operation.id, stops: stopsOf(current.operation.payload) } : null,
      queued: (Array.isArray(queued) ? queued : []).map((r) => ({ id: r.operation.id, stops: stopsOf(r.operation.payload) })),
    });
    scheduleRender("map");
  } catch (err) {
    if (!(err instanceof ApiError)) console.warn("reading the goals of " + id + ":", err);
  } finally {
    read.running = false;
    if (read.again) { read.again = false; scheduleRoutes(id); }
  }
}

// The stream's state message comes after a quiet second: while events flow, the robots'
// state (progress, current operation) is read at most every ROBOTS_REREAD_MS instead.
let robotsTimer = null;
let robotsReadAt = 0;
function scheduleRobotsRead() {
  if (robotsTimer !== null) return;
  const wait = Math.max(100, robotsReadAt + ROBOTS_REREAD_MS - Date.now());
  robotsTimer = setTimeout(() => { robotsTimer = null; robotsReadAt = Date.now(); pollRobots(); }, wait);
}

let pollRunning = false;
async function pollRobots() {
  if (pollRunning) return;
  pollRunning = true;
  try {
    applyRobots(await api("GET", "/robots"));
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) setConnection("down", "gateway unreachable");
  } finally {
    pollRunning = false;
  }
}

// The stream sends the robots once a second while it is quiet; a busy stream may
// send them less often, so the page reads them itself after a silence.
setInterval(() => {
  if (fleet.live && Date.now() - fleet.lastStateAt > STATE_SILENCE_MS) pollRobots();
}, 1000);

// ------------------------------------------------------------ live event stream

let streamAbort = null;

function setConnection(kind, text) {
  const status = $("connection");
  setAttr(status, "class", "connection " + kind);
  setText(status, text);
}

function restartStream() {
  if (streamAbort) streamAbort.abort();
  streamEvents();
}

async function streamEvents() {
  const controller = new AbortController();
  streamAbort = controller;
  fleet.live = false;
  try {
    const response = await fetch("/fleet/events", { headers: authHeaders(), signal: controller.signal });
    if (response.status === 401) { askForToken(); setConnection("down", "token needed"); return; }
    if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
    setConnection("live", "live");
    fleet.live = true;
    fleet.lastStateAt = Date.now();
    for (const seen of fleet.routes.values()) seen.seenCurrent = undefined;  // read every robot's goals again
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
  fleet.live = false;
  setConnection("down", "reconnecting");
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
  let payload;
  try {
    payload = JSON.parse(data.join("\n"));
  } catch (err) {
    return;
  }
  if (type === "state" && payload && Array.isArray(payload.robots)) {
    applyRobots(payload.robots);
  } else if (type === "dispatch" && payload && payload.event_type) {
    queueEvent(payload);
    const type = payload.event_type;
    if (ROUTE_EVENTS.has(type) && fleet.robots.has(payload.resource_id)) scheduleRoutes(payload.resource_id);
    if (ROUTE_EVENTS.has(type) || type.startsWith("OPERATION_DISPATCHER_") || !fleet.robots.has(payload.resource_id)) scheduleRobotsRead();
  }
}

// -------------------------------------------------------------------- actions

const ACTIONS = {
  pause: (robot) => api("POST", robotPath(robot) + "/dispatcher/pause", { reason: "paused from the fleet dashboard" }),
  resume: (robot) => api("POST", robotPath(robot) + "/dispatcher/resume"),
  cancel: (robot, op) => api("POST", robotPath(robot) + "/operations/" + encodeURIComponent(op) + "/cancel", { reason: "cancelled from the fleet dashboard" }),
};

document.addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-action]");
  if (!button || !ACTIONS[button.dataset.action]) return;
  const { action, robot, op } = button.dataset;
  button.disabled = true;
  try {
    await ACTIONS[action](robot, op);
  } catch (err) {
    toast(robot + ": " + describeError(err), "error");
  } finally {
    pollRobots();  // the state shows the change at once (the render sets the button again)
  }
});

takeTokenFromUrl();
scheduleRender("robots");
scheduleRender("map");
streamEvents();
