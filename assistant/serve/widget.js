/* HER2 ADC guideline assistant: an embeddable chat widget. No framework, nothing from a CDN.
 * <script src="https://HOST/widget.js" data-title="..." data-position="right|left" data-open="false"
 *         data-api="https://HOST" data-color="#0b5cad" async></script>
 * Styles live in a shadow root as constructable stylesheets (a strict host CSP allows them); every answer
 * string enters the DOM through textContent only, so nothing in an answer can run. The conversation lives
 * in this page and is sent whole on every turn. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var data = script.dataset || {};
  var api = (data.api || new URL(script.src, location.href).origin).replace(/\/$/, "");
  var title = data.title || "HER2 ADC guideline assistant";
  var position = data.position === "left" ? "left" : "right";
  var color = /^#[0-9a-fA-F]{3,8}$/.test(data.color || "") ? data.color : "#0b5cad";
  var SCALE = {
    I: "at least one large randomised controlled trial of good methodological quality, or meta-analyses of such trials without heterogeneity",
    II: "small randomised trials, or large randomised trials with a suspicion of bias, or meta-analyses of such trials or of trials with heterogeneity",
    III: "prospective cohort studies", IV: "retrospective cohort studies or case-control studies",
    V: "studies without a control group, case reports, expert opinion"
  };
  var ROLES = { preferred: "Preferred", alternative: "Alternative", consider: "Consider" };
  /* A phone: a narrow layout, or a small touch screen showing a page laid out wider (a host page without a
   * viewport meta tag is 980 pixels wide on a phone). There the panel fills the screen and takes no focus on
   * open, so no on-screen keyboard covers half of it before the user asks for one. */
  var PHONE = "(max-width: 600px), (hover: none) and (pointer: coarse) and (max-device-width: 600px)";
  var CSS = ":host{all:initial;font:14px/1.45 system-ui,sans-serif;color:#1a1a1a}" +
    ".toggle{position:fixed;bottom:20px;" + position + ":20px;z-index:2147483000;background:var(--c);color:#fff;border:0;border-radius:24px;padding:12px 18px;font:inherit;font-weight:600;cursor:pointer}" +
    ".panel{box-sizing:border-box;position:fixed;bottom:76px;" + position + ":20px;z-index:2147483000;width:min(420px,calc(100vw - 40px));height:min(620px,calc(100vh - 110px));display:flex;flex-direction:column;background:#fff;border:1px solid #ccc;border-radius:10px;box-shadow:0 8px 30px rgba(0,0,0,.2)}" +
    ".panel[hidden]{display:none}header{display:flex;align-items:center;justify-content:space-between;padding:8px 12px;background:var(--c);color:#fff;border-radius:10px 10px 0 0}" +
    "header h2{font-size:15px;margin:0}header button{background:transparent;color:#fff;border:0;font-size:20px;cursor:pointer}" +
    ".log{flex:1;overflow:auto;padding:10px}.msg{margin:0 0 10px}.user{background:#eef3fb;border-radius:8px;padding:6px 8px;white-space:pre-wrap}" +
    ".bot p{margin:4px 0}.badge{display:inline-block;border:1px solid currentColor;border-radius:9px;padding:0 6px;font-size:12px;font-weight:600;cursor:help;margin-left:4px}" +
    ".I{color:#0b6e2e}.II{color:#3b6e0b}.III{color:#7a5b00}.IV{color:#8a4300}.V{color:#8a1c1c}.warn{color:#8a1c1c;font-weight:600}.safety{color:#555;font-size:13px}" +
    "details{border:1px solid #ddd;border-radius:6px;padding:4px 8px;margin:4px 0}summary{cursor:pointer}blockquote{margin:4px 0;padding-left:8px;border-left:3px solid #bbb}" +
    ".options button{margin:4px 4px 0 0;border:1px solid var(--c);color:var(--c);background:#fff;border-radius:14px;padding:4px 10px;cursor:pointer;font:inherit}" +
    "form{display:flex;gap:6px;padding:8px;border-top:1px solid #ddd}textarea{flex:1;resize:none;font:inherit;padding:6px}form button{background:var(--c);color:#fff;border:0;border-radius:6px;padding:0 12px;font:inherit;cursor:pointer}" +
    "button:focus-visible,textarea:focus-visible,summary:focus-visible{outline:2px solid #000;outline-offset:2px}" +
    "@media " + PHONE + "{.panel{inset:0;width:auto;height:auto;border:0;border-radius:0}header{border-radius:0}" +
    ".toggle,.panel{zoom:var(--z,1)}" +
    "form{padding-bottom:max(8px,env(safe-area-inset-bottom))}}";

  var host = document.createElement("div");
  host.setAttribute("data-her2-adc-widget", "");
  var root = host.attachShadow({ mode: "open" });
  var sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  root.adoptedStyleSheets = [sheet];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  /* Answer text is Markdown whose user words are escaped (\( and &lt;): undo that for plain text. */
  function plain(text) {
    return String(text || "").replace(/\\([\\`*_\[\]()!#|~])/g, "$1")
      .replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }
  function inline(parent, text) { /* **bold** only; everything else as text */
    plain(text).split(/(\*\*[^*]+\*\*)/).forEach(function (part) {
      if (/^\*\*[^*]+\*\*$/.test(part)) { parent.appendChild(el("strong", {}, part.slice(2, -2))); }
      else if (part) { parent.appendChild(document.createTextNode(part.replace(/(^|\s)_([^_]+)_/g, "$1$2"))); }
    });
    return parent;
  }
  function badge(level) {
    return el("abbr", { "class": "badge " + level, title: "ESMO level " + level + ": " + (SCALE[level] || "") },
      "Level " + level);
  }
  function itemText(item) {
    if (typeof item === "string") { return item; }
    var main = item.option || item.message || item.text || item.title || "";
    var why = item.reason || item.why || item.detail || item.rationale || "";
    return main + (why ? ": " + why : "");
  }

  var toggle = el("button", { "class": "toggle", type: "button", "aria-expanded": "false" }, title);
  var panel = el("section", { "class": "panel", role: "dialog", "aria-label": title });
  panel.hidden = true;
  var header = el("header");
  header.appendChild(el("h2", {}, title));
  var close = el("button", { type: "button", "aria-label": "Close" }, "×");
  header.appendChild(close);
  var log = el("div", { "class": "log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  var form = el("form");
  var input = el("textarea", { rows: "2", "aria-label": "Describe the patient or ask a question",
    placeholder: "Describe the patient or ask about a trial" });
  var send = el("button", { type: "submit" }, "Send");
  var note = el("button", { type: "button", title: "Tumour-board note" }, "Note");
  form.appendChild(input); form.appendChild(send); form.appendChild(note);
  panel.appendChild(header); panel.appendChild(log); panel.appendChild(form);
  root.appendChild(toggle); root.appendChild(panel);
  host.style.setProperty("--c", color);
  root.host.style.setProperty("--c", color);

  /* On a phone showing a page laid out wider than its screen, draw the widget at the screen's own scale. */
  function fitPhone() {
    var scale = window.matchMedia(PHONE).matches && screen.width ? window.innerWidth / screen.width : 1;
    host.style.setProperty("--z", String(Math.max(1, Math.min(4, scale))));
  }
  fitPhone();
  window.addEventListener("resize", fitPhone);

  var messages = [];
  function setOpen(open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open && !window.matchMedia(PHONE).matches) { input.focus(); }
    if (!open) { toggle.focus(); }
  }
  toggle.addEventListener("click", function () { setOpen(panel.hidden); });
  close.addEventListener("click", function () { setOpen(false); });
  root.addEventListener("keydown", function (e) { if (e.key === "Escape" && !panel.hidden) { setOpen(false); } });

  function suggestions(answer) {
    if (answer.kind !== "recommendation" || !(answer.recommendations || []).length) { return []; }
    var out = ["Why?"];
    (answer.what_would_change || []).forEach(function (c) {
      if (c.condition && out.length < 3) { out.push("What if " + c.condition.replace(/^if /, "").split(" rather than ")[0] + "?"); }
    });
    return out;
  }
  function render(answer) {
    var box = el("div", { "class": "msg bot" });
    var recs = answer.recommendations || [];
    if (answer.kind === "recommendation" && recs.length) {
      inline(box.appendChild(el("p")), String(answer.text || "").split("\n")[0]);
      var list = box.appendChild(el("ol"));
      recs.forEach(function (r) {
        var li = list.appendChild(el("li"));
        li.appendChild(el("strong", {}, (ROLES[r.role] || r.role) + ": " + r.option));
        li.appendChild(badge(r.evidence_level));
        li.appendChild(el("p", {}, r.rationale + " " + (r.citations || []).map(function (c) { return "[" + c + "]"; }).join(" ")));
        if (r.note) { li.appendChild(el("p", {}, "Where the sources differ: " + r.note)); }
      });
      [["not_offered", "Not offered"], ["warnings", "Warnings"]].forEach(function (pair) {
        var items = answer[pair[0]] || [];
        if (items.length) {
          box.appendChild(el("p", { "class": pair[0] === "warnings" ? "warn" : "" }, pair[1] + ":"));
          var ul = box.appendChild(el("ul"));
          items.forEach(function (i) { ul.appendChild(el("li", {}, itemText(i))); });
        }
      });
      if (answer.safety_note) { box.appendChild(el("p", { "class": "safety" }, "Safety: " + answer.safety_note)); }
    } else {
      String(answer.text || "").split(/\n\n+/).forEach(function (para) { inline(box.appendChild(el("p")), para); });
    }
    if ((answer.citations || []).length) {
      var sources = box.appendChild(el("details", { "class": "sources" }));
      sources.appendChild(el("summary", {}, "Sources (" + answer.citations.length + ")"));
      answer.citations.forEach(function (c) {
        var d = sources.appendChild(el("details", { "class": "citation" }));
        d.appendChild(el("summary", {}, "[" + c.id + "]" + (c.trial ? " " + c.trial : "") + ", section " + (c.section || "-")));
        d.appendChild(el("blockquote", {}, c.quote));
        d.appendChild(el("p", {}, (c.ref ? "Reference " + c.ref + ": " : "The review: ") + c.title));
      });
    }
    var options = suggestions(answer);
    if (options.length) {
      var row = box.appendChild(el("div", { "class": "options" }));
      options.forEach(function (text) {
        var b = row.appendChild(el("button", { type: "button" }, text));
        b.addEventListener("click", function () { ask(text); });
      });
    }
    log.querySelectorAll(".options").forEach(function (o) { o.remove(); });
    log.appendChild(box);
    log.scrollTop = log.scrollHeight;
  }
  function ask(text) {
    text = String(text || "").trim();
    if (!text) { return; }
    messages.push(text);
    log.appendChild(el("div", { "class": "msg user" }, text));
    var waiting = log.appendChild(el("p", { "class": "msg" }, "Answering..."));
    send.disabled = true;
    fetch(api + "/api/answer", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ messages: messages }), credentials: "omit" })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        waiting.remove();
        if (!res.ok) { messages.pop(); log.appendChild(el("p", { "class": "msg error warn" }, res.body.detail || "The assistant could not answer.")); return; }
        render(res.body);
      })
      .catch(function () {
        waiting.remove(); messages.pop();
        log.appendChild(el("p", { "class": "msg error warn" }, "The assistant could not be reached from this page."));
      })
      .then(function () { send.disabled = false; });
  }
  form.addEventListener("submit", function (e) { e.preventDefault(); var t = input.value; input.value = ""; ask(t); });
  input.addEventListener("keydown", function (e) { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); } });
  note.addEventListener("click", function () {
    if (!messages.length) { return; }
    fetch(api + "/api/note", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ messages: messages, format: "markdown" }), credentials: "omit" })
      .then(function (r) {
        if (!r.ok) { return r.json().then(function (body) { throw new Error(body.detail || ""); }); }
        return r.text();
      })
      .then(function (text) {
        var a = document.createElement("a");
        a.href = URL.createObjectURL(new Blob([text], { type: "text/markdown" }));
        a.download = "tumour-board-note.md"; a.click();
      })
      .catch(function (e) {
        var said = e instanceof TypeError ? "" : e.message; /* TypeError: the request never got an answer */
        log.appendChild(el("p", { "class": "msg error warn" }, said || "The assistant could not be reached from this page."));
      });
  });

  function mount() { document.body.appendChild(host); if (data.open === "true") { setOpen(true); } }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
})();
