// The fleet on the dispatch map: each courier's latest fix, coloured by
// presence (online, stale, offline), with name and battery in its tooltip.
// Read from GET /api/v1/couriers every few seconds (presence decays with
// time, which no event announces), and moved live by the feed's
// courier_update frames in between.

const L = window.L;
export const PRESENCE_COLORS = { online: "#1a7f37", stale: "#b36b00", offline: "#7a8793" };

/** A courier's marker: a square-ish ring, apart from the packages' dots. */
function courierMarker(latlng, presence) {
  return L.circleMarker(latlng, {
    radius: 9, color: "#1d1d1d", weight: 3, fillColor: PRESENCE_COLORS[presence] ?? "#7a8793", fillOpacity: 1,
  });
}

export function describe(courier) {
  const battery = courier.battery_pct != null ? ` · battery ${Math.round(courier.battery_pct)}%` : "";
  return `${courier.name} · ${courier.presence ?? "never reported"}${battery}`;
}

/** Keeps `map`'s courier markers in step with the fleet; `api` reads it. */
export function fleet(map, api) {
  const markers = new Map(); // courier id -> marker
  const couriers = new Map(); // courier id -> courier
  async function load() {
    const response = await api("/couriers?limit=1000").catch(() => null);
    if (!response?.ok) return;
    const seen = new Set();
    for (const c of await response.json()) {
      couriers.set(c.id, c);
      if (c.latitude == null) continue;
      seen.add(c.id);
      const at = [c.latitude, c.longitude];
      let marker = markers.get(c.id);
      if (marker) {
        marker.setLatLng(at);
        marker.setStyle({ fillColor: PRESENCE_COLORS[c.presence] ?? "#7a8793" });
      } else {
        marker = courierMarker(at, c.presence).addTo(map);
        marker.bindTooltip("");
        markers.set(c.id, marker);
      }
      marker.setTooltipContent(describe(c));
      marker.getElement?.()?.setAttribute?.("data-presence", c.presence ?? "");
    }
    for (const [id, marker] of markers) {
      if (!seen.has(id)) {
        marker.remove();
        markers.delete(id);
      }
    }
    map.getContainer().dataset.couriers = String(markers.size);
    map.getContainer().dataset.couriersOnline = String(
      [...couriers.values()].filter((c) => c.presence === "online" && c.latitude != null).length,
    );
  }
  /** A courier_update frame from the feed: a move or a presence change. */
  function apply(message) {
    const courier = couriers.get(message.courier_id);
    if (!courier) return; // a new courier: the next load brings them
    const data = message.data ?? {};
    if (message.kind === "moved") {
      const latest = (data.points ?? []).find((p) => p.is_latest);
      if (!latest) return;
      Object.assign(courier, { latitude: latest.latitude, longitude: latest.longitude, last_fix_at: latest.timestamp });
    } else if (message.kind === "presence") {
      courier.presence = data.presence;
      if (data.battery_pct != null) courier.battery_pct = data.battery_pct;
    }
    const marker = markers.get(courier.id);
    if (!marker || courier.latitude == null) return;
    marker.setLatLng([courier.latitude, courier.longitude]);
    marker.setStyle({ fillColor: PRESENCE_COLORS[courier.presence] ?? "#7a8793" });
    marker.setTooltipContent(describe(courier));
    marker.getElement?.()?.setAttribute?.("data-presence", courier.presence ?? "");
  }
  return {
    load,
    apply,
    couriers,
    /** Where the couriers are, for fitting the map. */
    positions: () => [...markers.values()].map((m) => m.getLatLng()),
  };
}
