// The public tracking page: /track/{number}. What the number may reveal
// (status timeline, last known position, arrival window) from GET /api/v1/track/{number},
// then live updates over the broadcaster's public mode.

import { dot, worldMap } from "./map.js";
import { pageSettings, watch, websocketBase } from "./live.js";

const $ = (id) => document.getElementById(id);
const number = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] ?? "");
const when = (timestamp) =>
  new Date(timestamp).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
const label = (status) => status.replaceAll("_", " ");

function show(section) {
  for (const id of ["loading", "not-found", "problem", "parcel"]) $(id).hidden = id !== section;
}

$("lookup").addEventListener("submit", (event) => {
  event.preventDefault();
  const wanted = $("lookup-number").value.trim();
  if (wanted) location.assign(`/track/${encodeURIComponent(wanted)}`);
});

const clock = (timestamp) =>
  new Date(timestamp).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });

// The arrival window while the parcel is out for delivery; hidden otherwise.
function showEta(eta) {
  $("eta").hidden = !eta;
  if (!eta) return;
  $("eta-window").textContent = `between ${clock(eta.earliest)} and ${clock(eta.latest)}`;
  $("eta-at").textContent = `(about ${clock(eta.at)})`;
}

function addStep(status, location, timestamp) {
  const item = document.createElement("li");
  const what = document.createElement("span");
  what.className = "what";
  what.textContent = label(status) + (location ? ` · ${location}` : "");
  const at = document.createElement("time");
  at.className = "when";
  at.dateTime = timestamp;
  at.textContent = when(timestamp);
  item.append(what, at);
  $("timeline").append(item);
}

async function main() {
  if (!number) {
    // /track/ alone: just the lookup form.
    $("not-found-title").textContent = "Track a parcel";
    $("not-found-text").hidden = true;
    $("connection").textContent = "";
    show("not-found");
    return;
  }
  const response = await fetch(`/api/v1/track/${encodeURIComponent(number)}`);
  if (response.status === 404) {
    $("missing-number").textContent = number;
    $("lookup-number").value = number;
    show("not-found");
    $("connection").textContent = "";
    return;
  }
  if (!response.ok) {
    $("problem-text").textContent =
      response.status === 429 ? "Too many lookups from your network; try again in a minute." : "Please try again in a minute.";
    show("problem");
    return;
  }
  const parcel = await response.json();
  document.title = `Parcel ${parcel.tracking_number} · DeliverTrack`;
  $("number").textContent = parcel.tracking_number;
  $("status").textContent = label(parcel.status);
  showEta(parcel.eta);
  // Status changes already shown, by seq: a change read twice (just as the
  // page loaded) is shown once.
  const shown = new Set(parcel.timeline.map((step) => step.seq));
  for (const step of parcel.timeline) addStep(step.status, step.location, step.timestamp);
  show("parcel");

  const settings = await pageSettings();
  const map = await worldMap($("map"), { tilesUrl: settings.tiles_url });
  let marker;
  // When the shown position was taken: an older one never replaces it.
  let shownAt = "";
  const place = (latitude, longitude, text, timestamp = "") => {
    if (timestamp && shownAt && Date.parse(timestamp) < Date.parse(shownAt)) return;
    if (timestamp) shownAt = timestamp;
    const at = [latitude, longitude];
    if (marker) marker.setLatLng(at);
    else marker = dot(at).addTo(map);
    map.setView(at, Math.max(map.getZoom(), 5));
    $("position-text").textContent = text;
    $("map").setAttribute("aria-label",
      `Map of the parcel's last known position: ${text} (${latitude.toFixed(3)}, ${longitude.toFixed(3)})`);
  };
  const position = parcel.last_position;
  if (position) {
    place(position.latitude, position.longitude,
      `${position.location ?? "Reported position"}${position.timestamp ? `, ${when(position.timestamp)}` : ""}`,
      position.timestamp ?? "");
  }

  watch(`${websocketBase(settings)}/public`, [parcel.tracking_number], {
    since: { [parcel.tracking_number]: parcel.seq },
    onState: (state) => {
      $("connection").textContent = state === "live" ? "live updates on" : "reconnecting…";
    },
    onUpdate: ({ seq, kind, data }) => {
      if (kind === "eta_changed" && data.eta) showEta(data.eta);
      if (data.status && !shown.has(seq)) {
        shown.add(seq);
        $("status").textContent = label(data.status);
        addStep(data.status, data.location, data.timestamp);
        if (data.status !== "out_for_delivery") showEta(null);
      }
      if (data.latitude != null && data.longitude != null) {
        place(data.latitude, data.longitude, `${data.location ?? "Reported position"}, ${when(data.timestamp)}`, data.timestamp);
      }
    },
    // Out for delivery, the parcel moves with its courier.
    onPosition: ({ data }) => place(data.latitude, data.longitude, `On its way, ${when(data.timestamp)}`, data.timestamp),
  });
}

main().catch(() => show("problem"));
