// The fleet on the dispatch map: each courier's latest fix, coloured by
// presence (online, stale, offline), with name and battery in its tooltip.
// Read from GET /api/v1/couriers every few seconds (courier moves are not
// on the WebSocket feed yet).

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
  return {
    load,
    couriers,
    /** Where the couriers are, for fitting the map. */
    positions: () => [...markers.values()].map((m) => m.getLatLng()),
  };
}
