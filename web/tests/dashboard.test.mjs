// The dispatchers' dashboard in a real browser (Debian's chromium driven by
// playwright-core), against a running system the caller names:
//   BASE_URL            the ingest serving the page
//   ADMIN_TOKEN         a token that may create packages and post locations
//   EMAIL, PASSWORD     a dispatcher's account to sign in with
//   RUN_ID              a short unique suffix for this run's tracking numbers
//   COURIER_TOKEN       a courier's token: they report a position in Berlin
//   COURIER_ID          that courier's id (a run is given to them)
//   CHROMIUM, ARTIFACTS_DIR as in track.test.mjs
import { check, checkAccessible, openPage, required, runSteps } from "./browser.mjs";

const base = required("BASE_URL");
const token = required("ADMIN_TOKEN");
const run = required("RUN_ID");
const timeout = 15_000;
const moving = `TRK0DASH${run}A`;
const waiting = `TRK0DASH${run}B`;

async function call(method, path, body) {
  await send(method, path, body);
}

async function send(method, path, body) {
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  check(response.ok, `${method} ${path} answered ${response.status}`);
  return response;
}

/** Waits until the API shows the package at `latitude` (the point is applied). */
async function positioned(number, latitude) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const p = await (await send("GET", `/packages/${number}`)).json();
    if (p.latitude === latitude) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${number} never reached latitude ${latitude}`);
}

const parcel = (number) => ({
  tracking_number: number, sender_name: "Ann Sender", sender_address: "1 Main St",
  recipient_name: "Bob Recipient", recipient_address: "2 High St", weight: 1.5, description: "Books",
});

const opened = await openPage({ width: 1400, height: 900 });
const { page } = opened;
// The page's WebSockets, recorded so a step can drop the connection; while
// __blockSockets is set, new ones go nowhere (the page keeps retrying).
await page.addInitScript(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__blockSockets = false;
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(window.__blockSockets ? "ws://127.0.0.1:9/blocked" : url, protocols);
      window.__sockets.push(this);
    }
  };
});
const listReads = [];
page.on("request", (request) => {
  if (request.url().includes("/api/v1/packages?")) listReads.push(request.url());
});
const statesHeard = [];
page.on("websocket", (socket) => socket.on("framereceived", ({ payload }) => {
  if (String(payload).includes('"type":"package_states"')) statesHeard.push(String(payload));
}));
// Leaflet's maps, as the page creates them: the bundled leaflet.js assigns
// window.L and fills it in the same task, so the hook goes on once it has.
await page.addInitScript(() => {
  window.__maps = [];
  let leaflet;
  Object.defineProperty(window, "L", {
    configurable: true,
    get: () => leaflet,
    set: (value) => {
      leaflet = value;
      queueMicrotask(() => value.Map.addInitHook(function () { window.__maps.push(this); }));
    },
  });
});
/** Where the map draws `number`'s marker: [lat, lng], or null without one. */
const markerAt = (number) => page.evaluate((n) => {
  let at = null;
  for (const map of window.__maps) {
    map.eachLayer((layer) => {
      if (layer.getTooltip?.()?.getContent() === n && layer.getLatLng) {
        const { lat, lng } = layer.getLatLng();
        at = [lat, lng];
      }
    });
  }
  return at;
}, number);
/** Waits until the map draws `number`'s marker at [lat, lng]. */
async function markerReaches(number, lat, lng) {
  const deadline = Date.now() + timeout;
  let at = null;
  while (Date.now() < deadline) {
    at = await markerAt(number);
    if (at && Math.abs(at[0] - lat) < 1e-9 && Math.abs(at[1] - lng) < 1e-9) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${number}'s marker is at ${JSON.stringify(at)}, never reached ${lat}, ${lng}`);
}
const row = (number) => page.locator(`#package-list button[data-tracking-number="${number}"]`);
const markerCount = async () => Number(await page.locator("#map").getAttribute("data-markers"));

/** The courier markers' tooltips (a courier's marker has a ring of its own). */
const courierTooltips = () => page.evaluate(() => {
  const found = [];
  for (const map of window.__maps) {
    map.eachLayer((layer) => {
      if (layer.options?.weight === 3 && layer.getTooltip?.()) found.push(layer.getTooltip().getContent());
    });
  }
  return found;
});

// Before the page opens: a courier on the road in Berlin, battery at 77 %.
{
  const response = await fetch(`${base}/api/v1/me/location`, {
    method: "POST",
    headers: { authorization: `Bearer ${required("COURIER_TOKEN")}`, "content-type": "application/json" },
    body: JSON.stringify({ latitude: 52.52, longitude: 13.405, battery_pct: 77 }),
  });
  check(response.status === 202, `the courier's position answered ${response.status}`);
}

