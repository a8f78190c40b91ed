// The service managers' dashboard: plain JavaScript, no build step, no network beyond this
// service. It asks for the API token once per browser tab (sessionStorage), then polls
// /healthz every second and fetches the figures again whenever an event has been applied
// (and every 30 seconds regardless, so time-driven changes show too).
"use strict";

const POLL_MS = 1000;
const REFRESH_MS = 30000;
const TOKEN_KEY = "sendwatch-token";
const RAG = {
  green: { icon: "✓", cls: "green" },
  amber: { icon: "▲", cls: "amber" },
  red: { icon: "✕", cls: "red" },
  "no data": { icon: "–", cls: "none" },
  "not rated": { icon: "–", cls: "none" },
};

const $ = (id) => document.getElementById(id);
let lastSeen = null;
let lastRefresh = 0;
let refreshing = false;
let trendClock = "final_plan";
let titles = null; // clock id -> title with its limit, from /api/clocks

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function askForToken(message) {
  const dialog = $("token-dialog");
  const error = $("token-error");
  error.hidden = !message;
  error.textContent = message || "";
  if (!dialog.open) dialog.showModal();
  $("token-input").focus();
}

class Unauthorised extends Error {}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (response.status === 401) throw new Unauthorised();
  if (!response.ok) {
    let detail = `${response.status}`;
    try {
      detail = (await response.json()).detail || detail;
    } catch (_) {
      /* not JSON */
    }
    throw new Error(detail);
  }
  return response.json();
}

function count(n) {
  return n.toLocaleString("en-GB");
}

