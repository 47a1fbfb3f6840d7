// What the browser test scripts share: the browser, the environment they
// read, and the step runner that reports, screenshots a failing step and
// sets the exit status.
import { chromium } from "playwright-core";
import { mkdir, readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";

const artifacts = process.env.ARTIFACTS_DIR ?? "browser-artifacts";

/** A required environment variable; exits 2 without it. */
export function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/**
 * What axe-core finds against WCAG 2 A and AA (labels, names, roles,
 * contrast, ...) on the page as it is now: one line per rule broken, with
 * where. Fails the step unless nothing is found.
 */
export async function checkAccessible(page) {
  // Evaluated through the driver: the pages' Content-Security-Policy
  // (rightly) refuses an injected script tag.
  const axe = await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  await page.evaluate(axe);
  const found = await page.evaluate(async () => {
    const { violations } = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    });
    return violations.map((v) => `${v.id} (${v.help}) at ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  });
  check(found.length === 0, `accessibility problems: ${found.join("; ")}`);
}

/** Debian's chromium (or CHROMIUM), and a page of the given size. */
export async function openPage(viewport) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  const page = await (await browser.newContext({ viewport })).newPage();
  return { browser, page };
}

/**
 * Runs `[name, step]` pairs in order, printing `ok   name` or `FAIL name:
 * why` (with a screenshot named after `prefix` and the step), stops at the
 * first failure, fails on script errors in the page too, closes the browser
 * and exits 0 or 1. KEEP_SCREENSHOTS=1 keeps a picture after a pass too.
 */
export async function runSteps({ browser, page }, prefix, steps) {
  const problems = [];
  page.on("pageerror", (error) => problems.push(error.message));
  const screenshot = async (name) => {
    await mkdir(artifacts, { recursive: true });
    const path = join(artifacts, `${prefix}-${name.replace(/[^a-z0-9]+/gi, "-")}.png`);
    await page.screenshot({ path, fullPage: true }).catch(() => {});
    return path;
  };
  let failed = false;
  for (const [name, step] of steps) {
    try {
      await step();
      console.log(`ok   ${name}`);
    } catch (error) {
      failed = true;
      console.log(`FAIL ${name}: ${error.message}`);
      console.log(`     screenshot: ${await screenshot(name)}`);
      break;
    }
  }
  if (!failed && process.env.KEEP_SCREENSHOTS) await screenshot("passed");
  if (problems.length) {
    failed = true;
    console.log(`FAIL script errors on the page: ${problems.join("; ")}`);
  }
  await browser.close();
  process.exit(failed ? 1 : 0);
}
