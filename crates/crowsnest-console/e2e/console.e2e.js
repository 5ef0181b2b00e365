// End-to-end test of the Crowsnest web console in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core; no browser is downloaded). Started by
// crates/crowsnest/tests/console.rs against a real `crowsnest serve` on a seeded data
// directory with a real registry image scanned. Environment:
//   CONSOLE_URL            http://127.0.0.1:PORT
//   KEY_ID, KEY_SECRET     an AccessKey of the seeded tenant
//   OTHER_KEY_ID, OTHER_KEY_SECRET   an AccessKey of a second, empty tenant
//   SCANNED_IMAGE          the repository name of the image scanned before (its page has packages)
//   SCAN_IMAGE             the repository name of an unscanned image to scan through a task
//   SCREENSHOT_DIR         where each page's screenshot goes
//   CHROMIUM               the browser (default /usr/bin/chromium)
// Fails (exit 1) on any failed check, browser console error, page error, failed request or
// HTTP error response.
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const base = process.env.CONSOLE_URL;
const shots = process.env.SCREENSHOT_DIR;
const problems = [];

function check(condition, what) {
  if (!condition) {
    throw new Error("check failed: " + what);
  }
}

function watch(page, label) {
  page.on("console", (msg) => {
    if (msg.type() === "error") {
      problems.push(label + " console error: " + msg.text() + " at " + JSON.stringify(msg.location()) + " on " + page.url());
    }
  });
  page.on("pageerror", (e) => problems.push(label + " page error: " + e.message));
  page.on("requestfailed", (r) => {
    problems.push(label + " request failed: " + r.url() + " " + (r.failure() || {}).errorText);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) {
      problems.push(label + " HTTP " + r.status() + ": " + r.url());
    }
  });
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
  console.log("screenshot " + name);
}

async function signIn(page, id, secret) {
  await page.goto(base + "/console/");
  check(page.url().endsWith("/console/sign-in"), "unsigned visit goes to the sign-in page, got " + page.url());
  await page.fill("#access_key_id", id);
  await page.fill("#secret", secret);
  await Promise.all([page.waitForURL(base + "/console/"), page.click("button[type=submit]")]);
}

