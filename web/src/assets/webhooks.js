// The Webhooks view of the dashboard: the signed-in account's endpoints
// (register, pause or resume, delete), the secret shown once at
// registration, and an endpoint's delivery log with each attempt and a
// redeliver button. Everything through the API the dashboard already
// holds a session for (`api`).

const $ = (id) => document.getElementById(id);
const KINDS = [
  "created", "status_changed", "location", "geofence_entered", "geofence_exited",
  "geofence_dwelled", "geofence_crossed", "eta_changed", "delivery_at_risk", "delivery_late",
  // Couriers' events: for admins' and dispatchers' endpoints.
  "courier_presence", "courier_geofence_entered", "courier_geofence_exited",
  "courier_geofence_dwelled", "courier_geofence_crossed", "courier_moved",
];
const when = (t) => (t ? new Date(t).toLocaleString() : "");

/** A cell holding `text` (never HTML: URLs and answers are outside data). */
function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  row.append(td);
  return td;
}

function button(label, name, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.setAttribute("aria-label", name);
  b.addEventListener("click", onClick);
  return b;
}

const stateOf = (w) => (w.disabled_at ? "disabled (failing)" : w.paused ? "paused" : "active");

export function webhooks(api) {
  let shown = null; // the endpoint whose log is open

  // The event kinds to choose from, once.
  const choices = $("webhook-events");
  for (const kind of KINDS) {
    const id = `webhook-kind-${kind}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    const box = document.createElement("input");
    Object.assign(box, { type: "checkbox", id, value: kind, checked: kind === "created" || kind === "status_changed" });
    label.append(box, ` ${kind.replaceAll("_", " ")}`);
    choices.append(label);
  }

  async function load() {
    const response = await api("/webhooks");
    if (!response.ok) return;
    const list = await response.json();
    const body = $("webhook-list").querySelector("tbody");
    body.replaceChildren();
    for (const w of list) {
      const row = document.createElement("tr");
      row.dataset.id = w.id;
      cell(row, w.url);
      cell(row, w.events.join(", "));
      cell(row, stateOf(w)).className = "webhook-state";
      cell(row, w.failing_since ? `since ${when(w.failing_since)}` : "no");
      const actions = cell(row, "");
      const pausing = !w.paused && !w.disabled_at;
      actions.append(
        button(pausing ? "Pause" : "Resume", `${pausing ? "Pause" : "Resume"} ${w.url}`, () => patch(w.id, { paused: pausing })),
        button("Deliveries", `Deliveries of ${w.url}`, () => openLog(w)),
        button("Delete", `Delete ${w.url}`, () => remove(w)),
      );
      body.append(row);
    }
    $("webhook-summary").textContent = list.length ? `${list.length} endpoint(s)` : "No endpoints yet.";
  }

  async function patch(id, changes) {
    await api(`/webhooks/${id}`, {
      method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify(changes),
    });
    await load();
  }

  async function remove(w) {
    if (!confirm(`Delete the endpoint ${w.url} and its delivery log?`)) return;
    await api(`/webhooks/${w.id}`, { method: "DELETE" });
    if (shown?.id === w.id) closeLog();
    await load();
  }

  async function register(event) {
    event.preventDefault();
    const events = [...choices.querySelectorAll("input:checked")].map((b) => b.value);
    const description = $("webhook-description").value.trim();
    const response = await api("/webhooks", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ url: $("webhook-url").value.trim(), events, ...(description ? { description } : {}) }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const fields = Object.entries(answer.fields ?? {}).map(([f, why]) => `${f} ${why}`).join("; ");
      $("webhook-error").textContent = fields || answer.error || `refused (${response.status})`;
      return;
    }
    $("webhook-error").textContent = "";
    $("webhook-secret").textContent = answer.secret;
    $("webhook-secret-box").hidden = false;
    $("webhook-form").reset();
    await load();
  }

  async function openLog(w) {
    shown = w;
    $("webhook-log").hidden = false;
    $("webhook-log-title").textContent = `Deliveries to ${w.url}`;
    await refreshLog();
  }

  function closeLog() {
    shown = null;
    $("webhook-log").hidden = true;
  }

  async function refreshLog() {
    if (!shown) return;
    const response = await api(`/webhooks/${shown.id}/deliveries?limit=50`);
    if (!response.ok) return;
    const body = $("webhook-deliveries").querySelector("tbody");
    body.replaceChildren();
    for (const d of await response.json()) {
      const row = document.createElement("tr");
      row.dataset.id = d.id;
      const last = d.attempts.at(-1);
      cell(row, when(d.created_at));
      cell(row, d.type);
      // A package's event names the package and its seq; a courier's, the courier.
      const subject = d.courier_id ? `courier ${d.courier_id.slice(0, 8)}` : `${d.tracking_number} #${d.seq}`;
      cell(row, subject);
      cell(row, d.state).className = "delivery-state";
      cell(row, String(d.attempts.length)).className = "delivery-attempts";
      cell(row, last ? (last.status_code ?? last.error ?? "under way") : "");
      const webhook = shown;
      cell(row, "").append(button("Redeliver", `Redeliver ${d.type} of ${d.courier_id ? "the courier" : d.tracking_number}`, async () => {
        await api(`/webhooks/${webhook.id}/deliveries/${d.id}/redeliver`, { method: "POST" });
        setTimeout(refreshLog, 1000);
      }));
      body.append(row);
    }
  }

  $("webhook-form").addEventListener("submit", register);
  $("webhook-log-close").addEventListener("click", closeLog);
  $("webhook-secret-done").addEventListener("click", () => {
    $("webhook-secret").textContent = "";
    $("webhook-secret-box").hidden = true;
  });
  return { load, refreshLog };
}
