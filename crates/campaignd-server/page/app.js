// The Campaigns page: a client of the public v4 API and nothing else.
//
// The API key lives in sessionStorage only (it goes when the tab does) and
// is sent as the Bearer header; it is never put in a URL, a log or the
// DOM. Views are addressed by the URL's fragment (#/, #/campaigns/3, ...),
// so a filtered list can be shared without a key in it.

const KEY_SLOT = "campaignd.key";
const PAGE_SIZE = 25;
const LEAD_BATCH = 1000;
const STATUSES = [
  "draft", "active", "paused", "stopping", "completed", "processing",
  "stopped", "auto_paused", "pausing", "auto_pausing", "import_error",
];
const STRATEGIES = ["simple", "predictive_ai"];
// Which actions each status allows (SPEC §8).
const ACTIONS = {
  start: ["draft", "paused", "auto_paused"],
  pause: ["active"],
  stop: ["active", "paused", "auto_paused"],
};
const DELETABLE = ["draft", "stopped", "completed", "import_error"];
const FROZEN = ["pausing", "stopping", "auto_pausing", "processing"];

const main = document.getElementById("main");
const notice = document.getElementById("notice");

// What the signed-in key may do, learnt from the API at sign-in.
let scopes = null;
// The list view's last query, for the detail view's way back.
let lastList = "#/";
// Bumped on every navigation: a view that finds it changed stops drawing.
let viewSeq = 0;
// A notice for the view being navigated to ("Saved."), shown once it draws.
let flash = "";
// Whether the notice is a retry countdown, which a later success clears.
let counting = false;

// ---------------------------------------------------------------- helpers

/** An element: h("p", {class: "x"}, "text", child, ...). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function say(text, kind = "") {
  counting = false;
  notice.textContent = text;
  notice.className = "notice" + (kind ? " " + kind : "");
  notice.hidden = !text;
}

function badge(status) {
  return h("span", { class: "badge " + status }, status.replace(/_/g, " "));
}

function localTime(iso) {
  const d = new Date(iso);
  const text = isNaN(d) ? iso : d.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
  return h("time", { datetime: iso, title: iso }, text);
}

function yesNo(v) {
  return v ? "Yes" : "No";
}

async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    say(`Copied ${what}.`);
  } catch {
    say(`Could not copy; the ${what} is ${text}.`);
  }
}

function idButton(id) {
  return h("button", {
    type: "button", class: "id", "aria-label": `Copy campaign id ${id}`,
    title: "Copy the id", onclick: () => copy(String(id), `campaign id ${id}`),
  }, String(id));
}

function focusHeading() {
  const h1 = main.querySelector("h1");
  if (h1) {
    h1.tabIndex = -1;
    h1.focus();
  }
}

// -------------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/**
 * One API call. 429 and 503 are waited out (the wait shown, then the call
 * sent again: neither changed anything); 401 signs out. Returns
 * {status, body, etag}; throws ApiError for other failures.
 */
