// How the dashboard's map holds up with many active packages, in Debian's
// chromium: time to show them, and frame times while the map is panned and
// zoomed and while their positions stream in. A measurement, not a test:
// figures go to docs/PERFORMANCE.md.
//
//   BASE_URL=http://127.0.0.1:8080 EMAIL=... PASSWORD=... PACKAGES=5000 node web/bench/map.mjs
//
// It creates PACKAGES packages (TRK0MAP<run><n>), each moved to a random
// position, through the API as the signed-in account (admin or dispatcher).
import { chromium } from "playwright-core";

const base = process.env.BASE_URL ?? "http://127.0.0.1:8080";
const count = Number(process.env.PACKAGES ?? 5000);
const run = Date.now().toString(36).slice(-5).toUpperCase();
const login = await fetch(`${base}/api/v1/auth/login`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ email: process.env.EMAIL, password: process.env.PASSWORD }),
});
if (!login.ok) throw new Error(`sign-in answered ${login.status}`);
const { access_token: token } = await login.json();
const call = (method, path, body) =>
  fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", prefer: "respond-async" },
    body: JSON.stringify(body),
  });
const numbers = Array.from({ length: count }, (_, i) => `TRK0MAP${run}${String(i).padStart(5, "0")}`);
const random = () => ({ latitude: Math.random() * 120 - 60, longitude: Math.random() * 340 - 170 });

async function pool(items, work, width = 64) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}

let started = Date.now();
await pool(numbers, (tn) => call("POST", "/packages", {
  tracking_number: tn, sender_name: "S", sender_address: "A", recipient_name: "R",
  recipient_address: "B", weight: 1, description: "bench",
}));
await new Promise((r) => setTimeout(r, 2000)); // async creates are applied
await pool(numbers, (tn) => call("PUT", `/packages/${tn}/status`, { status: "in_transit", ...random() }));
console.log(`created and moved ${count} packages in ${((Date.now() - started) / 1000).toFixed(1)} s`);
await new Promise((r) => setTimeout(r, 3000));

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
started = Date.now();
await page.goto(`${base}/`);
await page.getByLabel("Email").fill(process.env.EMAIL);
await page.getByLabel("Password").fill(process.env.PASSWORD);
await page.getByRole("button", { name: "Sign in" }).click();
await page.waitForFunction((n) => Number(document.getElementById("map").dataset.markers) >= n, count, { timeout: 120000 });
const markers = await page.locator("#map").getAttribute("data-markers");
console.log(`dashboard showed ${markers} markers ${((Date.now() - started) / 1000).toFixed(1)} s after the page was opened`);

/** Frame intervals while `action` runs, from requestAnimationFrame. */
async function frames(action) {
  await page.evaluate(() => {
    window.__frames = [];
    let last = performance.now();
    const tick = (now) => {
      window.__frames.push(now - last);
      last = now;
      if (window.__frames.length < 100000) window.__raf = requestAnimationFrame(tick);
    };
    window.__raf = requestAnimationFrame(tick);
  });
  await action();
  const intervals = await page.evaluate(() => {
    cancelAnimationFrame(window.__raf);
    return window.__frames.slice(1);
  });
  intervals.sort((a, b) => a - b);
  const at = (q) => intervals[Math.min(intervals.length - 1, Math.floor(q * intervals.length))];
  return `${intervals.length} frames, median ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, max ${at(1).toFixed(1)} ms, ${intervals.filter((f) => f > 50).length} over 50 ms`;
}

const box = await page.locator("#map").boundingBox();
const middle = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
console.log("pan and zoom:", await frames(async () => {
  for (let i = 0; i < 6; i++) {
    await page.mouse.move(middle.x, middle.y);
    await page.mouse.down();
    await page.mouse.move(middle.x + 200, middle.y + 80, { steps: 20 });
    await page.mouse.up();
    await page.mouse.wheel(0, i % 2 ? 300 : -300);
    await page.waitForTimeout(250);
  }
}));
console.log("positions streaming in:", await frames(async () => {
  const moved = Date.now();
  await pool(numbers.slice(0, 2000), (tn) => call("POST", `/packages/${tn}/locations`, random()));
  await page.waitForTimeout(2000);
  console.log(`  (2,000 positions posted in ${((Date.now() - moved) / 1000).toFixed(1)} s)`);
}));
await browser.close();
