// The work queue (GET /api/queue) and the dimension filters of the figures. Loaded after
// app.js, whose helpers ($, el, api, token, askForToken, Unauthorised) it uses.
//
// "My queue": the API has no identities, so the page remembers the caseworker id chosen
// here (localStorage, this browser only) and opens the queue filtered to it. Every tile and
// every count of the clocks table opens the queue behind it (#queue?clock=...&state=...).
"use strict";

const DIMENSION_NAMES = ["team", "caseworker", "setting", "council", "need"];
const QUEUE_FIELDS = [...DIMENSION_NAMES, "clock", "state", "within"];
const QUEUE_PAGE = 25;
const ME_KEY = "sendwatch-my-caseworker";
const QUEUE_COLUMNS = [
  ["case_id", "Case", null],
  ["clock_name", "Clock", "clock"],
  ["started", "Started", null],
  ["due", "Due", "due"],
  ["days_left", "Days left", "late"],
  ["regulation", "Regulation", null],
  ["caseworker", "Caseworker", "caseworker"],
  ["team", "Team", "team"],
  ["setting", "Setting", null],
  ["council", "Council", null],
  ["need", "Need", null],
];
// the queue behind each petition point's tile: its clock, overdue (a point with no clock of
// its own opens every overdue clock)
const POINT_QUEUES = {
  1: { clock: "contact_response", state: "overdue" },
  3: { state: "overdue" },
  4: { clock: "final_plan", state: "overdue" },
  6: { clock: "tribunal_order", state: "overdue" },
  8: { clock: "review_due", state: "overdue" },
};
// values: the queue's filters (the form shows them once its clock choices are known)
const queueState = { sort: "due", order: "asc", offset: 0, values: {} };

function formValues() {
  const form = $("queue-form");
  const values = {};
  for (const name of QUEUE_FIELDS) {
    const value = form.elements[name].value.trim();
    if (value) values[name] = value;
  }
  return values;
}

function queueParams(extra = {}) {
  const params = new URLSearchParams();
  for (const name of QUEUE_FIELDS) {
    const value = queueState.values[name];
    if (value) params.set(name, value);
  }
  for (const [key, value] of Object.entries(extra)) params.set(key, String(value));
  return params;
}