async function api(method, path, { body, ifMatch, raw } = {}) {
  const key = sessionStorage.getItem(KEY_SLOT);
  for (let attempt = 1; ; attempt++) {
    const headers = { Authorization: `Bearer ${key}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (ifMatch) headers["If-Match"] = ifMatch;
    let res;
    try {
      res = await fetch("/api/v4" + path, {
        method, headers, cache: "no-store",
        body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, null);
    }
    let parsed = null;
    const text = await res.text();
    if (text) {
      try { parsed = JSON.parse(text); } catch { parsed = null; }
    }
    // A 429 changed nothing, so any call may be sent again; a 503 only says
    // the store was unreachable, which for a write may have been after its
    // commit, so only reads are.
    if ((res.status === 429 || (res.status === 503 && method === "GET")) && attempt <= 5) {
      const wait = Math.max(1, parseInt(res.headers.get("Retry-After") || "1", 10) || 1);
      await countdown(res.status, wait);
      continue;
    }
    if (res.status === 401 && !raw) {
      signOut("Your API key was not accepted (it may have been revoked). Sign in again.");
      throw new ApiError(401, parsed);
    }
    if (res.status >= 400) throw new ApiError(res.status, parsed);
    if (counting) say("");
    return { status: res.status, body: parsed, etag: res.headers.get("ETag") };
  }
}

async function countdown(status, seconds) {
  for (let left = seconds; left > 0; left--) {
    say(status === 429
      ? `Slow down: too many requests. Retrying in ${left} s.`
      : `The service is unavailable. Retrying in ${left} s.`, "error");
    counting = true;
    await sleep(1000);
  }
  say("Retrying…");
  counting = true;
}

/** A failure as a sentence for the page. */
function explain(e) {
  if (!(e instanceof ApiError)) return String(e);
  switch (e.status) {
    case 0: return "Cannot reach campaignd. Check your connection and reload.";
    case 403: return "This API key does not have the scope this needs.";
    case 404: return "Not found: it does not exist, or belongs to another contact center.";
    case 412: return "Changed by someone else — reload to see the current version.";
    case 429: return "Still too many requests; wait a moment and try again.";
    case 503: return "The service is still unavailable; try again shortly.";
    default: {
      const errors = e.body && e.body.errors;
      if (errors) return Object.entries(errors).map(([k, v]) => `${k}: ${v.join(", ")}`).join("; ");
      return `The request failed (HTTP ${e.status}).`;
    }
  }
}

// ---------------------------------------------------------------- sign in

/**
 * Finds what `key` may do by asking the API, with no side effects: null
 * for a key that is not accepted. The calls go one at a time, and a 429 or
 * 503 is waited out: only a definite answer decides a scope.
 */
async function probeScopes(key) {
  const ask = async (method, path, body) => {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch("/api/v4" + path, {
        method, cache: "no-store",
        headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
        body,
      });
      if ((res.status === 429 || res.status === 503) && attempt <= 5) {
        const wait = Math.max(1, parseInt(res.headers.get("Retry-After") || "1", 10) || 1);
        await countdown(res.status, wait);
        continue;
      }
      return res.status;
    }
  };
  const read = await ask("GET", "/campaigns?limit=1");
  if (read === 401) return null;
  const users = await ask("GET", "/users?limit=1");
  // Scope is checked before the body: with campaigns.manage this empty
  // body is a 400, without it a 403, and nothing is created either way.
  const manage = await ask("POST", "/campaigns", "");
  const answers = [read, users, manage];
  if (answers.includes(401)) return null;
  const unclear = answers.find((s) => ![200, 400, 403].includes(s));
  if (unclear) throw new Error(`the service answered ${unclear}`);
  if (counting) say("");
  return { read: read === 200, users: users === 200, manage: manage === 400 };
}

function signOut(message) {
  sessionStorage.removeItem(KEY_SLOT);
  scopes = null;
  showSignIn(message);
}

function showSignIn(message) {
  viewSeq++;
  document.getElementById("who").hidden = true;
  document.getElementById("sign-out").hidden = true;
  say("");
  const error = h("p", { class: "error-text", id: "key-error", role: "alert" }, message || "");
  error.hidden = !message;
  const input = h("input", {
    id: "api-key", name: "api-key", type: "password", autocomplete: "off",
    spellcheck: "false", required: true, "aria-describedby": "key-hint key-error",
  });
  const form = h("form", { class: "panel", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "api-key" }, "API key"),
      input,
      h("p", { class: "hint", id: "key-hint" },
        "Kept in this tab only and sent to this server's API; signing out forgets it.")),
    error,
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.textContent = "Paste an API key to sign in.";
      error.hidden = false;
      input.focus();
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const found = await probeScopes(key);
      if (!found) {
        error.textContent = "That API key was not accepted. Check it and try again.";
        error.hidden = false;
        input.select();
        return;
      }
      sessionStorage.setItem(KEY_SLOT, key);
      input.value = "";
      scopes = found;
      signedIn();
    } catch (e) {
      error.textContent = e instanceof TypeError
        ? "Cannot reach campaignd. Check your connection and try again."
        : `Cannot sign in now: ${e.message}. Try again shortly.`;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(h("section", { class: "signin" }, h("h1", {}, "Sign in"), form));
  input.focus();
}

function signedIn() {
  const who = document.getElementById("who");
  const granted = [scopes.read && "campaigns.read", scopes.manage && "campaigns.manage",
    scopes.users && "users.read"].filter(Boolean);
  who.textContent = granted.length ? `Key scopes: ${granted.join(", ")}` : "Key has no scopes";
  who.hidden = false;
  document.getElementById("sign-out").hidden = false;
  route();
}

// ----------------------------------------------------------------- routing

function parseHash() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = hash.split("?");
  return { path, params: new URLSearchParams(query) };
}

function route() {
  if (!sessionStorage.getItem(KEY_SLOT)) return showSignIn();
  if (!scopes) return; // still probing
  viewSeq++;
  say(flash);
  flash = "";
  const { path, params } = parseHash();
  let m;
  if (path === "/" || path === "") return listView(params);
  if (path === "/new") return formView(null);
  if ((m = path.match(/^\/campaigns\/([1-9][0-9]*)$/))) return detailView(m[1]);
  if ((m = path.match(/^\/campaigns\/([1-9][0-9]*)\/edit$/))) return formView(m[1]);
  main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "All campaigns")));
}

// -------------------------------------------------------------------- list

function listView(params) {
  const seq = viewSeq;
  const state = {
    name: params.get("name") || "",
    status: STATUSES.includes(params.get("status")) ? params.get("status") : "",
    strategy: STRATEGIES.includes(params.get("strategy")) ? params.get("strategy") : "",
    offset: Math.max(0, parseInt(params.get("offset") || "0", 10) || 0),
  };
  const results = h("div", { id: "results" });
  const announce = h("p", { class: "visually-hidden", role: "status" });
  const nameInput = h("input", { id: "f-name", type: "search", value: state.name, autocomplete: "off" });
  const select = (id, values, current) => h("select", { id },
    h("option", { value: "" }, "Any"),
    values.map((v) => h("option", { value: v, selected: v === current }, v.replace(/_/g, " "))));
  const statusSelect = select("f-status", STATUSES, state.status);
  const strategySelect = select("f-strategy", STRATEGIES, state.strategy);
  const filters = h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
    h("div", {}, h("label", { for: "f-name" }, "Name contains"), nameInput),
    h("div", {}, h("label", { for: "f-status" }, "Status"), statusSelect),
    h("div", {}, h("label", { for: "f-strategy" }, "Strategy"), strategySelect));

  const head = h("div", { class: "actions" },
    scopes.manage && h("a", { class: "button", href: "#/new" }, "New campaign"));
  main.replaceChildren(h("h1", {}, "Campaigns"), head, filters, announce, results);

  let fetchSeq = 0;
  const query = () => {
    const q = new URLSearchParams();
    if (state.name) q.set("name", state.name);
    if (state.status) q.set("status", state.status);
    if (state.strategy) q.set("strategy", state.strategy);
    if (state.offset) q.set("offset", state.offset);
    return q;
  };
  const load = async (focusLabel) => {
    // A filter typed just before leaving the list must not rewrite the URL
    // of the view that followed.
    if (seq !== viewSeq) return;
    const q = query();
    const shown = "#/" + (q.toString() ? "?" + q : "");
    lastList = shown;
    if (location.hash !== shown && !(location.hash === "" && shown === "#/")) {
      // The URL follows the filters without a history entry per keystroke.
      history.replaceState(null, "", shown);
    }
    const mine = ++fetchSeq;
    q.set("limit", PAGE_SIZE);
    if (!scopes.read) {
      results.replaceChildren(h("p", { class: "alert" },
        "This API key cannot read campaigns (it lacks the campaigns.read scope)."));
      return;
    }
    results.setAttribute("aria-busy", "true");
    try {
      const { body } = await api("GET", "/campaigns?" + q);
      if (mine !== fetchSeq || seq !== viewSeq) return;
      results.replaceChildren(...listTable(body, state, load));
      const total = body.metadata.total;
      announce.textContent = `${total} campaign${total === 1 ? "" : "s"} found.`;
      refocus(results, focusLabel);
    } catch (e) {
      if (mine !== fetchSeq || seq !== viewSeq || (e instanceof ApiError && e.status === 401)) return;
      results.replaceChildren(h("p", { class: "alert error", role: "alert" }, explain(e)),
        h("button", { type: "button", class: "secondary", onclick: load }, "Try again"));
    } finally {
      results.removeAttribute("aria-busy");
    }
  };
  let debounce;
  nameInput.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      state.name = nameInput.value.trim();
      state.offset = 0;
      load();
    }, 250);
  });
  statusSelect.addEventListener("change", () => { state.status = statusSelect.value; state.offset = 0; load(); });
  strategySelect.addEventListener("change", () => { state.strategy = strategySelect.value; state.offset = 0; load(); });
  load();
  focusHeading();
}

function listTable(body, state, reload) {
  const total = body.metadata.total;
  const rows = body.campaigns;
  if (rows.length === 0) {
    const filtered = state.name || state.status || state.strategy;
    return [h("div", { class: "empty" },
      h("p", {}, filtered ? "No campaigns match these filters." : "No campaigns yet."),
      filtered && h("a", { href: "#/", class: "button secondary" }, "Clear filters"),
      !filtered && scopes.manage && h("a", { href: "#/new", class: "button" }, "Create the first"))];
  }
  const table = h("table", { class: "cards" },
    h("caption", { class: "count" },
      `${total} campaign${total === 1 ? "" : "s"}`),
    h("thead", {}, h("tr", {},
      ["ID", "Name", "Status", "Strategy", "Dial level", "Updated"].map((t) =>
        h("th", { scope: "col", class: t === "Dial level" ? "num" : "" }, t)))),
    h("tbody", {}, rows.map((c) => h("tr", {},
      h("td", { "data-label": "ID" }, idButton(c.id)),
      h("td", { "data-label": "Name" }, h("a", { href: `#/campaigns/${c.id}` }, c.name)),
      h("td", { "data-label": "Status" }, badge(c.status)),
      h("td", { "data-label": "Strategy" }, c.strategy.replace(/_/g, " ")),
      h("td", { "data-label": "Dial level", class: "num" }, String(c.dial_level)),
      h("td", { "data-label": "Updated" }, localTime(c.updated_at))))));
  return [table, pager(total, state.offset, (offset, label) => { state.offset = offset; reload(label); })];
}

