// End-to-end tests of the Campaigns page: a live `campaignd serve --demo`,
// driven in Debian's Chromium through playwright-core, used as a
// supervisor would; what the page shows is compared with what the API
// returns.
//
//   node tests/browser/run.mjs [--campaignd PATH] [--screenshots DIR] [--only NAME]
//
// --campaignd   the binary (default target/debug/campaignd)
// --screenshots where the list, detail, import and phone views are saved
//               (default: a temporary directory; the README's come from
//               docs/screenshots)
//
// Exit status 0 when every test passed.

import { spawn, spawnSync, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const BIN = resolve(option("--campaignd", join(ROOT, "target/debug/campaignd")));
const work = mkdtempSync(join(tmpdir(), "campaignd-browser-"));
const SHOTS = resolve(option("--screenshots", join(work, "screenshots")));
const ONLY = option("--only", null);
mkdirSync(SHOTS, { recursive: true });

// ------------------------------------------------------------------ server

/** Starts `campaignd serve --demo` on a database of its own. */
async function startServer(name, extra = []) {
  const db = `sqlite://${join(work, name)}.db`;
  const child = spawn(BIN, ["serve", "--demo", "--listen", "127.0.0.1:0", ...extra], {
    env: { ...process.env, CAMPAIGND_DATABASE_URL: db, CAMPAIGND_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const seen = {};
  for await (const line of lines) {
    let m;
    if ((m = line.match(/^campaignd is listening on (http:\/\/\S+)$/))) seen.base = m[1];
    else if ((m = line.match(/^demo API key: (\S+)$/))) seen.full = m[1];
    else if ((m = line.match(/^demo read-only key: (\S+)$/))) seen.readOnly = m[1];
    if (seen.base && seen.full && seen.readOnly) break;
  }
  assert.ok(seen.base && seen.full && seen.readOnly, "the server printed its address and keys");
  return { ...seen, db, child };
}

/** A call to the API from outside the page, to compare with what it shows. */
async function api(server, method, path, body, key = server.full) {
  const res = await fetch(server.base + "/api/v4" + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, etag: res.headers.get("ETag") };
}

// ----------------------------------------------------------------- browser

const browser = await chromium.launchPersistentContext(mkdtempSync(join(work, "profile-")), {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1280, height: 900 },
  permissions: ["clipboard-read", "clipboard-write"],
});
const server = await startServer("main");
// Every request any page makes: none may carry the key in its URL, or go
// anywhere but this server.
const requests = [];
browser.on("request", (r) => requests.push(r.url()));

async function newPage() {
  const page = await browser.newPage();
  page.setDefaultTimeout(10_000);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  page.errors = errors;
  return page;
}

async function signIn(page, key = server.full, base = server.base) {
  await page.goto(base + "/");
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Campaigns", level: 1, exact: true }).waitFor();
}

/** Puts campaign 3 back to active, whatever an earlier test left. */
async function campaign3Active() {
  const c = (await api(server, "GET", "/campaigns/3")).body.campaign;
  if (c.status !== "active") {
    assert.equal((await api(server, "POST", "/campaigns/3/start")).status, 200);
  }
}

/** WCAG contrast ratio of two "rgb(r, g, b)" colours. */
function contrast(a, b) {
  const lum = (c) => {
    const [r, g, bl] = c.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// ------------------------------------------------------------------- tests

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test("a bad key gets the sign-in error and stays signed out", async () => {
  const page = await newPage();
  await page.goto(server.base + "/");
  await page.getByLabel("API key").fill("cmpd_not-a-real-key");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("That API key was not accepted").waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  assert.ok(await page.getByRole("button", { name: "Sign out" }).isHidden(), "no sign-out before sign-in");
  // An empty key is refused before any request.
  await page.getByLabel("API key").fill("");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Paste an API key to sign in.").waitFor();
  await page.close();
});

test("signing in lists the campaigns the API lists, with the total", async () => {
  const page = await newPage();
  await signIn(page);
  const expected = await api(server, "GET", "/campaigns?limit=25");
  const rows = page.locator("tbody tr");
  await rows.first().waitFor();
  assert.equal(await rows.count(), expected.body.campaigns.length);
  for (const [i, c] of expected.body.campaigns.entries()) {
    const cells = rows.nth(i).locator("td");
    assert.equal(await cells.nth(0).innerText(), String(c.id));
    assert.equal(await cells.nth(1).innerText(), c.name);
    assert.equal(await cells.nth(2).innerText(), c.status.replace(/_/g, " "));
    assert.equal(await cells.nth(4).innerText(), String(c.dial_level));
    assert.equal(await cells.nth(5).locator("time").getAttribute("datetime"), c.updated_at);
  }
  const total = expected.body.metadata.total;
  await page.locator("caption", { hasText: `${total} campaigns` }).waitFor();
  assert.equal(await page.locator("main [role=status]").innerText(), `${total} campaigns found.`);
  await page.getByText(`1–25 of ${total}`).waitFor();
  await page.screenshot({ path: join(SHOTS, "list.png"), fullPage: true });
  // One click copies an id.
  await page.getByRole("button", { name: "Copy campaign id 3" }).click();
  await page.getByText("Copied campaign id 3.").waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "3");
  // Paging: the next page starts where the API's does.
  await page.getByRole("button", { name: "Next" }).click();
  const second = await api(server, "GET", "/campaigns?limit=25&offset=25");
  await page.getByText(`26–${Math.min(50, total)} of ${total}`).waitFor();
  assert.equal(await rows.first().locator("td").nth(1).innerText(), second.body.campaigns[0].name);
  assert.match(page.url(), /#\/\?offset=25$/);
  // The key is in this tab's sessionStorage and nowhere else.
  assert.equal(await page.evaluate(() => sessionStorage.getItem("campaignd.key")), server.full);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.deepEqual(page.errors, []);
  await page.close();
});

test("filters apply as you type, live in the URL, and a shared URL shows the same view", async () => {
  const page = await newPage();
  await signIn(page);
  await page.getByLabel("Name contains").pressSequentially("collect", { delay: 40 });
  const expected = await api(server, "GET", "/campaigns?name=collect&limit=25");
  assert.ok(expected.body.metadata.total >= 2, "the demo has Collections East and West");
  await page.waitForFunction((n) => document.querySelectorAll("tbody tr").length === n,
    expected.body.campaigns.length);
  const names = await page.locator("tbody tr td:nth-child(2)").allInnerTexts();
  assert.deepEqual(names, expected.body.campaigns.map((c) => c.name));
  await page.getByLabel("Status").selectOption("active");
  const both = await api(server, "GET", "/campaigns?name=collect&status=active&limit=25");
  await page.waitForFunction(() => location.hash.includes("status=active"));
  const wanted = both.body.campaigns.map((c) => c.name);
  await page.waitForFunction((names) => JSON.stringify([...document.querySelectorAll("tbody tr td:nth-child(2)")]
    .map((td) => td.innerText)) === JSON.stringify(names), wanted);
  const url = page.url();
  assert.match(url, /name=collect/);
  assert.ok(!url.includes(server.full.slice(5)), "the URL never holds the key");
  // Opened in another tab (signed in there too), the URL shows the same view.
  const other = await newPage();
  await signIn(other);
  await other.goto(url);
  await other.waitForFunction(() => document.getElementById("f-name")?.value === "collect");
  assert.equal(await other.getByLabel("Status").inputValue(), "active");
  // A filter matching nothing says so.
  await page.getByLabel("Name contains").fill("no such campaign anywhere");
  await page.getByText("No campaigns match these filters.").waitFor();
  await page.close();
  await other.close();
});

test("campaign 3 shows every field the API returns", async () => {
  const page = await newPage();
  await signIn(page);
  const { body } = await api(server, "GET", "/campaigns/3");
  const c = body.campaign;
  await page.getByRole("link", { name: c.name, exact: true }).click();
  await page.getByRole("heading", { name: c.name, level: 1, exact: true }).waitFor();
  const field = async (label) =>
    (await page.locator(`xpath=//dt[normalize-space()="${label}"]/following-sibling::dd[1]`).innerText()).trim();
  assert.equal(await field("Strategy"), c.strategy.replace(/_/g, " "));
  assert.equal(await field("Dial level"), String(c.dial_level));
  assert.equal(await field("Max dial time"), `${c.max_dial_time} s`);
  assert.equal(await field("Max wait time"), `${c.max_wait_time} s`);
  assert.equal(await field("Max dial attempts"), String(c.max_dial_attempts));
  assert.equal(await field("Answering machine detection"), c.amd_enabled ? "Yes" : "No");
  assert.equal(await field("Local caller ID"), c.use_local_caller_id ? "Yes" : "No");
  assert.equal(await field("ASR optimization"), c.asr_optimization_enabled ? "Yes" : "No");
  const sets = await page.locator("ol.sets li").allInnerTexts();
  assert.deepEqual(sets, c.caller_id_sets.map((s) => s.phone_numbers.join(", ")));
  const override = await field("Dial level override");
  if (c.dial_level_override) assert.match(override, new RegExp(`level ${c.dial_level_override.value}`));
  else assert.equal(override, "None");
  assert.equal(await page.locator("#status .badge").innerText(), c.status.replace(/_/g, " "));
  // Its users and leads, as the API lists them.
  const users = await api(server, "GET", "/campaigns/3/users");
  const leads = await api(server, "GET", "/campaigns/3/leads?limit=25");
  await page.locator("section[aria-labelledby=users-h] tbody tr").first().waitFor();
  assert.deepEqual(await page.locator("section[aria-labelledby=users-h] tbody td:nth-child(2)").allInnerTexts(),
    users.body.users.map((u) => u.name));
  await page.locator("section[aria-labelledby=leads-h] tbody tr").first().waitFor();
  assert.deepEqual(await page.locator("section[aria-labelledby=leads-h] tbody td:nth-child(1)").allInnerTexts(),
    leads.body.leads.map((l) => l.phone_number));
  await page.screenshot({ path: join(SHOTS, "detail.png"), fullPage: true });
  await page.close();
});

test("pausing campaign 3 changes its badge and the buttons follow the lifecycle", async () => {
  await campaign3Active();
  const page = await newPage();
  await signIn(page);
  await page.goto(server.base + "/#/campaigns/3");
  await page.getByRole("button", { name: "Pause" }).click();
  await page.locator("#status .badge", { hasText: "paused" }).waitFor();
  assert.equal((await api(server, "GET", "/campaigns/3")).body.campaign.status, "paused");
  // Paused: start and stop are legal, pause is not.
  await page.getByRole("button", { name: "Start" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Pause" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Stop" }).count(), 1);
  await page.getByRole("button", { name: "Start" }).click();
  await page.locator("#status .badge", { hasText: "active" }).waitFor();
  assert.equal((await api(server, "GET", "/campaigns/3")).body.campaign.status, "active");
  await page.close();
});

test("an edit with a bad value shows the API's message beside the field", async () => {
  const page = await newPage();
  await signIn(page);
  await page.goto(server.base + "/#/campaigns/3/edit");
  await page.getByLabel("Dial level", { exact: true }).fill("20");
  await page.getByLabel("Max dial time (s)").fill("0");
  await page.getByRole("button", { name: "Save changes" }).click();
  // The messages the API gives for the same patch (which changes nothing).
  const refused = await api(server, "PATCH", "/campaigns/3", { dial_level: 20, max_dial_time: 0 });
  assert.equal(refused.status, 422);
  const dial = page.locator("#e-dial-level-error");
  await dial.waitFor();
  assert.equal(await dial.innerText(), refused.body.errors.dial_level.join("; "));
  assert.equal(await page.locator("#e-max-dial-time-error").innerText(), refused.body.errors.max_dial_time.join("; "));
  assert.equal(await page.getByLabel("Dial level", { exact: true }).getAttribute("aria-invalid"), "true");
  // The summary took focus, so a screen reader hears what went wrong.
  assert.equal(await page.evaluate(() => document.activeElement.id), "form-summary");
  await page.close();
});

test("an edit raced from two tabs: the second save gets the 412 message", async () => {
  const a = await newPage();
  const b = await newPage();
  await signIn(a);
  await signIn(b);
  await a.goto(server.base + "/#/campaigns/3/edit");
  await b.goto(server.base + "/#/campaigns/3/edit");
  await a.getByLabel("Max dial attempts").waitFor();
  await b.getByLabel("Max dial attempts").waitFor();
  const before = (await api(server, "GET", "/campaigns/3")).body.campaign;
  await a.getByLabel("Max dial attempts").fill(String(before.max_dial_attempts === 7 ? 8 : 7));
  await a.getByRole("button", { name: "Save changes" }).click();
  await a.getByRole("heading", { name: before.name, level: 1, exact: true }).waitFor();
  await a.locator("#notice", { hasText: "Saved." }).waitFor();
  await b.getByLabel("Max wait time (s)").fill("9");
  await b.getByRole("button", { name: "Save changes" }).click();
  await b.getByText("Changed by someone else — reload").waitFor();
  const after = (await api(server, "GET", "/campaigns/3")).body.campaign;
  assert.notEqual(after.max_dial_attempts, before.max_dial_attempts, "the first save landed");
  assert.equal(after.max_wait_time, before.max_wait_time, "the second did not");
  // Reload brings the current version; saving again works.
  await b.getByRole("button", { name: "Reload" }).click();
  await b.waitForFunction((n) => document.getElementById("e-max-dial-attempts")?.value === String(n), after.max_dial_attempts);
  await b.getByLabel("Max wait time (s)").fill("9");
  await b.getByRole("button", { name: "Save changes" }).click();
  await b.getByRole("heading", { name: before.name, level: 1, exact: true }).waitFor();
  assert.equal((await api(server, "GET", "/campaigns/3")).body.campaign.max_wait_time, 9);
  await a.close();
  await b.close();
});

test("creating a campaign shows each 422 beside its field, then creates it", async () => {
  const page = await newPage();
  await signIn(page);
  await page.getByRole("link", { name: "New campaign" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Spring Renewals"); // taken in the demo
  await page.getByRole("button", { name: "Create campaign" }).click();
  await page.locator("#e-name-error", { hasText: "has already been taken" }).waitFor();
  await page.getByLabel("Name", { exact: true }).fill("Browser Launch");
  await page.getByLabel("Caller ID sets").fill("15551230001, 15551230002\n4420712345");
  await page.getByRole("button", { name: "Create campaign" }).click();
  await page.getByRole("heading", { name: "Browser Launch", level: 1, exact: true }).waitFor();
  const created = await api(server, "GET", "/campaigns?name=Browser%20Launch");
  assert.equal(created.body.metadata.total, 1);
  const c = created.body.campaigns[0];
  assert.equal(c.status, "draft");
  assert.deepEqual(c.caller_id_sets, [
    { phone_numbers: ["15551230001", "15551230002"] }, { phone_numbers: ["4420712345"] },
  ]);
  await page.close();
});

test("users are assigned from the center's users and unassigned", async () => {
  const page = await newPage();
  await signIn(page);
  await page.goto(server.base + "/#/campaigns/3");
  const before = (await api(server, "GET", "/campaigns/3/users")).body.users.map((u) => u.id);
  const all = (await api(server, "GET", "/users")).body.users;
  const free = all.filter((u) => !before.includes(u.id));
  await page.getByLabel("Assign users").selectOption(String(free[0].id));
  await page.getByRole("button", { name: "Assign", exact: true }).click();
  await page.getByRole("button", { name: `Unassign ${free[0].name}` }).waitFor();
  const during = (await api(server, "GET", "/campaigns/3/users")).body.users.map((u) => u.id);
  assert.deepEqual(during.sort(), [...before, free[0].id].sort());
  await page.getByRole("button", { name: `Unassign ${free[0].name}` }).click();
  await page.getByRole("button", { name: `Unassign ${free[0].name}` }).waitFor({ state: "detached" });
  const after = (await api(server, "GET", "/campaigns/3/users")).body.users.map((u) => u.id);
  assert.deepEqual(after.sort(), before.sort());
  await page.close();
});

test("importing a 2,500-lead CSV sends batches and shows the counts", async () => {
  const page = await newPage();
  await signIn(page);
  await page.goto(server.base + "/#/campaigns/3");
  const existing = (await api(server, "GET", "/campaigns/3/leads?limit=1")).body.metadata.total;
  // 2,500 rows: 2,480 new numbers, 10 bad ones, 10 repeats of earlier rows.
  const rows = ["phone_number,name,priority,X-Crm-Id"];
  for (let i = 0; i < 2480; i++) rows.push(`1555200${String(i).padStart(4, "0")},"Lead, ${i}",${(i % 9) + 1},C-${i}`);
  for (let i = 0; i < 10; i++) rows.push(`12ab${i},Bad ${i},,`);
  for (let i = 0; i < 10; i++) rows.push(`1555200${String(i * 200).padStart(4, "0")},Again ${i},,`);
  const file = join(work, "leads.csv");
  writeFileSync(file, rows.join("\n") + "\n");
  await page.getByLabel("Import leads").setInputFiles(file);
  await page.getByRole("button", { name: "Import", exact: true }).click();
  const status = page.locator("#import-status");
  await status.filter({ hasText: "Imported 2500 leads" }).waitFor({ timeout: 30_000 });
  assert.equal(await status.innerText(), "Imported 2500 leads: 2480 created, 10 rejected, 10 duplicates.");
  assert.equal(await page.locator("#import-progress").evaluate((p) => p.value), 2500);
  const total = (await api(server, "GET", "/campaigns/3/leads?limit=1")).body.metadata.total;
  assert.equal(total, existing + 2480);
  await page.locator("section[aria-labelledby=leads-h] form").scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(SHOTS, "import.png"), fullPage: false });
  await page.close();
});

test("a read-only key sees no buttons that change anything", async () => {
  const page = await newPage();
  await signIn(page, server.readOnly);
  await page.locator("tbody tr").first().waitFor();
  assert.equal(await page.getByRole("link", { name: "New campaign" }).count(), 0);
  await page.goto(server.base + "/#/campaigns/3");
  await page.locator("section[aria-labelledby=leads-h] tbody tr").first().waitFor();
  for (const name of ["Pause", "Start", "Stop", "Delete", "Import", "Assign"]) {
    assert.equal(await page.getByRole("button", { name, exact: true }).count(), 0, name);
  }
  assert.equal(await page.getByRole("link", { name: "Edit" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: /^Unassign/ }).count(), 0);
  assert.equal(await page.getByLabel("Import leads").count(), 0);
  await page.close();
});

test("429: the page says slow down, counts down and retries", async () => {
  const slow = await startServer("slow", ["--rate-limit-per-second", "1", "--rate-limit-burst", "2"]);
  try {
    const page = await newPage();
    await signIn(page, slow.full, slow.base);
    // Sign-in's two reads spent the burst: the list's first call is a 429,
    // waited out and sent again.
    await page.getByText(/Slow down: too many requests\. Retrying in \d s\./).waitFor();
    await page.locator("tbody tr").first().waitFor();
    // The probes were not misread as missing scopes.
    assert.equal(await page.locator("#who").innerText(),
      "Key scopes: campaigns.read, campaigns.manage, users.read");
    assert.ok(await page.locator("#notice").isHidden(), "the notice goes once the list is back");
    await page.getByLabel("Name contains").fill("a");
    await page.waitForFunction(() => location.hash.includes("name=a")
      && document.querySelectorAll("tbody tr").length > 0 && document.getElementById("notice").hidden);
    await page.close();
  } finally {
    slow.child.kill("SIGTERM");
  }
});

test("a revoked key is sent back to sign in", async () => {
  const page = await newPage();
  const env = { ...process.env, CAMPAIGND_DATABASE_URL: server.db };
  const created = spawnSync(BIN, ["key", "create", "--center", "demo", "--scope", "campaigns.read"], { env });
  const key = created.stdout.toString().trim();
  const id = created.stderr.toString().match(/created API key (\d+)/)[1];
  await signIn(page, key);
  execFileSync(BIN, ["key", "revoke", id], { env });
  // Revocation reaches the server within a second: a filter change made
  // after it is answered 401, and the page goes back to sign in.
  const deadline = Date.now() + 5000;
  while ((await api(server, "GET", "/campaigns?limit=1", undefined, key)).status !== 401) {
    assert.ok(Date.now() < deadline, "the revocation took effect");
    await new Promise((r) => setTimeout(r, 50));
  }
  await page.getByLabel("Status").selectOption("draft");
  await page.getByText("Your API key was not accepted").waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.close();
});

test("signing out forgets the key", async () => {
  const page = await newPage();
  await signIn(page);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("API key").waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.reload();
  await page.getByLabel("API key").waitFor();
  await page.close();
});

test("keyboard only: sign in, filter, open a campaign", async () => {
  const page = await newPage();
  await page.goto(server.base + "/");
  // The key field has focus on load.
  assert.equal(await page.evaluate(() => document.activeElement.id), "api-key");
  await page.keyboard.type(server.full);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Campaigns", level: 1, exact: true }).waitFor();
  // Focus order: the heading, then New campaign, the filters, the table.
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "New campaign");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "f-name");
  await page.keyboard.type("Upsell");
  await page.waitForFunction(() => document.querySelectorAll("tbody tr").length === 1);
  await page.keyboard.press("Tab"); // status
  await page.keyboard.press("Tab"); // strategy
  await page.keyboard.press("Tab"); // the id's copy button
  await page.keyboard.press("Tab"); // the name's link
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Summer Upsell");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Summer Upsell", level: 1, exact: true }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.tagName), "H1");
  await page.close();
});

