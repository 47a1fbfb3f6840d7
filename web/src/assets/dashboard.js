// The dispatchers' dashboard: every active package's latest position on a
// map (one canvas, smooth with thousands), moved live by the broadcaster's
// "every package" feed; a list with status filter and search; a package
// panel with its status history, trail and courier; the couriers on the map
// with their presence and battery; the pipeline's queues, live.

import { dot, worldMap } from "./map.js";
import { describe, fleet } from "./couriers.js";
import { zones } from "./zones.js";
import { webhooks } from "./webhooks.js";
import { messageOf, pageSettings, websocketBase } from "./live.js";

const L = window.L;
const $ = (id) => document.getElementById(id);
const ACTIVE = new Set(["pending", "in_transit", "out_for_delivery"]);
const COLORS = { pending: "#6b4fa1", in_transit: "#0b4f8a", out_for_delivery: "#0a6b3d" };
const LIST_ROWS = 200; // the list shows the first rows that match; the map shows all
const label = (status) => status.replaceAll("_", " ");
const where = (p) => (p.latitude != null ? `${p.latitude.toFixed(3)}, ${p.longitude.toFixed(3)}` : "no position yet");
const clock = (timestamp) => new Date(timestamp).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
// An arrival estimate as "14:05 (14:01–14:09)".
const arrival = (eta) => `${clock(eta.at)} (${clock(eta.earliest)}–${clock(eta.latest)})`;

// The session: a short access token, renewed silently with the refresh
// token before it runs out (each refresh token works once, so only one
// refresh is ever under way).
let token = sessionStorage.getItem("dt-token");
let refreshing = null;
let refreshTimer = null;
let fleetLayer; // the couriers on the map (couriers.js)

function keepSession(tokens) {
  token = tokens.access_token;
  sessionStorage.setItem("dt-token", token);
  sessionStorage.setItem("dt-refresh", tokens.refresh_token);
  clearTimeout(refreshTimer);
  // A minute before expiry (at least half-way through a short one).
  const inMs = Math.max(5, Math.min(tokens.expires_in - 60, tokens.expires_in / 2)) * 1000;
  refreshTimer = setTimeout(() => refresh().catch(() => {}), inMs);
}

/** A new pair for the refresh token; false when the session is over. */
function refresh() {
  refreshing ??= (async () => {
    try {
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: sessionStorage.getItem("dt-refresh") ?? "" }),
      });
      if (!response.ok) return response.status >= 500 ? true : false;
      keepSession(await response.json());
      return true;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

const packages = new Map(); // tracking number -> package (as the API returns it, kept current)
const markers = new Map(); // tracking number -> circle marker
let map;
let trail;
let selected;

async function api(path, options = {}, retried = false) {
  const response = await fetch(`/api/v1${path}`, {
    ...options,
    headers: { ...(options.headers ?? {}), authorization: `Bearer ${token}` },
  });
  if (response.status === 401) {
    // The access token ran out (or the session changed): renew it once.
    if (!retried && (await refresh())) return api(path, options, true);
    forget();
    throw new Error("signed out");
  }
  return response;
}

function forget() {
  sessionStorage.removeItem("dt-token");
  sessionStorage.removeItem("dt-refresh");
  location.reload();
}

async function signOut() {
  try {
    await fetch("/api/v1/auth/logout", { method: "POST", headers: { authorization: `Bearer ${token}` } });
  } finally {
    forget();
  }
}

$("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("sign-in-error").textContent = "";
  const response = await fetch("/api/v1/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: $("email").value, password: $("password").value }),
  });
  if (!response.ok) {
    $("sign-in-error").textContent = response.status === 429 ? "Too many attempts; wait a minute." : "Wrong email or password.";
    return;
  }
  keepSession(await response.json());
  start();
});
$("sign-out").addEventListener("click", signOut);
$("status-filter").addEventListener("change", renderList);
$("search").addEventListener("input", renderList);

/** Every package, a page of 1,000 at a time, following the Link header. */
async function loadPackages() {
  const loaded = new Map();
  let next = "/packages?limit=1000";
  for (let pages = 0; next && pages < 20; pages++) {
    const response = await api(next);
    if (!response.ok) throw new Error(`the package list answered ${response.status}`);
    for (const p of await response.json()) loaded.set(p.tracking_number, p);
    const link = response.headers.get("link") ?? "";
    const found = link.match(/<\/api\/v1([^>]+)>;\s*rel="next"/);
    next = found ? found[1] : null;
  }
  return loaded;
}

