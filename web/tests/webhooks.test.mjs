// The dashboard's Webhooks view in a real browser (Debian's chromium driven
// by playwright-core), against a running system the caller names, with a
// real HTTP receiver started here:
//   BASE_URL            the ingest serving the page
//   ADMIN_TOKEN         a token that may create packages
//   EMAIL, PASSWORD     a dispatcher's account to sign in with
//   RUN_ID              a short unique suffix for this run's tracking numbers
//   CHROMIUM, ARTIFACTS_DIR as in track.test.mjs
import { createServer } from "node:http";
import { check, checkAccessible, openPage, required, runSteps } from "./browser.mjs";

const base = required("BASE_URL");
const token = required("ADMIN_TOKEN");
const run = required("RUN_ID");
const timeout = 20_000;
const parcel = `TRK0HOOK${run}`;

// The receiver: answers 200, remembers each call's event id.
const calls = [];
const receiver = createServer((request, response) => {
  request.resume();
  request.on("end", () => {
    calls.push(request.headers["x-delivertrack-event-id"]);
    response.writeHead(200).end("ok");
  });
});
await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const hook = `http://127.0.0.1:${receiver.address().port}/hook`;

async function until(what, condition) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const opened = await openPage({ width: 1400, height: 900 });
const { page } = opened;
page.on("dialog", (dialog) => dialog.accept());
const row = () => page.locator("#webhook-list tbody tr").first();

const steps = [
  ["a dispatcher signs in and opens the Webhooks view", async () => {
    await page.goto(`${base}/`);
    await page.getByLabel("Email").fill(required("EMAIL"));
    await page.getByLabel("Password").fill(required("PASSWORD"));
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#dashboard").waitFor({ state: "visible", timeout });
    await page.getByRole("button", { name: "Webhooks" }).click();
    await page.locator("#webhooks-view").waitFor({ state: "visible", timeout });
    await page.locator("#webhook-summary").getByText("No endpoints yet.").waitFor({ timeout });
  }],
  ["an endpoint is registered and its secret shown once", async () => {
    await page.getByLabel("URL (https)").fill(hook);
    await page.getByRole("button", { name: "Register" }).click();
    await page.locator("#webhook-secret-box").waitFor({ state: "visible", timeout });
    const secret = await page.locator("#webhook-secret").textContent();
    check(secret.startsWith("whsec_"), `secret ${secret}`);
    await page.getByRole("button", { name: "I have copied it" }).click();
    check(await page.locator("#webhook-secret-box").isHidden(), "the secret is put away");
    await row().waitFor({ timeout });
    check((await row().locator(".webhook-state").textContent()) === "active", "active");
  }],
  ["a package created through the API reaches the receiver, and the log shows it", async () => {
    const response = await fetch(`${base}/api/v1/packages`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        tracking_number: parcel, sender_name: "Ann Sender", sender_address: "1 Main St",
        recipient_name: "Bob Recipient", recipient_address: "2 High St", weight: 1.5,
      }),
    });
    check(response.ok, `create answered ${response.status}`);
    await until("the receiver's first call", () => calls.length >= 1);
    await page.getByRole("button", { name: `Deliveries of ${hook}` }).click();
    const delivery = page.locator("#webhook-deliveries tbody tr").filter({ hasText: parcel });
    await until("a delivered row", async () => {
      await page.getByRole("button", { name: `Deliveries of ${hook}` }).click();
      return (await delivery.locator(".delivery-state").textContent().catch(() => "")) === "delivered";
    });
  }],
  ["a redeliver calls the receiver again and counts a second attempt", async () => {
    const before = calls.length;
    await page.getByRole("button", { name: `Redeliver created of ${parcel}` }).click();
    await until("the receiver's second call", () => calls.length > before);
    check(calls.at(-1) === calls[0], "the same event again");
    const attempts = page.locator("#webhook-deliveries tbody tr").filter({ hasText: parcel }).locator(".delivery-attempts");
    await until("two attempts in the log", async () => {
      await page.getByRole("button", { name: `Deliveries of ${hook}` }).click();
      return (await attempts.textContent().catch(() => "")) === "2";
    });
  }],
  ["pausing shows it paused, and the view passes axe's WCAG 2 AA checks", async () => {
    await page.getByRole("button", { name: `Pause ${hook}` }).click();
    await until("the paused state", async () => (await row().locator(".webhook-state").textContent()) === "paused");
    await checkAccessible(page);
  }],
];

try {
  await runSteps(opened, "webhooks", steps);
} finally {
  receiver.close();
}