test("every control has a label and text has 4.5:1 contrast", async () => {
  const page = await newPage();
  await signIn(page);
  for (const view of ["/#/", "/#/campaigns/3", "/#/campaigns/3/edit", "/#/new"]) {
    await page.goto(server.base + view);
    await page.locator("main h1").waitFor();
    await page.waitForLoadState("networkidle");
    // A button may be named by its text; a field needs a label.
    const unlabeled = await page.evaluate(() => [...document.querySelectorAll("input, select, textarea, button")]
      .filter((el) => !(el.labels?.length || el.getAttribute("aria-label")
        || (el.tagName === "BUTTON" && el.textContent.trim())))
      .map((el) => el.outerHTML));
    assert.deepEqual(unlabeled, [], view);
    const pairs = await page.evaluate(() => {
      const bg = (el) => {
        for (let e = el; e; e = e.parentElement) {
          const c = getComputedStyle(e).backgroundColor;
          if (c && c !== "rgba(0, 0, 0, 0)" && c !== "transparent") return c;
        }
        return "rgb(255, 255, 255)";
      };
      return [...document.querySelectorAll("main *, header *")]
        .filter((el) => [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()))
        .filter((el) => el.getClientRects().length)
        .map((el) => ({ text: el.textContent.trim().slice(0, 40), fg: getComputedStyle(el).color, bg: bg(el) }));
    });
    assert.ok(pairs.length > 10, view);
    for (const p of pairs) {
      const ratio = contrast(p.fg, p.bg);
      assert.ok(ratio >= 4.5, `${view}: "${p.text}" ${p.fg} on ${p.bg} is ${ratio.toFixed(2)}:1`);
    }
  }
  await page.close();
});

