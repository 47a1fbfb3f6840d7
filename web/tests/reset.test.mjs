// The pages account mails link to, in a real browser (Debian's chromium
// driven by playwright-core), against a running system:
//   BASE_URL      the ingest serving the page
//   VERIFY_LINK   the sign-up mail's link (…/verify-email#token=…)
//   PASSWORD      the account's password, to sign in and confirm
//   RESET_LINK    the reset mail's link (…/reset-password#token=…)
//   EMAIL         the account's address (for the form that asks for a link)
//   CHROMIUM, ARTIFACTS_DIR as in track.test.mjs
import { check, checkAccessible, openPage, required, runSteps } from "./browser.mjs";

const base = required("BASE_URL");
const verifyLink = required("VERIFY_LINK");
const password = required("PASSWORD");
const link = required("RESET_LINK");
const email = required("EMAIL");
const timeout = 15_000;

const opened = await openPage({ width: 390, height: 844 });
const { page } = opened;

const steps = [
  ["the confirmation link asks to sign in, and its token leaves the address bar", async () => {
    await page.goto(verifyLink);
    await page.locator("#verify").waitFor({ state: "visible", timeout });
    check(!page.url().includes("token="), `the token is still in the URL: ${page.url()}`);
    await checkAccessible(page);
  }],
  ["a wrong password confirms nothing", async () => {
    await page.locator("#verify-email").fill(email);
    await page.locator("#verify-password").fill("not the password");
    await page.locator("#verify-form button").click();
    await page.locator("#outcome").getByText("invalid email or password").waitFor({ timeout });
    check(await page.locator("#verify").isVisible(), "the form went away");
  }],
  ["signing in confirms the address", async () => {
    await page.locator("#verify-password").fill(password);
    await page.keyboard.press("Enter");
    await page.locator("#outcome").getByText("is confirmed").waitFor({ timeout });
  }],
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