function placeMarker(p) {
  const shown = ACTIVE.has(p.status) && p.latitude != null;
  let marker = markers.get(p.tracking_number);
  if (!shown) {
    if (marker) {
      marker.remove();
      markers.delete(p.tracking_number);
    }
    return;
  }
  const at = [p.latitude, p.longitude];
  if (marker) {
    marker.setLatLng(at);
    marker.setStyle({ fillColor: COLORS[p.status] });
  } else {
    marker = dot(at, COLORS[p.status]).addTo(map);
    marker.bindTooltip(p.tracking_number);
    marker.on("click", () => openPanel(p.tracking_number));
    markers.set(p.tracking_number, marker);
  }
}

function countMarkers() {
  $("map").dataset.markers = String(markers.size);
}

function renderList() {
  const status = $("status-filter").value;
  const search = $("search").value.trim().toUpperCase();
  const matching = [...packages.values()].filter(
    (p) => (!status || p.status === status) && (!search || p.tracking_number.toUpperCase().includes(search)),
  );
  const list = $("package-list");
  list.replaceChildren(
    ...matching.slice(0, LIST_ROWS).map((p) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.trackingNumber = p.tracking_number;
      button.dataset.status = p.status;
      const name = document.createElement("strong");
      name.textContent = p.tracking_number;
      const state = document.createElement("span");
      state.className = "where";
      state.textContent = `${label(p.status)} · ${where(p)}${p.eta ? ` · ETA ${clock(p.eta.at)}` : ""}`;
      button.append(name, " ", state);
      button.addEventListener("click", () => openPanel(p.tracking_number));
      item.append(button);
      return item;
    }),
  );
  $("list-summary").textContent =
    `${matching.length} package${matching.length === 1 ? "" : "s"}` +
    (matching.length > LIST_ROWS ? `, first ${LIST_ROWS} listed` : "");
}

/** Shows a package's panel; `fit` zooms the map to its trail (when opened,
 * not when a live update refreshes it: the user may have panned away). */
async function openPanel(number, { fit = true } = {}) {
  selected = number;
  const p = packages.get(number);
  $("panel").hidden = false;
  $("panel-title").textContent = `Package ${number}`;
  $("panel-status").textContent = p ? label(p.status) : "";
  const [events, points, read] = await Promise.all([
    api(`/packages/${encodeURIComponent(number)}/events`).then((r) => (r.ok ? r.json() : [])),
    api(`/packages/${encodeURIComponent(number)}/locations?limit=1000`).then((r) => (r.ok ? r.json() : [])),
    api(`/packages/${encodeURIComponent(number)}`).then((r) => (r.ok ? r.json() : null)),
  ]);
  if (selected !== number) return;
  const aboard = read?.courier;
  const courier = aboard ? fleetLayer?.couriers.get(aboard.id) : null;
  $("panel-courier").textContent = aboard
    ? describe({ name: courier?.name ?? aboard.id, presence: aboard.presence, battery_pct: aboard.battery_pct })
    : "none";
  $("panel-courier").dataset.presence = aboard?.presence ?? "";
  const inside = read?.zones ?? [];
  $("panel-zones").textContent = inside.length ? inside.map((z) => z.name).join(", ") : "none";
  $("panel-eta").textContent = read?.eta ? arrival(read.eta) : "none";
  $("panel-history").replaceChildren(
    ...events.map((e) => {
      const item = document.createElement("li");
      item.textContent = `${label(e.status)}${e.location ? ` · ${e.location}` : ""} — ${new Date(e.timestamp).toLocaleString()}`;
      return item;
    }),
  );
  trail?.remove();
  trail = undefined;
  // The history comes newest first; the trail is drawn oldest to newest.
  const line = points.map((pt) => [pt.latitude, pt.longitude]).reverse();
  $("panel").dataset.trailPoints = String(line.length);
  if (line.length > 0) {
    trail = L.polyline(line, { color: "#8a4b00", weight: 3 }).addTo(map);
    if (fit) map.fitBounds(trail.getBounds(), { maxZoom: 12, padding: [20, 20] });
  }
}

// The open panel follows live updates, read again at most once a second.
let panelRefresh;
function refreshPanelSoon(number) {
  clearTimeout(panelRefresh);
  panelRefresh = setTimeout(() => {
    if (selected === number) openPanel(number, { fit: false });
  }, 1000);
}

