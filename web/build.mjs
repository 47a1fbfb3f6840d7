// Builds dist/: our pages and modules as they are (plain ES modules, no
// bundler), and the few vendor files they use, copied from node_modules.
// Run by `npm run build`; ingest serves dist/ (WEB_ROOT).
import { cp, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const vendor = join(dist, "assets", "vendor");
const modules = join(here, "node_modules");

await rm(dist, { recursive: true, force: true });
await cp(join(here, "src"), dist, { recursive: true });
await mkdir(vendor, { recursive: true });
const copies = [
  ["leaflet/dist/leaflet.js", "leaflet.js"],
  ["leaflet/dist/leaflet.css", "leaflet.css"],
  ["leaflet/dist/images", "images"],
  ["topojson-client/dist/topojson-client.min.js", "topojson-client.min.js"],
  // Natural Earth countries, 1:110m: the offline base map (~100 KB).
  ["world-atlas/countries-110m.json", "countries-110m.json"],
];
for (const [from, to] of copies) {
  await cp(join(modules, from), join(vendor, to), { recursive: true });
}
console.log(`built ${dist}`);
