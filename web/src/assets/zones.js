// The geofences on the dispatch map: circles and polygons, named in their
// tooltips. Read from GET /api/v1/geofences every 30 s (zones change
// rarely, and no feed frame announces them).

const L = window.L;
const STYLE = { color: "#5b3fa8", weight: 2, fillColor: "#5b3fa8", fillOpacity: 0.08 };

/** The zone's shape as a Leaflet layer. */
function shape(zone) {
  if (zone.circle) {
    const { latitude, longitude, radius_m: radius } = zone.circle;
    return L.circle([latitude, longitude], { ...STYLE, radius });
  }
  return L.geoJSON(zone.polygon, { style: STYLE });
}

export function describeZone(zone) {
  const dwell = zone.dwell_s != null ? ` · dwell ${zone.dwell_s} s` : "";
  return `Zone ${zone.name}${dwell}`;
}

/** Keeps `map`'s zones in step with the API; `api` reads it. */
export function zones(map, api) {
  const layers = new Map(); // zone id -> [updated_at, layer]
  async function load() {
    const response = await api("/geofences?limit=1000").catch(() => null);
    if (!response?.ok) return;
    const seen = new Set();
    for (const zone of await response.json()) {
      seen.add(zone.id);
      const known = layers.get(zone.id);
      if (known && known[0] === zone.updated_at) continue;
      known?.[1].remove();
      const layer = shape(zone).bindTooltip(describeZone(zone)).addTo(map);
      layer.bringToBack?.();
      layers.set(zone.id, [zone.updated_at, layer]);
    }
    for (const [id, [, layer]] of layers) {
      if (!seen.has(id)) {
        layer.remove();
        layers.delete(id);
      }
    }
    map.getContainer().dataset.zones = String(layers.size);
  }
  return { load };
}