function pager(total, offset, go) {
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + PAGE_SIZE, total);
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("span", { class: "count" }, `${first}–${last} of ${total}`),
    h("button", { type: "button", class: "secondary", disabled: offset === 0,
      onclick: () => go(Math.max(0, offset - PAGE_SIZE), "Previous") }, "Previous"),
    h("button", { type: "button", class: "secondary", disabled: last >= total,
      onclick: () => go(offset + PAGE_SIZE, "Next") }, "Next"));
}

/** After a redraw, focus goes back to the pager button that was pressed
 * (or its twin, if it is now disabled), not to the page's start. */
function refocus(container, label) {
  if (!label) return;
  const buttons = [...container.querySelectorAll(".pager button")];
  const target = buttons.find((b) => b.textContent === label && !b.disabled)
    || buttons.find((b) => !b.disabled);
  target?.focus();
}

// ------------------------------------------------------------------ detail

async function detailView(id) {
  const seq = viewSeq;
  main.replaceChildren(h("p", { "aria-busy": "true" }, "Loading…"));
  if (!scopes.read) {
    main.replaceChildren(h("h1", {}, `Campaign ${id}`),
      h("p", { class: "alert" }, "This API key cannot read campaigns (it lacks the campaigns.read scope)."));
    return;
  }
  let res;
  try {
    res = await api("GET", `/campaigns/${id}`);
  } catch (e) {
    if (seq !== viewSeq || e.status === 401) return;
    main.replaceChildren(h("h1", {}, `Campaign ${id}`),
      h("p", { class: "alert error", role: "alert" }, explain(e)),
      h("a", { href: lastList }, "All campaigns"));
    focusHeading();
    return;
  }
  if (seq !== viewSeq) return;
  const c = res.body.campaign;
  const actionBar = h("div", { class: "actions", id: "actions" });
  const message = h("div", { id: "action-message", "aria-live": "polite" });
  const fields = h("dl", { class: "fields" });
  const header = h("div", {},
    h("p", {}, h("a", { href: lastList }, "← All campaigns")),
    h("h1", {}, c.name),
    h("p", {}, "ID ", idButton(c.id), " ", h("span", { id: "status" }, badge(c.status))));
  const draw = (campaign) => {
    header.querySelector("h1").textContent = campaign.name;
    header.querySelector("#status").replaceChildren(badge(campaign.status));
    fields.replaceChildren(...campaignFields(campaign));
    actionBar.replaceChildren(...campaignActions(campaign, draw, message));
  };
  draw(c);
  const users = h("section", { "aria-labelledby": "users-h" });
  const leads = h("section", { "aria-labelledby": "leads-h" });
  main.replaceChildren(header, actionBar, message,
    h("section", { class: "panel", "aria-labelledby": "fields-h" },
      h("h2", { id: "fields-h" }, "Settings"), fields),
    users, leads);
  focusHeading();
  usersSection(users, c.id, seq);
  leadsSection(leads, c.id, seq);
}

