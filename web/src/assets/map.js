// A Leaflet map on the bundled Natural Earth countries (works offline), with
// an online tile layer on top when the server is configured with one.

const L = window.L;
const topojson = window.topojson;

let countries; // fetched once per page

/**
 * `canvas`: draw markers on one canvas (thousands stay smooth) instead of
 * one SVG element each.
 */
export async function worldMap(element, { tilesUrl, canvas = false } = {}) {
  const map = L.map(element, {
    preferCanvas: canvas,
    worldCopyJump: true,
    minZoom: 1,
  }).setView([20, 0], 2);
  // The container may have just been shown: measure it once laid out.
  requestAnimationFrame(() => map.invalidateSize());
  countries ??= fetch("/assets/vendor/countries-110m.json").then((r) => r.json());
  try {
    const topology = await countries;
    L.geoJSON(topojson.feature(topology, topology.objects.countries), {
      style: { color: "#7a8793", weight: 0.6, fillColor: "#f4f1ea", fillOpacity: 1 },
      interactive: false,
    }).addTo(map);
  } catch {
    // No base map: markers still show on the plain background.
  }
  if (tilesUrl) {
    L.tileLayer(tilesUrl, { maxZoom: 18, attribution: "map tiles" }).addTo(map);
  }
  map.attributionControl.addAttribution("Natural Earth");
  return map;
}

export function dot(latlng, color = "#0b4f8a") {
  return L.circleMarker(latlng, {
    radius: 7, color: "#ffffff", weight: 2, fillColor: color, fillOpacity: 1,
  });
}