// A zone around where the moving package will be posted.
await call("POST", "/geofences", {
  name: `Hub North ${run}`, circle: { latitude: 40.9, longitude: -74.3, radius_m: 500 },
});

const steps = [
  ["a dispatcher signs in and sees the map and the pipeline", async () => {
    await page.goto(`${base}/`);
    await checkAccessible(page);
    await page.getByLabel("Email").fill(required("EMAIL"));
    await page.getByLabel("Password").fill(required("PASSWORD"));
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#dashboard").waitFor({ state: "visible", timeout });
    await page.locator("#connection").getByText("live").waitFor({ timeout });
    await page.locator("#queues tbody tr").first().waitFor({ timeout });
    await page.waitForFunction(() => document.getElementById("map").dataset.markers !== undefined, null, { timeout });
  }],
  ["the couriers are on the map with presence and battery, and the map opens on them", async () => {
    await page.waitForFunction(() => Number(document.getElementById("map").dataset.couriers) >= 1, null, { timeout });
    const tooltips = await courierTooltips();
    check(tooltips.some((t) => t.includes("online") && t.includes("battery 77%")), `courier tooltips: ${tooltips}`);
    await page.waitForFunction(() => document.getElementById("map").dataset.fitted === "true", null, { timeout });
    const view = await page.evaluate(() => {
      const map = window.__maps[0];
      return { zoom: map.getZoom(), center: map.getCenter() };
    });
    check(view.zoom >= 8, `the map opens on the fleet, not the world (zoom ${view.zoom})`);
    check(Math.abs(view.center.lat - 52.52) < 1 && Math.abs(view.center.lng - 13.405) < 1,
      `centred on the courier: ${JSON.stringify(view.center)}`);
  }],
  ["the zones are on the map, named", async () => {
    await page.waitForFunction(() => Number(document.getElementById("map").dataset.zones) >= 1, null, { timeout });
    const named = await page.evaluate((name) => {
      let found = false;
      for (const map of window.__maps) {
        map.eachLayer((layer) => {
          if (String(layer.getTooltip?.()?.getContent() ?? "").includes(name)) found = true;
        });
      }
      return found;
    }, `Zone Hub North ${run}`);
    check(named, "the zone's name is in its tooltip");
  }],
  ["the pipeline panel fits its column at 1400 px", async () => {
    const fits = await page.evaluate(() => {
      const panel = document.querySelector(".stats");
      const table = document.getElementById("queues");
      const cells = [...table.querySelectorAll("tr > :last-child")];
      return panel.scrollWidth <= panel.clientWidth + 1
        && cells.every((c) => c.getBoundingClientRect().right <= panel.getBoundingClientRect().right + 1);
    });
    check(fits, "the queues table's last column is inside the pipeline panel");
  }],
  ["a package created through the API appears on the map", async () => {
    const before = await markerCount();
    await call("POST", "/packages", parcel(moving));
    await call("POST", "/packages", parcel(waiting));
    await call("PUT", `/packages/${moving}/status`, {
      status: "in_transit", location: "Newark Hub", latitude: 40.7357, longitude: -74.1724,
    });
    await row(moving).getByText("in transit · 40.736, -74.172").waitFor({ timeout });
    await page.waitForFunction(
      (n) => Number(document.getElementById("map").dataset.markers) === n, before + 1, { timeout });
    await markerReaches(moving, 40.7357, -74.1724);
    check((await markerAt(waiting)) === null, "a package with no position has no marker");
  }],
  ["its marker moves when a location is posted", async () => {
    await call("POST", `/packages/${moving}/locations`, { latitude: 40.9, longitude: -74.3 });
    await row(moving).getByText("in transit · 40.900, -74.300").waitFor({ timeout });
    await markerReaches(moving, 40.9, -74.3);
  }],
  ["the list filters by status and searches by number", async () => {
    await page.getByLabel("Status").selectOption("in_transit");
    await row(moving).waitFor({ timeout });
    check((await row(waiting).count()) === 0, "a pending package listed under in transit");
    const statuses = await page.locator("#package-list button").evaluateAll((b) => b.map((x) => x.dataset.status));
    check(statuses.every((s) => s === "in_transit"), `statuses listed: ${statuses}`);
    await page.getByLabel("Status").selectOption("");
    await page.getByLabel("Tracking number").fill(waiting);
    await row(waiting).waitFor({ timeout });
    check((await page.locator("#package-list button").count()) === 1, "search finds exactly one");
  }],
  ["a package's panel shows its history and trail", async () => {
    await page.getByLabel("Tracking number").fill(moving);
    await row(moving).click();
    await page.locator("#panel-history li").nth(1).getByText("in transit · Newark Hub").waitFor({ timeout });
    await page.waitForFunction(() => Number(document.getElementById("panel").dataset.trailPoints) >= 2, null, { timeout });
    // The last point is inside the zone: the panel names it.
    await page.locator("#panel-zones").getByText(`Hub North ${run}`).waitFor({ timeout });
  }],
  ["a package out for delivery on a run shows its arrival estimate", async () => {
    const arriving = `TRK0DASH${run}C`;
    await call("POST", "/packages", { ...parcel(arriving), destination: { latitude: 52.53, longitude: 13.42 } });
    for (const status of ["in_transit", "out_for_delivery"]) {
      await call("PUT", `/packages/${arriving}/status`, { status });
    }
    const day = new Date().toISOString().slice(0, 10);
    await call("POST", "/deliveries", { courier_id: required("COURIER_ID"), day, stops: [arriving] });
    const response = await fetch(`${base}/api/v1/me/location`, {
      method: "POST",
      headers: { authorization: `Bearer ${required("COURIER_TOKEN")}`, "content-type": "application/json" },
      body: JSON.stringify({ latitude: 52.521, longitude: 13.405, battery_pct: 76 }),
    });
    check(response.status === 202, `the courier's position answered ${response.status}`);
    await page.getByLabel("Tracking number").fill(arriving);
    await row(arriving).getByText(/ETA \d/).waitFor({ timeout });
    await row(arriving).click();
    await page.locator("#panel-eta").getByText(/\d.*\(.*–.*\)/).waitFor({ timeout });
    await page.getByLabel("Tracking number").fill(moving);
  }],
  ["it passes axe's WCAG 2 AA checks, and the list works from the keyboard", async () => {
    await checkAccessible(page);
    const search = page.getByLabel("Tracking number");
    await search.fill(waiting);
    await row(waiting).waitFor({ timeout });
    await search.press("Tab");
    const focused = await page.evaluate(() => document.activeElement?.dataset?.trackingNumber);
    check(focused === waiting, `Tab from the search reaches the first match, not ${focused}`);
    await page.keyboard.press("Enter");
    await page.locator("#panel-title").getByText(`Package ${waiting}`).waitFor({ timeout });
    await search.fill(moving);
    await row(moving).waitFor({ timeout });
  }],
  ["after a lost connection it resumes from its cursor without reading the list again", async () => {
    await page.evaluate(() => {
      window.__blockSockets = true;
      window.__sockets.at(-1).close();
    });
    await page.locator("#connection").getByText("reconnecting").waitFor({ timeout });
    // The package moves while the page is away.
    await call("POST", `/packages/${moving}/locations`, { latitude: 41.2, longitude: -73.9 });
    await positioned(moving, 41.2);
    const readsBefore = listReads.length;
    await page.evaluate(() => { window.__blockSockets = false; });
    await page.locator("#connection").getByText("live").waitFor({ timeout: 30_000 });
    await row(moving).getByText("in transit · 41.200, -73.900").waitFor({ timeout });
    await markerReaches(moving, 41.2, -73.9);
    check(statesHeard.some((s) => s.includes(moving)), "the moved package came in the resume");
    check(listReads.length === readsBefore, `the list was read again: ${listReads.slice(readsBefore)}`);
  }],
  ["its WebSockets carry a one-time ticket, never the token", async () => {
    const urls = await page.evaluate(() => window.__sockets.map((s) => s.url));
    check(urls.length >= 2, `sockets opened: ${urls}`);
    check(urls.every((u) => u.includes("ticket=dwt_") && !u.includes("token")), `socket URLs: ${urls}`);
  }],
  ["its session renews itself silently before the access token runs out", async () => {
    // The system under test hands out 20-second access tokens.
    const first = await page.evaluate(() => sessionStorage.getItem("dt-token"));
    await page.waitForFunction((t) => sessionStorage.getItem("dt-token") !== t, first, { timeout: 30_000 });
    await page.waitForTimeout(20_000);
    // The first token has expired: the page goes on with the renewed one.
    const before = await page.locator("#queues tbody tr").count();
    check(before > 0, "the pipeline is still shown");
    check(await page.locator("#dashboard").isVisible(), "still signed in");
    await call("POST", `/packages/${moving}/locations`, { latitude: 42.5, longitude: -71.1 });
    await row(moving).getByText("in transit · 42.500, -71.100").waitFor({ timeout: 30_000 });
  }],
  ["on a phone-width screen the list, map and pipeline stack without sideways scrolling", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    for (const id of ["package-list", "map", "queues"]) {
      const box = await page.locator(`#${id}`).boundingBox();
      check(box && box.width >= 300 && box.x >= 0 && box.x + box.width <= 390, `#${id} fits: ${JSON.stringify(box)}`);
    }
    await row(moving).click();
    await page.locator("#panel-title").getByText(`Package ${moving}`).waitFor({ timeout });
  }],
];

await runSteps(opened, "dashboard", steps);