function campaignFields(c) {
  const row = (label, value) => [h("dt", {}, label), h("dd", {}, value)];
  const override = c.dial_level_override;
  const vm = c.amd_voicemail_message;
  return [
    row("Strategy", c.strategy.replace(/_/g, " ")),
    row("Dial level", String(c.dial_level)),
    row("Dial level override", override
      ? `${override.enabled ? "Enabled" : "Disabled"}: level ${override.value} from ${override.active_agents_threshold} active agent${override.active_agents_threshold === 1 ? "" : "s"}`
      : "None"),
    row("Max dial time", `${c.max_dial_time} s`),
    row("Max wait time", `${c.max_wait_time} s`),
    row("Max dial attempts", String(c.max_dial_attempts)),
    row("Answering machine detection", yesNo(c.amd_enabled)),
    row("Voicemail message", vm
      ? `${vm.enabled ? "Enabled" : "Disabled"}, ${vm.voice_message ? `message “${vm.voice_message.name}”` : "no message chosen"}`
      : "None"),
    row("Caller ID sets", c.caller_id_sets.length === 0 ? "None"
      : h("ol", { class: "sets" }, c.caller_id_sets.map((set) =>
        h("li", { class: "numbers" }, set.phone_numbers.join(", "))))),
    row("Local caller ID", yesNo(c.use_local_caller_id)),
    row("ASR optimization", yesNo(c.asr_optimization_enabled)),
    row("Follow-up mode", c.follow_up_mode || "None"),
    row("Created", localTime(c.created_at)),
    row("Updated", localTime(c.updated_at)),
  ].flat();
}

function campaignActions(c, redraw, message) {
  if (!scopes.manage) return [];
  const act = (action, label, cls) => ACTIONS[action].includes(c.status) &&
    h("button", { type: "button", class: cls, onclick: async (ev) => {
      if (action === "stop" && !confirm(`Stop campaign ${c.id} “${c.name}”? A stopped campaign cannot be started again.`)) return;
      ev.target.disabled = true;
      try {
        const { body } = await api("POST", `/campaigns/${c.id}/${action}`);
        redraw(body);
        message.replaceChildren(h("p", { class: "alert ok" }, `${label}: the campaign is ${body.status.replace(/_/g, " ")}.`));
        document.querySelector("#actions button")?.focus();
      } catch (e) {
        if (e.status === 401) return;
        message.replaceChildren(h("p", { class: "alert error", role: "alert" }, explain(e)));
        ev.target.disabled = false;
      }
    } }, label);
  return [
    act("start", "Start", ""),
    act("pause", "Pause", ""),
    act("stop", "Stop", "danger"),
    !FROZEN.includes(c.status) && h("a", { class: "button secondary", href: `#/campaigns/${c.id}/edit` }, "Edit"),
    DELETABLE.includes(c.status) && h("button", { type: "button", class: "secondary", onclick: async () => {
      if (!confirm(`Delete campaign ${c.id} “${c.name}”? This cannot be undone.`)) return;
      try {
        await api("DELETE", `/campaigns/${c.id}`);
        flash = `Deleted campaign ${c.id}.`;
        location.hash = lastList;
      } catch (e) {
        if (e.status !== 401) message.replaceChildren(h("p", { class: "alert error", role: "alert" }, explain(e)));
      }
    } }, "Delete"),
  ].filter(Boolean);
}

// ------------------------------------------------------------------- users