// the dimension filters of the figures (the clocks table): "?team=..." or ""
function dimensionQuery() {
  const form = $("figures-filter");
  if (!form) return "";
  const params = new URLSearchParams();
  for (const name of DIMENSION_NAMES) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

function setQueueForm(values) {
  const form = $("queue-form");
  for (const name of QUEUE_FIELDS) form.elements[name].value = values[name] || "";
  if (!values.within) form.elements.within.value = "28";
}

function fillClockChoices(clocks) {
  const select = $("queue-clock");
  if (select.options.length > 1) return;
  for (const [id, title] of Object.entries(clocks)) select.append(el("option", { value: id, text: title }));
}

function openQueue(values, scroll = true) {
  queueState.values = { ...values };
  queueState.offset = 0;
  const section = $("queue");
  section.hidden = false;
  const hash = `#queue?${queueParams().toString()}`;
  if (window.location.hash !== hash) history.replaceState(null, "", hash);
  loadQueue();
  if (scroll) section.scrollIntoView({ block: "start" });
}

function cell(row, key) {
  const value = row[key];
  if (key === "days_left") {
    return value < 0 ? `${-value} late` : `${value}`;
  }
  return value === null || value === undefined ? "—" : String(value);
}

async function loadQueue() {
  if (!token()) return;
  const params = queueParams({ sort: queueState.sort, order: queueState.order });
  const paged = new URLSearchParams(params);
  paged.set("limit", QUEUE_PAGE);
  paged.set("offset", queueState.offset);
  const csv = new URLSearchParams(params);
  csv.set("format", "csv");
  $("queue-csv").href = `/api/queue?${csv.toString()}`;
  let body;
  try {
    body = await api(`/api/queue?${paged.toString()}`);
  } catch (error) {
    if (error instanceof Unauthorised) return askForToken("The token was not accepted. Enter it again.");
    $("queue-summary").textContent = `Could not load the queue: ${error.message}.`;
    return;
  }
  fillClockChoices(body.clocks);
  setQueueForm(queueState.values);
  const head = el(
    "tr",
    {},
    ...QUEUE_COLUMNS.map(([key, label, sort]) => {
      if (!sort) return el("th", { scope: "col", text: label });
      const current = queueState.sort === sort;
      const th = el("th", {
        scope: "col",
        "aria-sort": current ? (queueState.order === "asc" ? "ascending" : "descending") : "none",
      });
      const button = el("button", { type: "button", class: "link sort", "data-sort": sort, text: label });
      button.addEventListener("click", () => {
        queueState.order = current && queueState.order === "asc" ? "desc" : "asc";
        queueState.sort = sort;
        queueState.offset = 0;
        loadQueue();
      });
      th.append(button);
      return th;
    }),
  );
  const rows = body.rows.map((row) =>
    el(
      "tr",
      { class: `state-${row.state}`, "data-case": row.case_id, "data-clock": row.clock },
      ...QUEUE_COLUMNS.map(([key, label]) => {
        if (key === "case_id") {
          const link = el("a", { href: `#case/${encodeURIComponent(row.case_id)}`, text: row.case_id });
          return el("th", { scope: "row", "data-label": label }, link);
        }
        return el("td", { "data-label": label, class: key === "days_left" ? "num" : "", text: cell(row, key) });
      }),
    ),
  );
  $("queue-table").replaceChildren(
    el("caption", { text: `Open clocks ${describeQueue(body)}, at ${body.now}` }),
    el("thead", {}, head),
    el("tbody", {}, ...rows),
  );
  const last = Math.min(body.offset + body.rows.length, body.total);
  $("queue-summary").textContent = body.total
    ? `${count(body.total)} rows; showing ${count(body.offset + 1)} to ${count(last)}.`
    : "No open clocks match.";
  $("queue").dataset.total = String(body.total);
  $("queue-previous").disabled = body.offset === 0;
  $("queue-next").disabled = last >= body.total;
}

function describeQueue(body) {
  const f = body.filters;
  const state = f.state === "overdue" ? "overdue" : f.state === "due" ? `due within ${body.within} days` : `overdue or due within ${body.within} days`;
  const parts = [state];
  if (f.clock) parts.push(`(${body.clocks[f.clock]})`);
  for (const name of DIMENSION_NAMES) if (f[name]) parts.push(`${name} ${f[name]}`);
  return parts.join(", ");
}

// the page's tables of clocks and cases as cards on a narrow screen: each cell labelled
function labelCells(table) {
  const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
  for (const tr of table.querySelectorAll("tbody tr")) {
    [...tr.children].forEach((cellNode, i) => {
      if (!cellNode.dataset.label && heads[i]) cellNode.dataset.label = heads[i];
    });
  }
}

function clickable(node, values, label) {
  node.classList.add("opens-queue");
  node.setAttribute("role", "link");
  node.setAttribute("tabindex", "0");
  node.setAttribute("title", label);
  node.dataset.queue = new URLSearchParams(values).toString();
}

function markTilesAndCounts() {
  for (const tile of document.querySelectorAll("#tiles [data-point]")) {
    if (tile.dataset.queue !== undefined) continue;
    const values = POINT_QUEUES[tile.dataset.point] || { state: "overdue" };
    clickable(tile, values, "Show the queue behind this figure");
  }
  for (const row of document.querySelectorAll("#clock-rows tr[data-clock]")) {
    const clock = row.dataset.clock;
    const cells = [
      [row.querySelector(".open"), { clock, within: "366" }],
      [row.querySelector(".overdue"), { clock, state: "overdue" }],
      [row.querySelector(".soon"), { clock, state: "due", within: "7" }],
    ];
    for (const [node, values] of cells) {
      if (node && node.dataset.queue === undefined) {
        const dims = Object.fromEntries(new URLSearchParams(dimensionQuery().slice(1)));
        clickable(node, { ...dims, ...values }, "Show these clocks' queue");
      }
    }
  }
}

function openFrom(node) {
  const target = node.closest("[data-queue]");
  if (!target) return false;
  openQueue(Object.fromEntries(new URLSearchParams(target.dataset.queue)));
  return true;
}

function showQueueFromHash() {
  const match = /^#queue\??(.*)$/.exec(window.location.hash);
  if (!match) return;
  openQueue(Object.fromEntries(new URLSearchParams(match[1])), false);
}

function startQueue() {
  const form = $("queue-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    openQueue(formValues(), false);
  });
  form.addEventListener("change", () => openQueue(formValues(), false));
  // signed in after the page opened on a queue: show it now
  $("token-form").addEventListener("submit", () => setTimeout(() => {
    if (!$("queue").hidden) loadQueue();
  }, 0));
  $("queue-previous").addEventListener("click", () => {
    queueState.offset = Math.max(0, queueState.offset - QUEUE_PAGE);
    loadQueue();
  });
  $("queue-next").addEventListener("click", () => {
    queueState.offset += QUEUE_PAGE;
    loadQueue();
  });
  // the CSV link needs the token: fetch it, then save it
  $("queue-csv").addEventListener("click", async (event) => {
    event.preventDefault();
    const link = event.currentTarget;
    const response = await fetch(link.href, { headers: { Authorization: `Bearer ${token()}` } });
    if (!response.ok) return;
    const url = URL.createObjectURL(await response.blob());
    const save = el("a", { href: url, download: "queue.csv" });
    document.body.append(save);
    save.click();
    save.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  const me = $("my-caseworker");
  me.value = localStorage.getItem(ME_KEY) || "";
  $("my-queue").addEventListener("click", () => {
    const id = me.value.trim();
    if (id) localStorage.setItem(ME_KEY, id);
    else localStorage.removeItem(ME_KEY);
    openQueue(id ? { caseworker: id } : {});
  });
  const figures = $("figures-filter");
  figures.addEventListener("submit", (event) => event.preventDefault());
  figures.addEventListener("change", () => {
    for (const node of document.querySelectorAll("#clock-rows [data-queue]")) delete node.dataset.queue;
    lastSeen = null; // app.js fetches the figures again at its next poll
  });
  for (const id of ["tiles", "clock-rows"]) {
    const area = $(id);
    area.addEventListener("click", (event) => openFrom(event.target));
    area.addEventListener("keydown", (event) => {
      if ((event.key === "Enter" || event.key === " ") && openFrom(event.target)) event.preventDefault();
    });
  }
  new MutationObserver(markTilesAndCounts).observe($("main"), { childList: true, subtree: true });
  new MutationObserver(() => {
    for (const table of $("case-result").querySelectorAll("table")) labelCells(table);
  }).observe($("case-result"), { childList: true, subtree: true });
  window.addEventListener("hashchange", showQueueFromHash);
  const remembered = localStorage.getItem(ME_KEY);
  if (/^#queue/.test(window.location.hash)) showQueueFromHash();
  else if (remembered && !window.location.hash) openQueue({ caseworker: remembered }, false);
}

startQueue();
