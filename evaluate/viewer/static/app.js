// qwen-evaluate viewer. Every piece of run data is put in the page as text (textContent,
// createTextNode), never as markup; control characters are shown as visible symbols.
"use strict";
(function () {
  const STATIC = !!(window.EVALUATE_DATA && window.EVALUATE_DATA.runs);
  const PAGE = 50;
  const VERDICTS = ["", "correct", "wrong", "partial", "scored", "unscored"];
  const SEARCHED = ["id", "prompt", "requests", "responses", "target", "extracted", "meta",
                    "extra"];
  const main = document.getElementById("main");

  // ---- safe building blocks -------------------------------------------------------------
  function visible(value) {
    if (value === null || value === undefined) return "";
    const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
    return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g,
      (c) => (c === "\u007f" ? "\u2421" : String.fromCharCode(0x2400 + c.charCodeAt(0))));
  }

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = visible(value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(visible(child)));
    }
    return node;
  }

  function num(value, digits = 2, signed = false) {
    if (value === null || value === undefined || Number.isNaN(value)) return "-";
    const text = Number(value).toFixed(digits);
    return signed && value > 0 ? "+" + text : text;
  }

  function scoreText(row) {
    let text = num(row.value);
    if (row.stderr !== null && row.stderr !== undefined && !Number.isNaN(row.stderr)) {
      text += " ± " + num(row.stderr);
    }
    return row.complete === false ? text + " (partial)" : text;
  }

  function table(id, headers, rows) {
    return el("table", { id },
      headers ? el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h })))) : null,
      el("tbody", {}, ...rows));
  }

  function cell(value, cls) {
    return el("td", cls ? { class: cls } : {}, value instanceof Node ? value : visible(value));
  }

  function link(href, text) { return el("a", { href }, text); }

  function parseHash() {
    const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
    return { parts: path.split("/"), params: new URLSearchParams(query || "") };
  }

  // ---- data: the local server's API, or the exported files ------------------------------
  function loadData(key) {
    if (window.EVALUATE_DATA[key]) return Promise.resolve(window.EVALUATE_DATA[key]);
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "data/" + key + ".js";
      script.onload = () => resolve(window.EVALUATE_DATA[key]);
      script.onerror = () => reject(new Error("cannot load data/" + key + ".js"));
      document.body.append(script);
    });
  }

  function strings(value, out) {
    if (typeof value === "string") out.push(value);
    else if (Array.isArray(value)) value.forEach((v) => strings(v, out));
    else if (value && typeof value === "object") Object.values(value).forEach((v) => strings(v, out));
    else if (value !== null && value !== undefined) out.push(String(value));
    return out;
  }

  function clip(value) {
    if (typeof value === "string" && value.length > 240) return value.slice(0, 240) + "…";
    if (Array.isArray(value)) return value.slice(0, 8).map(clip);
    return value;
  }

  async function staticApi(name, p) {
    if (name === "runs") return window.EVALUATE_DATA.runs;
    if (name === "diff") {
      const data = await loadData("diff-" + Number(p.a) + "-" + Number(p.b));
      const offset = Number(p.offset || 0);
      return { ...data, offset, rows: data.rows.slice(offset, offset + Number(p.limit || 100)) };
    }
    const data = await loadData("run-" + Number(p.run));
    if (name === "run") return data.run;
    if (name === "sample") {
      const sample = data.samples[Number(p.index)];
      if (!sample) throw new Error("no sample " + p.index);
      return sample;
    }
    let rows = data.samples;
    if (p.verdict) rows = rows.filter((s) => s.verdict === p.verdict);
    if (p.q) {
      const needle = p.q.toLowerCase();
      rows = rows.filter((s) => SEARCHED.some(
        (k) => strings(s[k], []).some((t) => t.toLowerCase().includes(needle))));
    }
    const offset = Number(p.offset || 0);
    const keep = ["index", "id", "verdict", "score", "extracted", "target", "prompt"];
    return {
      total: rows.length, offset,
      rows: rows.slice(offset, offset + Number(p.limit || PAGE)).map(
        (s) => Object.fromEntries(keep.map((k) => [k, clip(s[k])]))),
    };
  }

  async function api(name, params) {
    if (STATIC) return staticApi(name, params || {});
    const query = new URLSearchParams(params || {}).toString();
    const response = await fetch("api/" + name + (query ? "?" + query : ""));
    const data = await response.json();
    if (!response.ok || data.error) throw new Error(data.error || response.statusText);
    return data;
  }

  // ---- pages -----------------------------------------------------------------------------
  async function showRuns() {
    const { runs } = await api("runs");
    const rows = runs.map((r) => el("tr", { "data-run": String(r.run) },
      el("td", {}, el("input", { type: "checkbox", class: "pick", value: String(r.run) })),
      el("td", {}, link("#/run/" + r.run, r.label)), cell(r.task), cell(r.metric),
      cell(scoreText(r), "num"), cell(r.n, "num"), cell(num(r.reported), "num"),
      cell(num(r.diff, 2, true), "num"), cell(r.protocol), cell(r.date),
      cell(num(r.seconds, 1), "num")));
    const message = el("span", { id: "compare-message", class: "error" });
    const compareButton = el("button", { id: "compare", onclick: () => {
      const picked = [...document.querySelectorAll("input.pick:checked")].map((i) => Number(i.value));
      if (picked.length !== 2) { message.textContent = "pick two runs"; return; }
      const [a, b] = picked.sort((x, y) => x - y);
      if (runs[a].task !== runs[b].task) { message.textContent = "pick two runs of one task"; return; }
      location.hash = "#/diff/" + a + "/" + b;
    } }, "Compare the two picked runs");
    main.replaceChildren(
      el("h2", { text: runs.length + " run(s)" }),
      table("runs", ["", "model", "task", "metric", "score ± stderr", "n", "reported", "diff",
                     "protocol", "date", "time (s)"], rows),
      el("p", { class: "controls" }, compareButton, message));
  }

  async function showRun(number, params) {
    const verdict = params.get("verdict") || "";
    const search = params.get("q") || "";
    const offset = Number(params.get("offset") || 0);
    const [run, page] = await Promise.all([
      api("run", { run: number }),
      api("samples", { run: number, offset, limit: PAGE, verdict, q: search })]);
    const go = (changes) => {
      const next = new URLSearchParams({ verdict, q: search, offset: 0, ...changes });
      location.hash = "#/run/" + number + "?" + next.toString();
    };
    const facts = [
      ["score", scoreText(run) + " (" + (run.metric || "") + ")"], ["reported", num(run.reported)],
      ["difference", num(run.diff, 2, true)], ["samples", run.n + " of " + run.planned],
      ["protocol hash", run.protocol], ["protocol", run.protocol_info.description],
      ["provenance", run.protocol_info.provenance], ["shots", run.protocol_info.shots],
      ["date", run.date], ["wall time (s)", num(run.seconds, 1)], ["folder", run.run_dir],
    ];
    if (run.error) facts.push(["error", run.error]);
    const groups = run.groups.map((g) => el("tr", {}, cell(g.name), cell(num(g.value), "num"),
      cell(num(g.stderr), "num"), cell(g.n, "num")));
    const select = el("select", { id: "verdict", onchange: () => go({ verdict: select.value }) },
      ...VERDICTS.map((v) => el("option", { value: v }, v || "all verdicts")));
    select.value = verdict;
    const box = el("input", { id: "search", type: "search", placeholder: "search text" });
    box.value = search;
    const form = el("form", { class: "controls", onsubmit: (e) => { e.preventDefault(); go({ q: box.value }); } },
      select, box, el("button", { id: "search-button", type: "submit" }, "Search"));
    const rows = page.rows.map((s) => el("tr", { "data-index": String(s.index) },
      el("td", { class: "num" }, link("#/sample/" + number + "/" + s.index, String(s.index))),
      cell(s.id), cell(s.verdict, s.verdict), cell(num(s.score, 3), "num"),
      cell(s.extracted, "clip"), cell(s.target, "clip"), cell(s.prompt, "clip")));
    const end = Math.min(offset + page.rows.length, page.total);
    const pager = el("p", { class: "controls" },
      el("span", { id: "count", text: (page.total ? offset + 1 : 0) + "–" + end + " of " + page.total }),
      el("button", { id: "prev", onclick: () => go({ offset: Math.max(0, offset - PAGE) }) }, "Previous"),
      el("button", { id: "next", onclick: () => go({ offset: offset + PAGE }) }, "Next"));
    pager.querySelector("#prev").disabled = offset === 0;
    pager.querySelector("#next").disabled = end >= page.total;
    main.replaceChildren(
      el("h2", { id: "run-title", text: run.label + " — " + run.task }),
      table("facts", null, facts.map(([k, v]) => el("tr", {}, el("th", { text: k }), cell(v)))),
      run.siblings.length ? el("p", {}, "Compare with: ", ...run.siblings.map((o) =>
        link("#/diff/" + Math.min(o, number) + "/" + Math.max(o, number), "run " + o + " "))) : null,
      groups.length ? el("h3", { text: "Per group" }) : null,
      groups.length ? table("groups", ["group", "score", "stderr", "n"], groups) : null,
      el("h3", { text: "Samples" }), page.note ? el("p", { id: "note", text: page.note }) : null,
      form, pager,
      table("samples", ["#", "id", "verdict", "score", "extracted", "target", "prompt"], rows));
  }

  function block(title, value, id) {
    return [el("h3", { text: title }), el("pre", id ? { id } : {}, visible(value))];
  }

  async function showSample(number, index) {
    const s = await api("sample", { run: number, index });
    const parts = [el("h2", { id: "sample-title", text: "Run " + number + ", sample " + index }),
      el("p", {}, link("#/run/" + number, "back to the run"), " · ",
        index > 0 ? link("#/sample/" + number + "/" + (index - 1), "previous") : "previous", " · ",
        link("#/sample/" + number + "/" + (index + 1), "next")),
      table("sample-facts", null, [["id", s.id], ["verdict", s.verdict], ["score", s.score],
        ["weight", s.weight], ...(s.extra && s.extra.status !== undefined
          ? [["sandbox", s.extra.status]] : [])].map(
        ([k, v]) => el("tr", {}, el("th", { text: k }), cell(v))))];
    (s.requests || []).forEach((r, i) => {
      const { context, text, ...rest } = r;
      parts.push(...block("Prompt as sent" + (s.requests.length > 1 ? " (request " + (i + 1) + ")" : ""),
                          context !== undefined ? context : text, i === 0 ? "prompt" : undefined));
      parts.push(...block("Request settings", rest));
    });
    (s.responses || []).forEach((r, i) => {
      const title = "Raw response" + (s.responses.length > 1 ? " " + (i + 1) : "");
      const isText = r && typeof r === "object" && typeof r.text === "string";
      parts.push(...block(title, isText ? r.text : r, i === 0 ? "response" : undefined));
      if (isText) {
        const { text, ...rest } = r;
        parts.push(el("p", { class: "note", text: JSON.stringify(rest) }));
      }
    });
    parts.push(...block("Extracted answer", s.extracted, "extracted"));
    parts.push(...block("Target", s.target, "target"));
    const extra = s.extra || {};
    if (extra.status !== undefined) {
      parts.push(...block("Sandbox verdict", extra.status, "sandbox-status"));
      parts.push(...block("Sandbox output", extra.detail, "sandbox-detail"));
    }
    parts.push(...block("Meta", s.meta));
    if (Object.keys(extra).length) parts.push(...block("Extra", extra));
    main.replaceChildren(...parts);
  }

  async function showDiff(a, b, params) {
    const offset = Number(params.get("offset") || 0);
    const d = await api("diff", { a, b, offset, limit: 100 });
    const rows = d.rows.map((r) => el("tr", { class: r.changed ? "changed" : "", "data-id": String(r.id) },
      cell(r.id), cell(r.a_verdict, r.a_verdict), cell(num(r.a_score, 3), "num"),
      cell(r.b_verdict, r.b_verdict), cell(num(r.b_score, 3), "num"),
      cell(r.changed ? "changed" : ""),
      el("td", {}, r.a_index !== null ? link("#/sample/" + a + "/" + r.a_index, "A") : "",
         " ", r.b_index !== null ? link("#/sample/" + b + "/" + r.b_index, "B") : "")));
    const go = (o) => { location.hash = "#/diff/" + a + "/" + b + "?offset=" + o; };
    const end = offset + d.rows.length;
    main.replaceChildren(
      el("h2", { id: "diff-title", text: d.task + ": A = run " + a + " (" + d.a.label + "), B = run " + b + " (" + d.b.label + ")" }),
      el("p", {}, "A " + scoreText(d.a) + ", B " + scoreText(d.b) + ". "),
      el("p", { id: "paired" }, "gate's paired test (A as baseline): ",
        el("strong", { text: d.verdict }), " (" + d.detail + ")"),
      el("p", { id: "diff-count", text: d.changed + " of " + d.total + " samples changed; changed ones first" }),
      el("p", { class: "controls" },
        el("button", { id: "prev", onclick: () => go(Math.max(0, offset - 100)) }, "Previous"),
        el("button", { id: "next", onclick: () => go(offset + 100) }, "Next"),
        el("span", { text: (d.total ? offset + 1 : 0) + "–" + end + " of " + d.total })),
      table("diff", ["id", "A verdict", "A score", "B verdict", "B score", "", "samples"], rows));
  }

  async function showPlot() {
    const title = el("h2", { text: "Score against model size (as `table --plot`)" });
    if (STATIC) {
      const plot = window.EVALUATE_DATA.runs.plot;
      main.replaceChildren(title, typeof plot === "string"
        ? el("img", { class: "plot", id: "plot", src: plot, alt: "score against size" })
        : el("p", { class: "error", id: "error", text: plot.error }));
      return;
    }
    const image = el("img", { class: "plot", id: "plot", src: "api/plot.png", alt: "score against size" });
    image.addEventListener("error", async () => {
      const response = await fetch("api/plot.png");
      const data = await response.json().catch(() => ({ error: response.statusText }));
      image.replaceWith(el("p", { class: "error", id: "error", text: data.error }));
    });
    main.replaceChildren(title, image);
  }

  async function route() {
    const { parts, params } = parseHash();
    document.getElementById("status").textContent = "";
    try {
      if (parts[0] === "run") await showRun(Number(parts[1]), params);
      else if (parts[0] === "sample") await showSample(Number(parts[1]), Number(parts[2]));
      else if (parts[0] === "diff") await showDiff(Number(parts[1]), Number(parts[2]), params);
      else if (parts[0] === "plot") await showPlot();
      else await showRuns();
      document.body.setAttribute("data-ready", location.hash || "#/");
    } catch (error) {
      main.replaceChildren(el("p", { class: "error", id: "error", text: error.message }));
      document.body.setAttribute("data-ready", "error");
    }
  }

  window.addEventListener("hashchange", () => { document.body.removeAttribute("data-ready"); route(); });
  route();
})();