function usersSection(section, id, seq) {
  const list = h("div");
  const assign = h("div");
  section.replaceChildren(h("h2", { id: "users-h" }, "Users"), list, assign);
  // The center's users, fetched once per view (up to a thousand).
  let centerUsers = null;
  let loads = 0;
  const load = async (offset, focusLabel) => {
    const mine = ++loads;
    try {
      const { body } = await api("GET", `/campaigns/${id}/users?limit=${PAGE_SIZE}&offset=${offset}`);
      if (seq !== viewSeq || mine !== loads) return;
      if (body.users.length === 0) {
        list.replaceChildren(h("p", { class: "empty" }, "No users are assigned."));
      } else {
        list.replaceChildren(h("table", { class: "cards" },
          h("thead", {}, h("tr", {}, ["ID", "Name", "Email", scopes.manage ? "Assignment" : null]
            .filter(Boolean).map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, body.users.map((u) => h("tr", {},
            h("td", { "data-label": "ID" }, String(u.id)),
            h("td", { "data-label": "Name" }, u.name),
            h("td", { "data-label": "Email" }, u.email),
            scopes.manage && h("td", { "data-label": "Assignment" },
              h("button", { type: "button", class: "secondary", "aria-label": `Unassign ${u.name}`,
                onclick: async () => {
                  try {
                    await api("DELETE", `/campaigns/${id}/users/${u.id}`);
                    say(`Unassigned ${u.name}.`);
                    // Back a page if this one is now empty.
                    const back = body.users.length === 1 && offset > 0 ? offset - PAGE_SIZE : offset;
                    load(back, "Unassign");
                  } catch (e) {
                    if (e.status !== 401) say(explain(e), "error");
                  }
                } }, "Unassign")))))),
        pager(body.metadata.total, offset, (next, label) => load(next, label)));
      }
      if (focusLabel === "Unassign") {
        (list.querySelector("tbody button") || section.querySelector("h2")).focus();
      } else {
        refocus(list, focusLabel);
      }
      if (scopes.manage && scopes.users) {
        centerUsers ??= await everyPage("/users", "users");
        const assigned = new Set((await everyPage(`/campaigns/${id}/users`, "users")).map((u) => u.id));
        if (seq !== viewSeq || mine !== loads) return;
        assignForm(assign, id, centerUsers.filter((u) => !assigned.has(u.id)), () => load(offset));
      }
    } catch (e) {
      if (seq === viewSeq && e.status !== 401) list.replaceChildren(h("p", { class: "alert error" }, explain(e)));
    }
  };
  load(0);
}

/** Every item of a paged list, a hundred at a time, up to a thousand. */
async function everyPage(path, key) {
  const items = [];
  for (let total = 1; items.length < Math.min(total, 1000);) {
    const { body } = await api("GET", `${path}?limit=100&offset=${items.length}`);
    items.push(...body[key]);
    total = body.metadata.total;
    if (body[key].length === 0) break;
  }
  return items;
}

function assignForm(container, id, free, done) {
  if (free.length === 0) {
    container.replaceChildren();
    return;
  }
  const picker = h("select", { id: "assign-users", multiple: true, size: Math.min(6, free.length) },
    free.map((u) => h("option", { value: u.id }, `${u.name} <${u.email}>`)));
  const error = h("p", { class: "error-text", role: "alert" });
  const form = h("form", { class: "panel" },
    h("div", { class: "field" },
      h("label", { for: "assign-users" }, "Assign users"),
      picker,
      h("p", { class: "hint" }, "Choose one or more of the contact center's users.")),
    error,
    h("button", { type: "submit" }, "Assign"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ids = [...picker.selectedOptions].map((o) => Number(o.value));
    if (ids.length === 0) {
      error.textContent = "Choose at least one user.";
      return;
    }
    try {
      const { body } = await api("POST", `/campaigns/${id}/users`, { body: { user_ids: ids } });
      say(`Assigned ${body.added_users.length} user${body.added_users.length === 1 ? "" : "s"}.`);
      done();
    } catch (e) {
      if (e.status !== 401) error.textContent = explain(e);
    }
  });
  container.replaceChildren(form);
}

// ------------------------------------------------------------------- leads

function leadsSection(section, id, seq) {
  const list = h("div");
  const importer = h("div");
  section.replaceChildren(h("h2", { id: "leads-h" }, "Leads"), list, importer);
  let loads = 0;
  const load = async (offset, focusLabel) => {
    const mine = ++loads;
    try {
      const { body } = await api("GET", `/campaigns/${id}/leads?limit=${PAGE_SIZE}&offset=${offset}`);
      if (seq !== viewSeq || mine !== loads) return;
      if (body.leads.length === 0) {
        list.replaceChildren(h("p", { class: "empty" }, "No leads yet."));
        return;
      }
      list.replaceChildren(h("table", { class: "cards" },
        h("thead", {}, h("tr", {}, ["Phone number", "Name", "Priority", "Active"].map((t) =>
          h("th", { scope: "col" }, t)))),
        h("tbody", {}, body.leads.map((l) => h("tr", {},
          h("td", { "data-label": "Phone number", class: "numbers" }, l.phone_number),
          h("td", { "data-label": "Name" }, l.name ?? ""),
          h("td", { "data-label": "Priority" }, String(l.priority)),
          h("td", { "data-label": "Active" }, yesNo(l.active)))))),
      pager(body.metadata.total, offset, (next, label) => load(next, label)));
      refocus(list, focusLabel);
    } catch (e) {
      if (seq === viewSeq && e.status !== 401) list.replaceChildren(h("p", { class: "alert error" }, explain(e)));
    }
  };
  load(0);
  if (scopes.manage) importForm(importer, id, () => load(0));
}

function importForm(container, id, done) {
  const file = h("input", { id: "lead-file", type: "file", accept: ".csv,.ndjson,.jsonl,.json,text/csv,application/json" });
  const progress = h("progress", { id: "import-progress", max: 1, value: 0, "aria-label": "Import progress" });
  progress.hidden = true;
  const status = h("p", { id: "import-status", role: "status" });
  const form = h("form", { class: "panel" },
    h("div", { class: "field" },
      h("label", { for: "lead-file" }, "Import leads"),
      file,
      h("p", { class: "hint" },
        "CSV with a header row (phone_number, name, priority, active, source_system, source_url, X-… headers), or NDJSON / a JSON array of lead objects. Sent in batches of 1,000.")),
    progress, status,
    h("button", { type: "submit" }, "Import"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const chosen = file.files[0];
    if (!chosen) {
      status.textContent = "Choose a file first.";
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      let leads;
      try {
        leads = parseLeads(await chosen.text(), chosen.name);
      } catch (e) {
        status.textContent = `Cannot read ${chosen.name}: ${e.message}`;
        return;
      }
      if (leads.length === 0) {
        status.textContent = `${chosen.name} holds no leads.`;
        return;
      }
      const totals = { created: 0, rejected: 0, duplicates: 0 };
      const batches = Math.ceil(leads.length / LEAD_BATCH);
      progress.hidden = false;
      progress.max = leads.length;
      progress.value = 0;
      for (let b = 0; b < batches; b++) {
        const batch = leads.slice(b * LEAD_BATCH, (b + 1) * LEAD_BATCH);
        status.textContent = `Sending batch ${b + 1} of ${batches}…`;
        let result;
        for (let attempt = 1; ; attempt++) {
          try {
            result = (await api("POST", `/campaigns/${id}/leads`, { body: batch })).body.leads_import;
            break;
          } catch (e) {
            // Another import into this campaign: wait for it, as the CLI does.
            if (e.status === 409 && e.body?.errors?.campaign && attempt < 5) {
              status.textContent = `Another import is running; retrying batch ${b + 1} in 2 s…`;
              await sleep(2000);
              continue;
            }
            if (e.status === 401) return;
            status.textContent = `Batch ${b + 1} of ${batches} was refused: ${explain(e)}. `
              + `Earlier batches stand: ${summary(totals)}.`;
            return;
          }
        }
        totals.created += result.created.length;
        totals.rejected += result.rejected.length;
        totals.duplicates += result.duplicates.length;
        progress.value = Math.min(leads.length, (b + 1) * LEAD_BATCH);
      }
      status.textContent = `Imported ${leads.length} lead${leads.length === 1 ? "" : "s"}: ${summary(totals)}.`;
      done();
    } finally {
      button.disabled = false;
    }
  });
  container.replaceChildren(form);
}

function summary(t) {
  return `${t.created} created, ${t.rejected} rejected, ${t.duplicates} duplicates`;
}

/** Leads from a file: CSV as `campaignd import-leads` reads it, or JSON. */
function parseLeads(text, name) {
  const trimmed = text.replace(/^\uFEFF/, "").trim();
  const json = /\.(ndjson|jsonl|json)$/i.test(name) || /^[[{]/.test(trimmed);
  if (json) {
    if (trimmed.startsWith("[")) return JSON.parse(trimmed);
    return trimmed.split(/\r?\n/).filter((l) => l.trim()).map((l, i) => {
      try { return JSON.parse(l); } catch { throw new Error(`line ${i + 1} is not JSON`); }
    });
  }
  const records = parseCsv(trimmed);
  const header = records.shift()?.cells || [];
  const columns = header.map((c) => c.trim());
  const known = ["phone_number", "name", "priority", "active", "source_system", "source_url"];
  const unknown = columns.map((c, i) => (known.includes(c) || /^x-./i.test(c) ? null : i + 1)).filter(Boolean);
  if (unknown.length) throw new Error(`the header row names unknown column(s) at position ${unknown.join(", ")}`);
  if (!columns.includes("phone_number")) throw new Error("the header row has no phone_number column");
  return records.map(({ cells: r, line }) => {
    if (r.length !== columns.length) throw new Error(`line ${line} has ${r.length} cells, the header ${columns.length}`);
    const lead = {};
    const source = {};
    const headers = {};
    columns.forEach((col, i) => {
      const cell = r[i].trim();
      if (!cell) return;
      if (col === "priority") lead.priority = /^-?\d+$/.test(cell) ? Number(cell) : cell;
      else if (col === "active") {
        const v = cell.toLowerCase();
        lead.active = ["true", "yes", "1"].includes(v) ? true : ["false", "no", "0"].includes(v) ? false : cell;
      } else if (col === "source_system") source.system = cell;
      else if (col === "source_url") source.url = cell;
      else if (col.startsWith("X-") || col.startsWith("x-")) headers[col] = cell;
      else lead[col] = cell;
    });
    if (Object.keys(source).length) lead.source = source;
    if (Object.keys(headers).length) lead.context_headers = headers;
    return lead;
  });
}

/**
 * CSV as the `csv` crate reads it for `campaignd import-leads`: a cell
 * that starts with `"` is quoted (and may hold commas, `""` and newlines);
 * a `"` elsewhere is a character like any other; lines with nothing on
 * them are skipped. Each record comes with the line it starts on.
 */
function parseCsv(text) {
  const records = [];
  let row = [];
  let cell = "";
  let quoted = false;
  let fresh = true; // nothing read yet of the current cell
  let line = 1;
  let start = 1;
  const endRecord = () => {
    row.push(cell);
    if (!(row.length === 1 && row[0] === "")) records.push({ cells: row, line: start });
    row = [];
    cell = "";
    fresh = true;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (ch === '"') quoted = false;
      else {
        if (ch === "\n") line++;
        cell += ch;
      }
    } else if (ch === '"' && fresh) { quoted = true; fresh = false; }
    else if (ch === ",") { row.push(cell); cell = ""; fresh = true; }
    else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      endRecord();
      line++;
      start = line;
    } else { cell += ch; fresh = false; }
  }
  if (quoted) throw new Error(`the quoted cell opened on line ${start} is never closed`);
  endRecord();
  return records;
}

// ------------------------------------------------------------ edit, create

/** The form's fields: [key, label, kind, options]. */
const FORM = [
  ["name", "Name", "text"],
  ["strategy", "Strategy", "select", STRATEGIES],
  ["dial_level", "Dial level", "number", { step: "any", hint: "More than 0, at most 10." }],
  ["max_dial_time", "Max dial time (s)", "number", { step: 1, hint: "1–600 seconds." }],
  ["max_wait_time", "Max wait time (s)", "number", { step: 1, hint: "0–600 seconds." }],
  ["max_dial_attempts", "Max dial attempts", "number", { step: 1, hint: "1–100." }],
  ["follow_up_mode", "Follow-up mode", "select", ["", "timer"]],
  ["amd_enabled", "Answering machine detection", "checkbox"],
  ["use_local_caller_id", "Use local caller ID", "checkbox"],
  ["asr_optimization_enabled", "ASR optimization", "checkbox"],
];

function fieldId(key) {
  return "e-" + key.replace(/[^a-z0-9]+/gi, "-");
}

function inputFor([key, label, kind, opt], value) {
  const id = fieldId(key);
  const describedBy = `${id}-error` + (opt?.hint ? ` ${id}-hint` : "");
  let input;
  if (kind === "select") {
    input = h("select", { id, name: key, "aria-describedby": describedBy },
      opt.map((v) => h("option", { value: v, selected: (value ?? "") === v }, v ? v.replace(/_/g, " ") : "None")));
  } else if (kind === "checkbox") {
    input = h("input", { id, name: key, type: "checkbox", checked: !!value, "aria-describedby": describedBy });
    return h("div", { class: "field", "data-field": key },
      h("label", { class: "check", for: id }, input, label),
      h("p", { class: "error", id: `${id}-error`, hidden: true }));
  } else {
    input = h("input", { id, name: key, type: kind === "number" ? "number" : "text",
      step: opt?.step, value: value ?? "", "aria-describedby": describedBy, required: key === "name" });
  }
  return h("div", { class: "field", "data-field": key },
    h("label", { for: id }, label), input,
    opt?.hint && h("p", { class: "hint", id: `${id}-hint` }, opt.hint),
    h("p", { class: "error", id: `${id}-error`, hidden: true }));
}

function numberOr(text) {
  if (text.trim() === "") return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : text;
}

/** What the form says, in the campaign object's shape. */
function readForm(form, creating) {
  const v = (key) => form.querySelector(`#${fieldId(key)}`);
  const out = {};
  for (const [key, , kind] of FORM) {
    const el = v(key);
    if (kind === "checkbox") out[key] = el.checked;
    else if (kind === "number") out[key] = numberOr(el.value);
    else if (key === "follow_up_mode") out[key] = el.value || null;
    else out[key] = el.value;
  }
  out.dial_level_override = v("override").checked ? {
    enabled: v("dial_level_override.enabled").checked,
    value: numberOr(v("dial_level_override.value").value),
    active_agents_threshold: numberOr(v("dial_level_override.active_agents_threshold").value),
  } : null;
  out.amd_voicemail_message = v("voicemail").checked ? {
    enabled: v("amd_voicemail_message.enabled").checked,
    voice_message: v("amd_voicemail_message.voice_message").value.trim()
      ? { type: "voice_message", name: v("amd_voicemail_message.voice_message").value.trim() }
      : null,
  } : null;
  out.caller_id_sets = v("caller_id_sets").value.split(/\n/).map((line) => line.trim()).filter(Boolean)
    .map((line) => ({ phone_numbers: line.split(/[\s,;]+/).filter(Boolean) }));
  if (creating) {
    out.live = v("live").checked;
    const method = v("method").value.trim();
    out.method = method || null;
  }
  return out;
}

async function formView(id) {
  const seq = viewSeq;
  const creating = id === null;
  if (!scopes.manage) {
    main.replaceChildren(h("h1", {}, creating ? "New campaign" : "Edit campaign"),
      h("p", { class: "alert" }, "This API key cannot change campaigns (it lacks the campaigns.manage scope)."));
    return;
  }
  let original = null;
  let etag = null;
  if (!creating) {
    try {
      const res = await api("GET", `/campaigns/${id}`);
      original = res.body.campaign;
      etag = res.etag;
    } catch (e) {
      if (seq !== viewSeq || e.status === 401) return;
      main.replaceChildren(h("h1", {}, "Edit campaign"), h("p", { class: "alert error", role: "alert" }, explain(e)));
      return;
    }
    if (seq !== viewSeq) return;
  }
  const c = original || { strategy: "simple", dial_level: 1, max_dial_time: 60, max_wait_time: 5,
    max_dial_attempts: 3, caller_id_sets: [], dial_level_override: null, amd_voicemail_message: null };
  const o = c.dial_level_override;
  const vm = c.amd_voicemail_message;
  const sub = (key, label, kind, value, hint) => inputFor([key, label, kind, hint ? { hint, step: "any" } : { step: "any" }], value);
  const summaryBox = h("div", { id: "form-summary", tabindex: "-1" });
  const form = h("form", { class: "panel", novalidate: true },
    summaryBox,
    h("div", { class: "grid" }, FORM.map((f) => inputFor(f, c[f[0]]))),
    h("fieldset", { "data-field": "dial_level_override" },
      h("legend", {}, "Dial level override"),
      h("label", { class: "check", for: fieldId("override") },
        h("input", { id: fieldId("override"), type: "checkbox", checked: !!o }), "Set an override"),
      h("div", { class: "grid" },
        sub("dial_level_override.enabled", "Override enabled", "checkbox", o?.enabled ?? true),
        sub("dial_level_override.value", "Override level", "number", o?.value ?? "", "More than 0, at most 10."),
        sub("dial_level_override.active_agents_threshold", "From active agents", "number", o?.active_agents_threshold ?? "", "1 or more.")),
      h("p", { class: "error", id: `${fieldId("dial_level_override")}-error`, hidden: true })),
    h("fieldset", { "data-field": "amd_voicemail_message" },
      h("legend", {}, "Voicemail message"),
      h("label", { class: "check", for: fieldId("voicemail") },
        h("input", { id: fieldId("voicemail"), type: "checkbox", checked: !!vm }), "Set voicemail message settings"),
      h("div", { class: "grid" },
        sub("amd_voicemail_message.enabled", "Message enabled", "checkbox", vm?.enabled ?? true),
        sub("amd_voicemail_message.voice_message", "Voice message name", "text", vm?.voice_message?.name ?? "", "Empty for none.")),
      h("p", { class: "error", id: `${fieldId("amd_voicemail_message")}-error`, hidden: true })),
    h("div", { class: "field", "data-field": "caller_id_sets" },
      h("label", { for: fieldId("caller_id_sets") }, "Caller ID sets"),
      h("textarea", { id: fieldId("caller_id_sets"), rows: 3, class: "numbers",
        "aria-describedby": `${fieldId("caller_id_sets")}-hint ${fieldId("caller_id_sets")}-error` },
        c.caller_id_sets.map((s) => s.phone_numbers.join(", ")).join("\n")),
      h("p", { class: "hint", id: `${fieldId("caller_id_sets")}-hint` },
        "One set per line; numbers of 7–15 digits, country code first, separated by commas."),
      h("p", { class: "error", id: `${fieldId("caller_id_sets")}-error`, hidden: true })),
    creating && h("div", { class: "grid" },
      inputFor(["live", "Live (takes leads through the API)", "checkbox"], false),
      inputFor(["method", "Dialing method", "text", { hint: "Optional, for example power." }], "")),
    h("div", { class: "actions" },
      h("button", { type: "submit" }, creating ? "Create campaign" : "Save changes"),
      h("a", { class: "button secondary", href: creating ? lastList : `#/campaigns/${id}` }, "Cancel")));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form, summaryBox);
    const values = readForm(form, creating);
    let patch = values;
    if (!creating) {
      patch = {};
      for (const [k, v] of Object.entries(values)) {
        if (JSON.stringify(v) !== JSON.stringify(original[k])) patch[k] = v;
      }
      if (Object.keys(patch).length === 0) {
        summaryBox.replaceChildren(h("p", { class: "alert" }, "Nothing has changed."));
        return;
      }
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const res = creating
        ? await api("POST", "/campaigns", { body: patch })
        : await api("PATCH", `/campaigns/${id}`, { body: patch, ifMatch: etag });
      flash = creating ? `Created campaign ${res.body.campaign.id}.` : "Saved.";
      location.hash = `#/campaigns/${res.body.campaign.id}`;
    } catch (e) {
      if (e.status === 401) return;
      if (e.status === 422 && e.body?.errors) showErrors(form, summaryBox, e.body.errors);
      else if (e.status === 412) {
        summaryBox.replaceChildren(h("div", { class: "alert error", role: "alert" },
          h("p", {}, "Changed by someone else — reload to see their changes. Your edits here would overwrite them, so they were not saved."),
          h("button", { type: "button", class: "secondary", onclick: () => formView(id) }, "Reload")));
        summaryBox.focus();
      } else {
        summaryBox.replaceChildren(h("p", { class: "alert error", role: "alert" }, explain(e)));
        summaryBox.focus();
      }
    } finally {
      button.disabled = false;
    }
  });
  main.replaceChildren(
    h("p", {}, h("a", { href: creating ? lastList : `#/campaigns/${id}` }, creating ? "← All campaigns" : "← Back to the campaign")),
    h("h1", {}, creating ? "New campaign" : `Edit ${c.name}`),
    form);
  focusHeading();
}