function pct(x) {
  return x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`;
}

function formatValue(unit, value) {
  if (value === null || value === undefined) return "—";
  if (unit === "share") return pct(value);
  if (unit === "days") return `${Math.round(value).toLocaleString("en-GB")} days`;
  return `${Math.round(value).toLocaleString("en-GB")} children`;
}

function formatStandard(point) {
  if (point.target === null || point.floor === null) return "No standard set";
  const f = (v) => formatValue(point.unit, v);
  const word = point.higher_is_better ? "" : " or fewer";
  return `Target ${f(point.target)}${word} · floor ${f(point.floor)}${word}`;
}

function renderTiles(points) {
  const list = $("tiles");
  list.replaceChildren(
    ...points.map((p) => {
      const rag = RAG[p.rag] || RAG["no data"];
      return el(
        "li",
        { class: `tile ${rag.cls}`, "data-point": String(p.point), "data-rag": p.rag },
        el("h3", {}, el("span", { class: "point-number", text: `${p.point}` }), " ", p.asked),
        el("p", { class: "value", text: formatValue(p.unit, p.value) }),
        el(
          "p",
          { class: "rag-label" },
          el("span", { class: `rag ${rag.cls}`, "aria-hidden": "true", text: rag.icon }),
          " ",
          p.status,
        ),
        el("p", { class: "measure", text: p.measure }),
        el("p", { class: "standard", text: formatStandard(p) }),
      );
    }),
  );
}

function renderClocks(measures, titles) {
  const rows = Object.entries(titles).map(([id, title]) => {
    const c = measures[id];
    return el(
      "tr",
      { "data-clock": id },
      el("th", { scope: "row", text: title }),
      el("td", { class: "num open", text: count(c.open) }),
      el(
        "td",
        { class: `num overdue${c.overdue ? " warn" : ""}` },
        c.overdue ? el("span", { class: "flag", "aria-hidden": "true", text: "! " }) : null,
        count(c.overdue),
      ),
      el("td", { class: "num soon", text: count(c.due_within_7_days) }),
      el("td", { class: "num", text: pct(c.rate_excl_exceptions) }),
    );
  });
  $("clock-rows").replaceChildren(...rows);
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderTrend(trend) {
  const months = trend.months;
  const width = 520;
  const height = 190;
  const left = 40;
  const right = 10;
  const top = 10;
  const bottom = 28;
  const x = (i) => left + ((width - left - right) * (i + 0.5)) / months.length;
  const y = (v) => top + (height - top - bottom) * (1 - v);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": "trend-svg-title",
  });
  chart.append(svg("title", { id: "trend-svg-title" }, `${trend.title}: share met each month`));
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    chart.append(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid" }));
    chart.append(svg("text", { x: left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, `${v * 100}%`));
  }
  const partialNote = (m) => {
    const to = new Date(`${m.to}T12:00:00`).toLocaleDateString("en-GB", { day: "numeric", month: "short" });
    return `partial month, to ${to}`;
  };
  months.forEach((m, i) => {
    const label = new Date(`${m.from}T12:00:00`).toLocaleDateString("en-GB", { month: "short" });
    chart.append(svg("text", { x: x(i), y: height - 8, class: "axis", "text-anchor": "middle" }, m.partial ? `${label}*` : label));
  });
  const series = [
    ["rate_incl_exceptions", "incl", "including exceptions"],
    ["rate_excl_exceptions", "excl", "excluding exceptions"],
  ];
  for (const [key, cls, words] of series) {
    let path = "";
    months.forEach((m, i) => {
      const v = m[key];
      if (v === null) return;
      path += `${path && months[i - 1] && months[i - 1][key] !== null ? "L" : "M"}${x(i)},${y(v)}`;
    });
    chart.append(svg("path", { d: path, class: `line ${cls}` }));
    months.forEach((m, i) => {
      if (m[key] === null) return;
      const kind = `mark ${cls}${m.partial ? " partial" : ""}`;
      const mark = cls === "incl"
        ? svg("circle", { cx: x(i), cy: y(m[key]), r: 3.5, class: kind })
        : svg("rect", { x: x(i) - 3, y: y(m[key]) - 3, width: 6, height: 6, class: kind });
      const so = m.partial ? ` (${partialNote(m)})` : "";
      mark.append(svg("title", {}, `${m.month}${so}: ${pct(m[key])} ${words} (${m.on_time} of ${m.completed} on time)`));
      chart.append(mark);
    });
  }
  $("trend-chart").replaceChildren(chart);
  $("trend-caption").replaceChildren(
    el("span", { class: "legend incl", text: "● solid: including exceptions" }),
    " ",
    el("span", { class: "legend excl", text: "■ dashed: excluding exceptions" }),
    ` · ${trend.title}, share met by the month the clock stopped.`,
    ...months.filter((m) => m.partial).map((m) => ` * ${m.month} is a ${partialNote(m)}: not comparable with a whole month.`),
  );
  $("trend-rows").replaceChildren(
    ...months.map((m) =>
      el(
        "tr",
        {},
        el("th", { scope: "row", text: m.partial ? `${m.month} (${partialNote(m)})` : m.month }),
        el("td", { class: "num", text: `${m.completed}` }),
        el("td", { class: "num", text: `${m.on_time}` }),
        el("td", { class: "num", text: pct(m.rate_incl_exceptions) }),
        el("td", { class: "num", text: pct(m.rate_excl_exceptions) }),
      ),
    ),
  );
}

const SEVERITY_ORDER = { page: 0, critical: 1, warning: 2 };
const ALERTS_SHOWN = 20; // a page of alerts
const ALERT_FILTERS = ["severity", "team", "caseworker", "alertname"];
const ALERT_FIELDS = { severity: "alert-severity", team: "alert-team", caseworker: "alert-caseworker", alertname: "alert-name" };
const ALERT_LABELS = ["alertname", "severity", "team", "caseworker", "clock", "case_id", "key", "step", "window"];
let alertOffset = 0;
let silenceList = []; // Alertmanager's active and pending silences, from /api/silences

// The firing alerts, a page at a time, filtered: the service lists the alerts about the whole
// service first (dead letters, a stalled feed, rates), then the gravest, soonest due cases.
function alertQuery() {
  const query = new URLSearchParams({ state: "firing", limit: String(ALERTS_SHOWN), offset: String(alertOffset) });
  for (const name of ALERT_FILTERS) {
    const value = $(ALERT_FIELDS[name]).value.trim();
    if (value) query.set(name, value);
  }
  return `/api/alerts?${query}`;
}

// Whether an Alertmanager silence's matchers all hold for the alert's labels (as Alertmanager
// judges them: a regular expression matches the whole value; a missing label is empty).
function silencedBy(alert) {
  const labels = {};
  for (const name of ALERT_LABELS) if (alert[name] !== null && alert[name] !== undefined) labels[name] = String(alert[name]);
  return silenceList.filter((silence) =>
    (silence.matchers || []).every((m) => {
      const value = labels[m.name] ?? "";
      let holds;
      if (m.isRegex) {
        try {
          holds = new RegExp(`^(?:${m.value})$`).test(value);
        } catch (_) {
          holds = false;
        }
      } else holds = value === m.value;
      return m.isEqual === false ? !holds : holds;
    }),
  );
}

function renderAlerts(answer) {
  const counts = answer.firing;
  const alerts = answer.alerts.filter((a) => (a.state || "firing") === "firing");
  const all = Object.keys(SEVERITY_ORDER).reduce((n, s) => n + (counts[s] || 0), 0);
  const total = answer.total ?? alerts.length;
  const filtered = ALERT_FILTERS.some((name) => $(ALERT_FIELDS[name]).value.trim());
  const summary = $("alerts-summary");
  const bySeverity = Object.keys(SEVERITY_ORDER)
    .filter((s) => counts[s])
    .map((s) => `${count(counts[s])} ${s}`);
  summary.textContent = all
    ? `${count(all)} firing: ${bySeverity.join(", ")}.` + (filtered ? ` ${count(total)} match the filters.` : "")
    : "";
  const pages = Math.max(1, Math.ceil(total / ALERTS_SHOWN));
  const page = Math.floor(alertOffset / ALERTS_SHOWN) + 1;
  $("alerts-page").textContent = total ? `${count(alertOffset + 1)}–${count(alertOffset + alerts.length)} of ${count(total)} (page ${page} of ${pages})` : "";
  $("alerts-prev").disabled = alertOffset === 0;
  $("alerts-next").disabled = alertOffset + ALERTS_SHOWN >= total;
  if (!alerts.length) {
    const words = all ? "No firing alert matches the filters." : "No alerts firing.";
    $("alerts").replaceChildren(el("li", { class: "none", text: words }));
    return;
  }
  $("alerts").replaceChildren(
    ...alerts.map((a) => {
      const severity = a.severity || "warning";
      const text = a.summary || a.description || a.alertname || "Alert";
      const silenced = silencedBy(a);
      const item = el(
        "li",
        { class: `alert ${severity}${silenced.length ? " silenced" : ""}`, "data-alertname": a.alertname || "" },
        el("strong", { class: "severity", text: severity.toUpperCase() }),
        " ",
        text,
      );
      const who = [a.team ? `team ${a.team}` : null, a.caseworker ? `caseworker ${a.caseworker}` : null].filter(Boolean);
      if (who.length) item.append(el("span", { class: "who", text: ` · ${who.join(", ")}` }));
      if (silenced.length) {
        const by = silenced.map((s) => s.createdBy).filter(Boolean).join(", ");
        item.append(" ", el("span", { class: "silenced-mark", text: `silenced${by ? ` by ${by}` : ""}` }));
      }
      if (a.case_id) {
        const link = el("button", { type: "button", class: "link", "aria-label": `Show case ${a.case_id}`, text: "show case" });
        link.addEventListener("click", () => showCase(a.case_id));
        item.append(" · ", link);
      }
      return item;
    }),
  );
}

function matcherText(m) {
  const op = m.isRegex ? (m.isEqual === false ? "!~" : "=~") : m.isEqual === false ? "!=" : "=";
  return `${m.name}${op}"${m.value}"`;
}

function renderSilences(answer) {
  silenceList = answer.silences || [];
  const summary = $("silences-summary");
  if (!answer.configured) {
    summary.textContent = answer.detail || "No Alertmanager is configured.";
    $("silences").replaceChildren();
    return;
  }
  if (answer.detail) {
    summary.textContent = answer.detail;
    $("silences").replaceChildren();
    return;
  }
  summary.textContent = silenceList.length ? "" : "No alert is silenced.";
  $("silences").replaceChildren(
    ...silenceList.map((s) => {
      const until = s.endsAt ? new Date(s.endsAt).toLocaleString("en-GB") : "";
      return el(
        "li",
        { class: `silence ${s.status?.state || ""}` },
        el("code", { text: (s.matchers || []).map(matcherText).join(", ") }),
        ` · ${s.createdBy || "someone"}: ${s.comment || "(no comment)"} · until ${until}`,
        s.status?.state === "pending" ? " (not yet started)" : "",
      );
    }),
  );
}

async function silencesNow() {
  try {
    return await api("/api/silences");
  } catch (error) {
    if (error instanceof Unauthorised) throw error;
    return { configured: true, detail: `Could not read the silences: ${error.message}.`, silences: [] };
  }
}

// the alerts again (a filter or a page changed), without the rest of the figures
async function refreshAlerts() {
  try {
    const [silences, alerts] = await Promise.all([silencesNow(), api(alertQuery())]);
    renderSilences(silences);
    renderAlerts(alerts);
  } catch (error) {
    if (error instanceof Unauthorised) askForToken("The token was not accepted. Enter it again.");
    else $("alerts-summary").textContent = `Could not load the alerts: ${error.message}.`;
  }
}

function wireAlerts() {
  $("alert-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    alertOffset = 0;
    refreshAlerts();
  });
  $("alert-severity").addEventListener("change", () => {
    alertOffset = 0;
    refreshAlerts();
  });
  $("alerts-prev").addEventListener("click", () => {
    alertOffset = Math.max(0, alertOffset - ALERTS_SHOWN);
    refreshAlerts();
  });
  $("alerts-next").addEventListener("click", () => {
    alertOffset += ALERTS_SHOWN;
    refreshAlerts();
  });
}

function stateWords(c) {
  const words = { met: "Met", late: "Late", open: "Open", overdue: "Overdue", cancelled: "Cancelled" }[c.state] || c.state;
  return c.excepted ? `${words} (exception applied)` : words;
}

async function showCase(caseId) {
  const target = $("case-result");
  $("case-input").value = caseId;
  target.replaceChildren(el("p", { text: `Looking up ${caseId}…` }));
  let view;
  try {
    view = await api(`/api/cases/${encodeURIComponent(caseId)}`);
  } catch (error) {
    if (error instanceof Unauthorised) return askForToken("The token was not accepted. Enter it again.");
    target.replaceChildren(el("p", { class: "error", role: "alert", text: `${error.message}.` }));
    return;
  }
  const clocks = el(
    "table",
    { class: "case-clocks" },
    el("caption", { text: `Case ${view.case_id}: clocks at ${view.now}` }),
    el("thead", {}, el("tr", {}, ...["Clock", "Start", "Due", "Stopped", "State", "Regulation"].map((h) => el("th", { scope: "col", text: h })))),
    el(
      "tbody",
      {},
      ...view.clocks.map((c) =>
        el(
          "tr",
          { class: `state-${c.state}` },
          el("th", { scope: "row", text: c.title }),
          el("td", { class: "date", text: c.start }),
          el("td", { class: "date", text: c.due }),
          el("td", { class: "date", text: c.stop || c.cancelled || "" }),
          el("td", { class: "state", text: stateWords(c) }),
          el("td", { text: c.citation }),
        ),
      ),
    ),
  );
  const history = el(
    "table",
    { class: "case-history" },
    el("caption", { text: "History" }),
    el("thead", {}, el("tr", {}, ...["Date", "Event", "Details"].map((h) => el("th", { scope: "col", text: h })))),
    el(
      "tbody",
      {},
      ...view.history.map((e) =>
        el(
          "tr",
          {},
          el("td", { class: "date", text: e.occurred_on }),
          el("td", { text: e.type + (e.retracted ? " (retracted)" : "") }),
          el("td", { text: Object.entries(e.data).map(([k, v]) => `${k}: ${v}`).join(", ") }),
        ),
      ),
    ),
  );
  target.replaceChildren(clocks, history);
}

async function loadClocks() {
  const clocks = await api("/api/clocks");
  titles = {};
  const select = $("trend-clock");
  select.replaceChildren();
  for (const c of clocks.clocks) {
    titles[c.id] = c.label;
    const option = el("option", { value: c.id, text: c.title });
    if (c.id === trendClock) option.selected = true;
    select.append(option);
  }
}

async function refresh() {
  if (refreshing || !token()) return;
  refreshing = true;
  try {
    if (!titles) await loadClocks();
    const [card, measures, alerts, trend, silences] = await Promise.all([
      api("/api/scorecard"),
      api(`/api/measures${typeof dimensionQuery === "function" ? dimensionQuery() : ""}`), // queue.js
      api(alertQuery()),
      api(`/api/trend?clock=${encodeURIComponent(trendClock)}&months=12`),
      silencesNow(),
    ]);
    renderTiles(card.points);
    renderClocks(measures, titles);
    renderSilences(silences);
    renderAlerts(alerts);
    renderTrend(trend);
    $("as-of").textContent = card.now;
    $("period").textContent = `${card.from} to ${card.to}`;
    $("updated").textContent = new Date().toLocaleTimeString("en-GB");
    $("status").textContent = "";
    document.body.dataset.loaded = "true";
    lastRefresh = Date.now();
  } catch (error) {
    if (error instanceof Unauthorised) {
      sessionStorage.removeItem(TOKEN_KEY);
      askForToken("The token was not accepted. Enter it again.");
    } else {
      $("status").textContent = `Could not load the figures: ${error.message}`;
    }
  } finally {
    refreshing = false;
  }
}

async function poll() {
  try {
    const response = await fetch("/healthz", { cache: "no-store" });
    const health = await response.json();
    // alerts_judged_to: the alert process has judged more of the log (new alerts to show)
    const seen = `${health.events}/${health.dead_letters}/${health.position}/${health.now}/${health.alerts_judged_to}`;
    if (seen !== lastSeen || Date.now() - lastRefresh > REFRESH_MS) {
      lastSeen = seen;
      await refresh();
    }
  } catch (error) {
    $("status").textContent = "The service is not answering; retrying.";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

async function start() {
  const select = $("trend-clock");
  const trendForm = $("trend-form");
  trendForm.addEventListener("submit", (event) => event.preventDefault());
  select.addEventListener("change", () => {
    trendClock = select.value;
    lastSeen = null;
  });
  $("token-form").addEventListener("submit", (event) => {
    const value = $("token-input").value.trim();
    if (!value) {
      event.preventDefault();
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token-input").value = "";
    lastSeen = null;
    showCaseFromHash();
  });
  $("token-dialog").addEventListener("cancel", (event) => event.preventDefault());
  $("case-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("case-input").value.trim();
    if (value) showCase(value);
  });
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken();
  });
  wireAlerts();
  // An alert's link to a case (#case/KC-...) opens it here; so does going back to one.
  window.addEventListener("hashchange", showCaseFromHash);
  if (!token()) askForToken();
  else showCaseFromHash();
  poll();
}

function showCaseFromHash() {
  const match = /^#case\/(.+)$/.exec(window.location.hash);
  if (!match) return;
  const caseId = decodeURIComponent(match[1]);
  $("case-input").value = caseId;
  showCase(caseId);
}

start();

// --- DfE's measures, year to date, beside the published figures (GET /api/dfe, /api/published)
const DFE_ROWS = [
  ["timeliness_20_week", "plans_issued", "New EHC plans issued"],
  ["timeliness_20_week", "rate_within_20_weeks", "Plans issued within 20 weeks, including exceptions"],
  ["timeliness_20_week", "rate_within_20_weeks_ex", "Plans issued within 20 weeks, leaving out exceptions"],
  ["timeliness_20_week", "rate_over_20_up_to_52_weeks", "Issued after 20 weeks and within 52"],
  ["timeliness_20_week", "rate_over_52_weeks", "Issued after 52 weeks"],
  ["timeliness_20_week", "average_weeks", "Average weeks from request to plan"],
  ["requests", "rate_decided_within_6_weeks", "Decisions whether to assess within 6 weeks"],
  ["assessments", "rate_not_to_issue_within_16_weeks", "Decisions not to issue a plan within 16 weeks"],
  ["annual_reviews", "rate_decided_within_4_weeks", "Annual review decisions within 4 weeks of the meeting"],
  ["phase_transfers", "rate_finalised_by_deadline", "Phase transfers finalised by the deadline"],
];
let dfeLoaded = 0;

function dfeValue(name, value) {
  if (value === null || value === undefined) return "—";
  if (name.startsWith("rate_")) return pct(value);
  if (name.startsWith("average_")) return `${value.toFixed(1)} weeks`;
  return count(value);
}

function dfePublished(item, area) {
  if (!item) return el("td", { class: "num muted", text: "not published" });
  const figure = item[area];
  if (!figure) return el("td", { class: "num muted", text: area === "neighbours" ? "not configured" : "—" });
  if (figure.value === null) {
    return el("td", { class: "num muted", title: figure.reason || "", text: `not available (${item.year})` });
  }
  const text = item.share ? pct(figure.value) : count(figure.value);
  return el("td", { class: "num", title: figure.note || "", text: `${text} (${item.year})` });
}

function renderDfe(dfe, published) {
  const council = published.council.name || `LA code ${published.council.code}`;
  $("dfe-council-head").textContent = `${council}, published`;
  $("dfe-region-head").textContent = published.region ? `${published.region.name}, published` : "Region, published";
  $("dfe-caption").textContent =
    `DfE's measures for ${dfe.year} to ${dfe.now}: year to date and provisional (DfE counts the whole calendar year), beside the latest figures DfE has published.`;
  $("dfe-rows").replaceChildren(
    ...DFE_ROWS.map(([group, name, label]) => {
      const figure = dfe[group] && dfe[group][name];
      const item = (published.figures[group] || {})[name];
      return el(
        "tr",
        { "data-figure": name },
        el("th", { scope: "row", title: figure ? figure.note : "", text: label }),
        el("td", { class: "num", text: figure ? dfeValue(name, figure.value) : "—" }),
        dfePublished(item, "council"),
        dfePublished(item, "region"),
        dfePublished(item, "england"),
        dfePublished(item, "neighbours"),
      );
    }),
  );
  const neighbours = published.neighbours.length
    ? `the median of ${published.neighbours.length} statistical neighbours`
    : "no statistical neighbours configured (SENDWATCH_NEIGHBOURS)";
  $("dfe-source").textContent =
    `Published: ${published.title} (${published.release}), ${published.licence}; ${neighbours}. Hover a measure for how DfE counts it.`;
}

async function loadDfe() {
  const health = await (await fetch("/healthz", { cache: "no-store" })).json();
  const year = health.now ? Number(String(health.now).slice(0, 4)) : new Date().getFullYear();
  const [dfe, published] = await Promise.all([
    api(`/api/dfe?year=${year}`),
    api(`/api/published?year=${year}`),
  ]);
  renderDfe(dfe, published);
  $("dfe-rows").dataset.loaded = "true";
}

async function dfeLoop() {
  try {
    if (token() && Date.now() - dfeLoaded > REFRESH_MS) {
      dfeLoaded = Date.now();
      await loadDfe();
    }
  } catch (error) {
    dfeLoaded = 0;
    $("dfe-summary").textContent = `Could not load DfE's measures: ${error.message}`;
  } finally {
    setTimeout(dfeLoop, POLL_MS);
  }
}

dfeLoop();