test("at 360 px wide nothing scrolls sideways and every view works", async () => {
  await campaign3Active();
  const page = await newPage();
  await page.setViewportSize({ width: 360, height: 740 });
  await signIn(page);
  await page.locator("tbody tr").first().waitFor();
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok((await overflow()) <= 0, "the list fits");
  await page.screenshot({ path: join(SHOTS, "phone.png"), fullPage: false });
  await page.goto(server.base + "/#/campaigns/3");
  await page.getByRole("button", { name: "Pause" }).waitFor();
  assert.ok((await overflow()) <= 0, "the detail fits");
  await page.goto(server.base + "/#/campaigns/3/edit");
  await page.getByRole("button", { name: "Save changes" }).waitFor();
  assert.ok((await overflow()) <= 0, "the form fits");
  await page.close();
});

test("the page only ever calls this server, and never puts the key in a URL", async () => {
  assert.ok(requests.length > 50);
  const keyBodies = [server.full, server.readOnly].map((k) => k.slice(5));
  for (const url of requests) {
    const u = new URL(url);
    assert.ok(u.origin === server.base || u.origin === new URL(server.base).origin
      || url.startsWith("http://127.0.0.1:"), url);
    for (const k of keyBodies) assert.ok(!url.includes(k), `a URL holds a key: ${url}`);
    assert.ok(u.pathname === "/" || u.pathname.startsWith("/page/") || u.pathname.startsWith("/api/v4/"), url);
  }
});

// -------------------------------------------------------------------- run

let failed = 0;
for (const { name, fn } of tests) {
  if (ONLY && !name.includes(ONLY)) continue;
  const started = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n${e.stack}`);
  }
}
await browser.close();
server.child.kill("SIGTERM");
console.log(failed ? `${failed} of ${tests.length} failed` : `all ${tests.length} passed; screenshots in ${SHOTS}`);
if (!option("--screenshots", null)) rmSync(work, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