function clearErrors(form, summaryBox) {
  summaryBox.replaceChildren();
  for (const el of form.querySelectorAll(".field.invalid, fieldset.invalid")) el.classList.remove("invalid");
  for (const el of form.querySelectorAll(".error")) { el.hidden = true; el.textContent = ""; }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/** Puts each 422 message beside its field, and lists them all on top. */
function showErrors(form, summaryBox, errors) {
  const items = [];
  for (const [key, messages] of Object.entries(errors)) {
    // Nested keys (dial_level_override.value) have a field of their own,
    // or fall back to their object's.
    let target = key;
    while (target && !form.querySelector(`#${fieldId(target)}-error`)) {
      target = target.includes(".") ? target.slice(0, target.lastIndexOf(".")) : "";
    }
    const text = messages.join("; ");
    if (target) {
      const error = form.querySelector(`#${fieldId(target)}-error`);
      error.textContent = (error.textContent ? error.textContent + "; " : "") + text;
      error.hidden = false;
      error.closest(".field, fieldset")?.classList.add("invalid");
      form.querySelector(`#${fieldId(target)}`)?.setAttribute("aria-invalid", "true");
    }
    items.push(h("li", {}, target
      ? h("a", { href: `#${fieldId(target)}`, onclick: (e) => { e.preventDefault(); form.querySelector(`#${fieldId(target)}`)?.focus(); } }, `${key}: ${text}`)
      : `${key}: ${text}`));
  }
  summaryBox.replaceChildren(h("div", { class: "alert error", role: "alert" },
    h("p", {}, "The campaign was not saved:"), h("ul", {}, items)));
  summaryBox.focus();
}

// ------------------------------------------------------------------ start

document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", route);

(async () => {
  const key = sessionStorage.getItem(KEY_SLOT);
  if (!key) return showSignIn();
  main.replaceChildren(h("p", { "aria-busy": "true" }, "Signing in…"));
  try {
    scopes = await probeScopes(key);
  } catch {
    main.replaceChildren(h("p", { class: "alert error" }, "Cannot reach campaignd. Reload to try again."));
    return;
  }
  if (!scopes) return signOut("Your API key was not accepted (it may have been revoked). Sign in again.");
  signedIn();
})();
