// The public tracking page in a real browser (Debian's chromium, driven by
// playwright-core), against a running system the caller names:
//   BASE_URL        the ingest serving the page, e.g. http://127.0.0.1:8080
//   ADMIN_TOKEN     a token that may change the parcel's status
//   TRACKING_NUMBER a parcel created just before (status pending), with a
//                   destination, on a run of the courier below
//   COURIER_TOKEN   that courier's token (it reports where it is)
//   CHROMIUM        the browser (default /usr/bin/chromium)
//   ARTIFACTS_DIR   where a failing step leaves a screenshot
// Exits 0 when every step passed; on a failure, prints it and exits 1.
import { check, checkAccessible, openPage, required, runSteps } from "./browser.mjs";

const base = required("BASE_URL");
const token = required("ADMIN_TOKEN");
const number = required("TRACKING_NUMBER");
const courierToken = required("COURIER_TOKEN");
const timeout = 15_000;

async function changeStatus(body) {
  const response = await fetch(`${base}/api/v1/packages/${number}/status`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  check(response.ok, `status change answered ${response.status}`);
}

// A phone-width screen: the page must work there first.
const opened = await openPage({ width: 390, height: 844 });
const { page } = opened;

const steps = [
  ["the parcel's page shows its status and journey", async () => {
    await page.goto(`${base}/track/${number}`);
    await page.locator("#parcel").waitFor({ state: "visible", timeout });
    check((await page.locator("#number").textContent()) === number, "the number is shown");
    check((await page.locator("#status").textContent()) === "pending", "status pending");
    check((await page.locator("#timeline li").count()) === 1, "one step: created");
    const text = await page.locator("body").innerText();
    for (const secret of ["Ann Sender", "1 Main St", "Bob Recipient", "2 High St"]) {
      check(!text.includes(secret), `the page reveals ${secret}`);
    }
  }],
  ["it goes live", async () => {
    await page.locator("#connection").getByText("live updates on").waitFor({ timeout });
  }],
  ["a status change appears without a reload, with its position on the map", async () => {
    await changeStatus({
      status: "in_transit", location: "Newark Hub", latitude: 40.7357, longitude: -74.1724,
    });
    await page.locator("#status").getByText("in transit").waitFor({ timeout });
    await page.locator("#timeline li").nth(1).getByText("in transit · Newark Hub").waitFor({ timeout });
    await page.locator("#position-text").getByText("Newark Hub").waitFor({ timeout });
    check((await page.locator("#map path.leaflet-interactive").count()) === 1, "one marker on the map");
    const described = await page.locator("#map").getAttribute("aria-label");
    check(described.includes("(40.736, -74.172)"), `the map names the position: ${described}`);
  }],
  ["out for delivery, the arrival window appears as the courier reports", async () => {
    await changeStatus({ status: "out_for_delivery" });
    await page.locator("#status").getByText("out for delivery").waitFor({ timeout });
    const response = await fetch(`${base}/api/v1/me/locations`, {
      method: "POST",
      headers: { authorization: `Bearer ${courierToken}`, "content-type": "application/json" },
      body: JSON.stringify([{ latitude: 40.7357, longitude: -74.1724, recorded_at: new Date().toISOString() }]),
    });
    check(response.status === 202, `the courier's fix answered ${response.status}`);
    await page.locator("#eta").waitFor({ state: "visible", timeout });
    const text = await page.locator("#eta").innerText();
    check(/Expected between \S+.* and \S+/.test(text), `the window is named: ${text}`);
  }],
  ["the page passes axe's WCAG 2 AA checks and fits the phone's width", async () => {
    await checkAccessible(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  }],
  ["an unknown number gets a friendly page, and the form works from the keyboard", async () => {
    await page.goto(`${base}/track/NOSUCHPARCEL1`);
    await page.locator("#not-found").waitFor({ state: "visible", timeout });
    check((await page.locator("#missing-number").textContent()) === "NOSUCHPARCEL1", "names the number");
    const input = page.getByLabel("Tracking number");
    await input.fill(number);
    await input.press("Enter");
    await page.waitForURL(`**/track/${number}`, { timeout });
    await page.locator("#status").getByText("out for delivery").waitFor({ timeout });
    await page.locator("#eta").waitFor({ state: "visible", timeout });
  }],
];

await runSteps(opened, "track", steps);