async function refreshStats() {
  const response = await api("/stats").catch(() => null);
  if (!response?.ok) return;
  const stats = await response.json();
  $("stat-connections").textContent = stats.websocket_connections ?? "–";
  $("queues").tBodies[0].replaceChildren(
    ...stats.queues.map((q) => {
      const row = document.createElement("tr");
      // The deployment's prefix is the same on every row: leave it out.
      const name = q.queue.slice(q.queue.indexOf(".") + 1);
      for (const value of [name, q.messages_ready, q.messages_unacknowledged ?? "–", q.consumers]) {
        const cell = document.createElement("td");
        cell.textContent = String(value);
        row.append(cell);
      }
      return row;
    }),
  );
}

/** A live update for any package: apply it, or read the package again when
 * its seq jumped (an update was missed) or it is new to this page. */
const reading = new Map(); // packages being read again -> highest seq heard meanwhile
async function onUpdate({ tracking_number: number, seq, kind, data }) {
  const known = packages.get(number);
  if (known?.seq != null && seq <= known.seq) return; // already applied
  if (known && (known.seq == null || seq === known.seq + 1)) {
    if (kind === "eta_changed") known.eta = data.eta;
    // Only a package out for delivery has an estimate.
    if (data.status && data.status !== "out_for_delivery") known.eta = null;
    if (data.status) known.status = data.status;
    if (data.latitude != null) {
      known.latitude = data.latitude;
      known.longitude = data.longitude;
    }
    known.seq = seq;
    shown(number);
    return;
  }
  if (reading.has(number)) {
    reading.set(number, Math.max(reading.get(number), seq));
    return; // the read under way is checked against this
  }
  reading.set(number, seq);
  try {
    // A read served before the update's commit is older than the update:
    // read again (a few times) until it has what was heard.
    for (let tries = 0; tries < 3; tries++) {
      if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 300));
      const response = await api(`/packages/${encodeURIComponent(number)}`);
      if (!response.ok) break;
      const fresh = await response.json();
      const current = packages.get(number);
      if (current?.seq == null || (fresh.seq ?? 0) > current.seq) packages.set(number, fresh);
      if ((fresh.seq ?? 0) >= reading.get(number)) break;
    }
    // Still behind what was heard: an out-of-order location point numbers
    // an event without changing the cached view. Count the heard updates
    // as held, or every later one would read the package again.
    const held = packages.get(number);
    if (held && (held.seq ?? 0) < reading.get(number)) held.seq = reading.get(number);
  } finally {
    reading.delete(number);
  }
  shown(number);
}

/** A package as it is now (a resumed feed sends one for each package that
 * changed while the page was away), unless the page already knows newer. */
function onState({ tracking_number: number, seq, data }) {
  const known = packages.get(number);
  if (known?.seq != null && seq <= known.seq) return;
  packages.set(number, {
    ...known,
    tracking_number: number,
    status: data.status,
    current_location: data.location,
    latitude: data.latitude,
    longitude: data.longitude,
    updated_at: data.timestamp,
    seq,
  });
  shown(number);
}

function shown(number) {
  touchedWhileLoading?.add(number);
  placeMarker(packages.get(number));
  countMarkers();
  scheduleList();
  if (selected === number) refreshPanelSoon(number);
}

// While positions stream in, the list is rebuilt at most twice a second: a
// rebuild per frame (filter thousands, redraw 200 rows) would cost the map
// its frames.
const LIST_EVERY_MS = 500;
let listPending = false;
let listDrawnAt = 0;
function scheduleList() {
  if (listPending) return;
  listPending = true;
  const wait = Math.max(0, listDrawnAt + LIST_EVERY_MS - performance.now());
  setTimeout(() => requestAnimationFrame(() => {
    listPending = false;
    listDrawnAt = performance.now();
    renderList();
  }), wait);
}

// The feed's cursor: where to resume from after a disconnect. Only set once
// the package list has been read: before that there is nothing to resume.
let cursor = null;
let retryIn = 1000;

/** A one-time ticket for the WebSocket: the token never goes in a URL. */
async function ticket() {
  const response = await api("/ws-ticket", { method: "POST" });
  if (!response.ok) throw new Error(`the ticket answered ${response.status}`);
  return (await response.json()).ticket;
}

