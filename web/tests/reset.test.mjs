// The page a password-reset mail links to, in a real browser (Debian's
// chromium driven by playwright-core), against a running system:
//   BASE_URL      the ingest serving the page
//   RESET_LINK    the link as the mail had it (…/reset-password#token=…)
//   EMAIL         the account's address (for the form that asks for a link)
//   CHROMIUM, ARTIFACTS_DIR as in track.test.mjs
import { check, checkAccessible, openPage, required, runSteps } from "./browser.mjs";

const base = required("BASE_URL");
const link = required("RESET_LINK");
const email = required("EMAIL");
const timeout = 15_000;

const opened = await openPage({ width: 390, height: 844 });
const { page } = opened;

const steps = [
  ["the mailed link opens the form, and its token leaves the address bar", async () => {
    await page.goto(link);
    await page.locator("#choose").waitFor({ state: "visible", timeout });
    check(!page.url().includes("token="), `the token is still in the URL: ${page.url()}`);
    await checkAccessible(page);
  }],
  ["a short password is refused by the form itself", async () => {
    await page.locator("#choose-password").fill("short");
    await page.locator("#choose-form button").click();
    check(await page.locator("#choose-password").evaluate((i) => !i.validity.valid), "accepted");
  }],
  ["a new password is set from the keyboard", async () => {
    await page.locator("#choose-password").fill("a brand new password");
    await page.keyboard.press("Enter");
    await page.locator("#outcome").getByText("Your password is changed").waitFor({ timeout });
  }],
  ["without a token the page asks for a link", async () => {
    await page.goto(`${base}/reset-password`);
    await page.locator("#ask").waitFor({ state: "visible", timeout });
    await page.locator("#ask-email").fill(email);
    await page.locator("#ask-form button").click();
    await page.locator("#outcome").getByText("a link is on its way").waitFor({ timeout });
    await checkAccessible(page);
  }],
];

await runSteps(opened, "reset", steps);