async function rowCount(page, table) {
  return page.locator("#" + table + " tbody tr").count();
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // Root in CI containers cannot use Chromium's user-namespace sandbox.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
    const page = await context.newPage();
    watch(page, "tenant");

    await page.goto(base + "/console/sign-in");
    await shot(page, "01-sign-in");
    await signIn(page, process.env.KEY_ID, process.env.KEY_SECRET);
    check((await page.textContent("h1")) === "Overview", "overview after sign-in");
    check(await page.locator("svg.trend rect").count() === 30, "30 days of trend bars");
    const coverage = await page.textContent("#coverage");
    check(/of 1000\d image instances scanned/.test(coverage), "coverage over the 10,000 seeded rows and the registry's: " + coverage);
    await shot(page, "02-overview");

    // Registry images: the seeded rows page by page, then the filters.
    await page.click("nav a[href='/console/registry-images']");
    await page.waitForSelector("#registry-images");
    const range = await page.textContent("nav.pager .range");
    check(/rows 1–50 of 1000\d/.test(range), "first page of the 10,000-row inventory: " + range);
    check(await rowCount(page, "registry-images") === 50, "50 rows a page");
    await shot(page, "03-registry-images");
    await page.click("a[rel=next]");
    check(/rows 51–100 of/.test(await page.textContent("nav.pager .range")), "second page");
    await page.selectOption("select[name=severity_level]", "High");
    await page.selectOption("select[name=has_vul]", "true");
    await Promise.all([page.waitForURL(/severity_level=High/), page.click("#filters button[type=submit]")]);
    const high = await page.locator("#registry-images tbody .sev").allTextContents();
    check(high.length > 0 && high.every((s) => s === "High"), "High filter shows High rows only");
    await shot(page, "04-registry-images-filtered");

    // The scanned image and its page.
    await page.goto(base + "/console/registry-images");
    await page.fill("input[name=image_name]", process.env.SCANNED_IMAGE);
    await Promise.all([page.waitForURL(/image_name=/), page.click("#filters button[type=submit]")]);
    check(await rowCount(page, "registry-images") >= 1, "the scanned image is listed");
    await Promise.all([page.waitForURL(/\/console\/images\//), page.click("#registry-images a.image-link >> nth=0")]);
    check(await rowCount(page, "packages") > 10, "the image's packages");
    check(await rowCount(page, "layers") >= 1, "the image's layers");
    const vulns = await rowCount(page, "vulnerabilities");
    const fixed = await page.locator("#vulnerabilities td.fixed").allTextContents();
    check(vulns > 0 && fixed.some((f) => f.length > 0), "vulnerabilities with fixed versions");
    await shot(page, "05-image");
    for (const [link, expect] of [["#download-sbom", "CycloneDX"], ["#download-sarif", "2.1.0"]]) {
      const [download] = await Promise.all([page.waitForEvent("download"), page.click(link)]);
      const file = await download.path();
      const doc = JSON.parse(fs.readFileSync(file, "utf8"));
      check((doc.bomFormat || doc.version) === expect, link + " is " + expect);
    }

    // Scan an unscanned image through a task and watch it finish live.
    await page.goto(base + "/console/registry-images?image_name=" + encodeURIComponent(process.env.SCAN_IMAGE));
    check(await rowCount(page, "registry-images") >= 1, "the image to scan is listed");
    await Promise.all([page.waitForURL(/\/console\/tasks\/[0-9a-f]+$/), page.click("#scan-selection button")]);
    await shot(page, "06-task-started");
    await page.waitForFunction(
      () => {
        const s = document.getElementById("task-status");
        return s && !["INIT", "PROCESSING"].includes(s.textContent);
      },
      null,
      { timeout: 180000, polling: 500 },
    );
    const status = await page.textContent("#task-status");
    check(status === "SUCCESS", "the task succeeded, got " + status + " " + (await page.textContent("#task-result")));
    check((await page.getAttribute("#task-progress", "value")) === "100", "progress 100");
    const states = await page.locator("#jobs td.state").allTextContents();
    check(states.length > 0 && states.every((s) => s === "succeeded"), "every job succeeded (updated live): " + states);
    await shot(page, "07-task-finished");
    await page.goto(base + "/console/registry-images?image_name=" + encodeURIComponent(process.env.SCAN_IMAGE));
    await Promise.all([page.waitForURL(/\/console\/images\//), page.click("#registry-images a.image-link >> nth=0")]);
    check(await rowCount(page, "packages") >= 1, "the newly scanned image has packages");
    await shot(page, "08-image-after-task");

    for (const [href, table, name] of [
      ["/console/tasks", "tasks", "09-tasks"],
      ["/console/local-images", "local-images", "10-local-images"],
      ["/console/vm-images", "vm-images", "11-vm-images"],
      ["/console/registries", "registries", "12-registries"],
      ["/console/agents", "agents", "13-agents"],
    ]) {
      await page.click("nav a[href='" + href + "']");
      await page.waitForSelector("#" + table);
      await shot(page, name);
    }
    check(await rowCount(page, "agents") >= 1, "agents table");
    await page.goto(base + "/console/registries");
    check((await page.textContent("#registries")).includes("local"), "the connected registry is listed");
    // POST/redirect/GET: the sync answers 303 back to the page, which shows the report once.
    const [posted] = await Promise.all([
      page.waitForResponse((r) => /\/console\/registries\/local\/sync$/.test(r.url())),
      page.click("form.sync button"),
    ]);
    check(posted.status() === 303, "the sync answers 303, got " + posted.status());
    await page.waitForSelector("#sync-report");
    check(page.url() === base + "/console/registries", "redirected to the registries page: " + page.url());
    const report = await page.textContent("#sync-report");
    check(/Synced local: \d+ repositories, \d+ tags/.test(report), "sync report: " + report);
    await shot(page, "15-registry-synced");
    await page.reload();
    check(await page.locator("#sync-report").count() === 0, "a reload neither syncs again nor repeats the report");

    await Promise.all([page.waitForURL(/sign-in/), page.click("header form.sign-out button")]);
    await page.goto(base + "/console/registry-images");
    check(page.url().endsWith("/console/sign-in"), "signed out");

    // A second tenant sees none of the first one's images.
    const other = await (await browser.newContext()).newPage();
    watch(other, "other tenant");
    await signIn(other, process.env.OTHER_KEY_ID, process.env.OTHER_KEY_SECRET);
    await other.goto(base + "/console/registry-images?enterprise_project_id=all_granted_eps");
    check((await other.textContent("nav.pager .range")) === "no rows of 0", "the other tenant has no images");
    check(await rowCount(other, "registry-images") === 0, "no rows for the other tenant");
    await shot(other, "14-other-tenant");
  } finally {
    await browser.close();
  }
  if (problems.length > 0) {
    throw new Error("browser problems:\n" + problems.join("\n"));
  }
  console.log("console e2e: ok");
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