async function connect(base) {
  let socket;
  try {
    socket = new WebSocket(`${base}?ticket=${encodeURIComponent(await ticket())}`);
  } catch {
    $("connection").textContent = "reconnecting…";
    setTimeout(() => connect(base), retryIn);
    retryIn = Math.min(retryIn * 2, 30000);
    return;
  }
  // A subscribe_all is outstanding: checkpoints' states apply, but not
  // their cursors (what the subscribe sends may not have come yet).
  let subscribing = false;
  // With a cursor, the broadcaster first sends the state of every package
  // that changed since: the list is not read again.
  const subscribe = () => {
    subscribing = true;
    socket.send(JSON.stringify(cursor == null ? { type: "subscribe_all" } : { type: "subscribe_all", since_seq: cursor }));
  };
  socket.addEventListener("open", subscribe);
  socket.addEventListener("message", (event) => {
    const message = messageOf(event);
    switch (message.type) {
      case "package_update":
        onUpdate(message);
        break;
      case "courier_update":
        fleetLayer?.apply(message);
        break;
      case "package_states":
        for (const state of message.packages ?? []) onState(state);
        break;
      case "subscribed_all":
        subscribing = false;
        $("connection").textContent = "live";
        retryIn = 1000;
        // Subscribed first, then read: nothing changes unseen in between.
        if (cursor == null || message.complete === false) reload(message.cursor);
        else cursor = Math.max(cursor, message.cursor);
        break;
      case "checkpoint":
        // Too much was missed to send: read the list again (even while
        // subscribing: the newest read wins, and it follows this).
        if (message.complete === false) reload(message.cursor);
        else if (!subscribing && cursor != null) cursor = Math.max(cursor, message.cursor);
        break;
      case "resync":
        // The broadcaster's own feed was down: resume from the cursor.
        subscribe();
        break;
      case "error":
        // A subscribe that failed is tried again on a new connection.
        if (subscribing) socket.close();
        break;
    }
  });
  socket.addEventListener("close", () => {
    $("connection").textContent = "reconnecting…";
    setTimeout(() => connect(base), retryIn);
    retryIn = Math.min(retryIn * 2, 30000);
  });
}

// Packages updated live while the list is being read: the read may predate
// their update, so it does not overwrite them.
let touchedWhileLoading = null;
let loads = 0;

/** Reads the whole list again; `from` is the feed's cursor from before the
 * read. Only the latest of overlapping reads sets the cursor; a failed one
 * is tried again. */
async function reload(from) {
  const load = ++loads;
  cursor = null;
  touchedWhileLoading = new Set();
  let loaded;
  try {
    loaded = await loadPackages();
  } catch {
    if (load === loads) setTimeout(() => load === loads && reload(from), 2000);
    return;
  }
  if (load !== loads) return;
  // The list's rows carry their seq: keep a live update only if it is newer.
  for (const number of touchedWhileLoading) {
    const live = packages.get(number);
    const listed = loaded.get(number);
    if (!listed || listed.seq == null || (live?.seq ?? 0) > listed.seq) loaded.set(number, live);
  }
  touchedWhileLoading = null;
  for (const marker of markers.values()) marker.remove();
  markers.clear();
  packages.clear();
  for (const [number, p] of loaded) packages.set(number, p);
  for (const p of packages.values()) placeMarker(p);
  cursor = from;
  countMarkers();
  renderList();
  fitOnce();
}

/** Opens the map on the active packages and the couriers (once: after
 * that the dispatcher's own panning is kept). */
let fitted = false;
function fitOnce() {
  if (fitted) return;
  const points = [...[...markers.values()].map((m) => m.getLatLng()), ...(fleetLayer?.positions() ?? [])];
  if (points.length === 0) return;
  fitted = true;
  map.fitBounds(L.latLngBounds(points), { maxZoom: 14, padding: [30, 30] });
  $("map").dataset.fitted = "true";
}

/** The header's switch between the map and the account's webhooks. */
function showWebhooksButton() {
  const toggle = $("show-webhooks");
  toggle.hidden = false;
  let view = null;
  toggle.addEventListener("click", async () => {
    const opening = $("webhooks-view").hidden;
    $("webhooks-view").hidden = !opening;
    $("dashboard").hidden = opening;
    toggle.textContent = opening ? "Map" : "Webhooks";
    if (opening) {
      view ??= webhooks(api);
      await view.load();
    }
  });
}

async function start() {
  $("signed-out").hidden = true;
  $("dashboard").hidden = false;
  $("sign-out").hidden = false;
  showWebhooksButton();
  const settings = await pageSettings();
  map = await worldMap($("map"), { tilesUrl: settings.tiles_url, canvas: true });
  fleetLayer = fleet(map, api);
  const loadFleet = () => fleetLayer.load().then(fitOnce);
  loadFleet();
  setInterval(loadFleet, 5000);
  const zoneLayer = zones(map, api);
  zoneLayer.load();
  setInterval(zoneLayer.load, 30_000);
  // The packages are read once the feed is subscribed (see connect).
  refreshStats();
  setInterval(refreshStats, 5000);
  connect(websocketBase(settings));
}

// A page opened again within the session: renew the token first.
if (token) refresh().then((live) => (live ? start() : forget()));
