/* Live job log (progressive enhancement of web/templates/ci/job_log.html).
 *
 * Connects to the log's Server-Sent Events stream (web/routes/ci_logs.py), renders ANSI colours and GitLab-style
 * collapsible sections exactly as ci/ansi.py does on the server (keep the two in step), and keeps the view at the
 * end unless the reader scrolled up. The backlog is rendered into a detached <pre> that replaces the server-rendered
 * one once the stream has caught up ("sync" or "end"), so a long log never flashes or lays out line by line; new
 * text is then appended at most once per animation frame, as HTML strings per target element. The browser
 * reconnects by itself after a network error, sending the last event id, and the server resumes after it.
 */
(function () {
  "use strict";

  var TOKEN = new RegExp(
    "\\x1b\\[([0-9;:?]*)([@-~])" +
    "|\\x1b\\][^\\x07\\x1b]*(?:\\x07|\\x1b\\\\)" +
    "|\\x1b[()*+][0-9A-Za-z]|\\x1b[@-Z\\\\^_]" +
    "|(section_start|section_end):(\\d+):([A-Za-z0-9_.\\-]+)(?:\\[([^\\]\\n]*)\\])?\\r?(?:\\x1b\\[0?K)?" +
    "|\\r\\n|\\r|\\n", "g");
  var OPTIONS_START = /^(?:\[[^\]\n]*)?$/;
  var PARTIAL_ESC = /^\x1b(?:\[[0-9;:?]*|\][^\x07\x1b]*\x1b?|[()*+])?$/;
  var PARTIAL_MARKER = /^section_(?:start|end):\d*(?::[A-Za-z0-9_.\-]*(?:\[[^\]\n]*\]?)?\r?(?:\x1b\[?0?)?)?$/;
  var MARKER_WORDS = ["section_start:", "section_end:"];
  var MAX_PENDING = 256;
  var BASIC = [
    [0, 0, 0], [205, 49, 49], [13, 188, 121], [229, 229, 16], [36, 114, 200], [188, 63, 188], [17, 168, 205],
    [229, 229, 229], [102, 102, 102], [241, 76, 76], [35, 209, 139], [245, 245, 67], [59, 142, 234],
    [214, 112, 214], [41, 184, 219], [255, 255, 255]
  ];

  function hex(rgb) {
    return "#" + rgb.map(function (v) { return (v < 16 ? "0" : "") + v.toString(16); }).join("");
  }

  function xterm(n) {
    if (n < 16) return BASIC[n];
    if (n < 232) {
      n -= 16;
      var steps = [0, 95, 135, 175, 215, 255];
      return [steps[Math.floor(n / 36)], steps[Math.floor(n / 6) % 6], steps[n % 6]];
    }
    var level = 8 + (n - 232) * 10;
    return [level, level, level];
  }

  function clamp(v) { return Math.min(Math.max(v, 0), 255); }

  function Style() { this.reset(); }
  Style.prototype.reset = function () {
    this.bold = this.faint = this.italic = this.underline = false;
    this.fg = this.bg = null;
  };
  Style.prototype.extended = function (rest) {
    if (rest.length >= 2 && rest[0] === 5) {
      var n = rest[1];
      return [n >= 0 && n < 16 ? n : hex(xterm(clamp(n))), 2];
    }
    if (rest.length >= 4 && rest[0] === 2) return [hex([clamp(rest[1]), clamp(rest[2]), clamp(rest[3])]), 4];
    return [null, rest.length];
  };
  Style.prototype.apply = function (params) {
    var codes = params ? params.split(/[;:]/).map(function (p) { return /^\d+$/.test(p) ? parseInt(p, 10) : 0; })
      : [0];
    for (var i = 0; i < codes.length; i++) {
      var c = codes[i];
      if (c === 0) this.reset();
      else if (c === 1) this.bold = true;
      else if (c === 2) this.faint = true;
      else if (c === 3) this.italic = true;
      else if (c === 4) this.underline = true;
      else if (c === 22) this.bold = this.faint = false;
      else if (c === 23) this.italic = false;
      else if (c === 24) this.underline = false;
      else if (c >= 30 && c <= 37) this.fg = c - 30;
      else if (c >= 90 && c <= 97) this.fg = c - 90 + 8;
      else if (c === 39) this.fg = null;
      else if (c >= 40 && c <= 47) this.bg = c - 40;
      else if (c >= 100 && c <= 107) this.bg = c - 100 + 8;
      else if (c === 49) this.bg = null;
      else if (c === 38 || c === 48) {
        var ext = this.extended(codes.slice(i + 1));
        if (c === 38) this.fg = ext[0]; else this.bg = ext[0];
        i += ext[1];
      }
    }
  };
  Style.prototype.attributes = function () {
    var classes = [], styles = [];
    if (this.bold) classes.push("ansi-bold");
    if (this.faint) classes.push("ansi-faint");
    if (this.italic) classes.push("ansi-italic");
    if (this.underline) classes.push("ansi-underline");
    if (typeof this.fg === "number") classes.push("ansi-fg-" + this.fg);
    else if (this.fg) styles.push("color:" + this.fg);
    if (typeof this.bg === "number") classes.push("ansi-bg-" + this.bg);
    else if (this.bg) styles.push("background-color:" + this.bg);
    var out = classes.length ? ' class="' + classes.join(" ") + '"' : "";
    if (styles.length) out += ' style="' + styles.join(";") + '"';
    return out;
  };

  function escapeHtml(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  /* Text in, operations out: {t:"html", h}, {t:"open", name, open}, {t:"header_end"}, {t:"close"}. */
  function Renderer() {
    this.style = new Style();
    this.pending = "";
    this.sections = [];
    this.inHeader = false;
    this.eatNewline = false;
  }
  Renderer.prototype.text = function (ops, text) {
    if (!text) return;
    this.eatNewline = false;
    var attrs = this.style.attributes(), escaped = escapeHtml(text);
    ops.push({ t: "html", h: attrs ? "<span" + attrs + ">" + escaped + "</span>" : escaped });
  };
  Renderer.prototype.newline = function (ops) {
    if (this.inHeader) { ops.push({ t: "header_end" }); this.inHeader = false; }
    else if (this.eatNewline) this.eatNewline = false;
    else ops.push({ t: "html", h: "\n" });
  };
  Renderer.prototype.marker = function (ops, kind, name, options) {
    if (this.inHeader) { ops.push({ t: "header_end" }); this.inHeader = false; }
    if (kind === "section_start") {
      var collapsed = !!(options && /collapsed\s*=\s*true/.test(options));
      ops.push({ t: "open", name: name, open: !collapsed });
      this.sections.push(name);
      this.inHeader = true;
      this.eatNewline = false;
    } else if (this.sections.indexOf(name) >= 0) {
      while (this.sections.length) {
        ops.push({ t: "close" });
        if (this.sections.pop() === name) break;
      }
      this.eatNewline = true;
    }
  };
  Renderer.prototype.holdFrom = function (text) {
    for (var i = Math.max(0, text.length - MAX_PENDING); i < text.length; i++) {
      var ch = text.charAt(i);
      if (ch === "\x1b" && PARTIAL_ESC.test(text.slice(i))) return i;
      if (ch === "s") {
        var tail = text.slice(i);
        if (MARKER_WORDS.some(function (w) { return w.indexOf(tail) === 0; }) || PARTIAL_MARKER.test(tail)) return i;
      }
    }
    return text.length;
  };
  Renderer.prototype.feed = function (chunk, final) {
    var text = this.pending + chunk, ops = [], pos = 0, held = -1, m;
    this.pending = "";
    TOKEN.lastIndex = 0;
    while ((m = TOKEN.exec(text)) !== null) {
      var token = m[0], end = m.index + token.length;
      if (!final && ((token === "\r" && end === text.length) ||
          (m[3] && token.charAt(token.length - 1) !== "K" && OPTIONS_START.test(text.slice(end))))) {
        held = m.index;
        break;
      }
      this.text(ops, text.slice(pos, m.index));
      pos = end;
      if (token === "\n" || token === "\r\n" || token === "\r") this.newline(ops);
      else if (m[3]) this.marker(ops, m[3], m[5], m[6]);
      else if (m[2] === "m") this.style.apply(m[1]);
    }
    if (held < 0) {
      var rest = text.slice(pos);
      held = pos + (final ? rest.length : this.holdFrom(rest));
    }
    this.text(ops, text.slice(pos, held));
    this.pending = text.slice(held);
    return ops;
  };
  Renderer.prototype.finish = function () {
    var ops = this.feed("", true);
    if (this.inHeader) { ops.push({ t: "header_end" }); this.inHeader = false; }
    for (var i = 0; i < this.sections.length; i++) ops.push({ t: "close" });
    this.sections = [];
    return ops;
  };

  /* Applies operations to a <pre>: HTML strings are gathered per target and inserted in one go. */
  function Sink(root) {
    this.root = root;
    this.stack = [root];
    this.summary = null;
    this.buffer = "";
    this.wrote = false;
  }
  Sink.prototype.target = function () { return this.summary || this.stack[this.stack.length - 1]; };
  Sink.prototype.flush = function () {
    if (this.buffer) {
      this.target().insertAdjacentHTML("beforeend", this.buffer);
      this.buffer = "";
    }
  };
  Sink.prototype.apply = function (ops) {
    for (var i = 0; i < ops.length; i++) {
      var op = ops[i];
      this.wrote = true;
      if (op.t === "html") { this.buffer += op.h; continue; }
      this.flush();
      if (op.t === "open") {
        var details = document.createElement("details");
        details.className = "log-section";
        details.setAttribute("data-section", op.name);
        details.open = op.open;
        var summary = document.createElement("summary");
        details.appendChild(summary);
        this.target().appendChild(details);
        this.stack.push(details);
        this.summary = summary;
      } else if (op.t === "header_end") {
        this.summary = null;
      } else if (op.t === "close") {
        this.summary = null;
        if (this.stack.length > 1) this.stack.pop();
      }
    }
    this.flush();
  };

  function JobLog(section) {
    this.section = section;
    this.output = section.querySelector("[data-log-output]");
    this.state = section.querySelector("[data-log-state]");
    this.renderer = new Renderer();
    this.fresh = document.createElement("pre");
    this.fresh.className = this.output.className;
    this.fresh.setAttribute("data-log-output", "");
    this.sink = new Sink(this.fresh);
    this.queue = [];
    this.scheduled = false;
    this.swapped = false;
    this.placeholder = this.output.querySelector(".job-log-empty");
  }

  JobLog.prototype.pinned = function () {
    var el = this.swapped ? this.fresh : this.output;
    return el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
  };

  JobLog.prototype.render = function () {
    this.scheduled = false;
    if (!this.queue.length) return;
    var text = this.queue.join("");
    this.queue = [];
    var pinned = this.swapped && this.pinned();
    var ops = this.renderer.feed(text, false);
    if (ops.length && this.placeholder && this.swapped) {
      this.placeholder.remove();
      this.placeholder = null;
    }
    this.sink.apply(ops);
    if (pinned) this.fresh.scrollTop = this.fresh.scrollHeight;
  };

  JobLog.prototype.schedule = function () {
    if (this.scheduled) return;
    this.scheduled = true;
    var self = this;
    // Frames do not run in hidden tabs, nor matter there; before the swap nothing is on screen either.
    if (!this.swapped || document.hidden) setTimeout(function () { self.render(); }, 50);
    else requestAnimationFrame(function () { self.render(); });
  };

  JobLog.prototype.swap = function () {
    if (this.swapped) return;
    this.render();
    this.swapped = true;
    if (!this.sink.wrote && this.placeholder) {
      this.placeholder = this.placeholder.cloneNode(true);
      this.fresh.appendChild(this.placeholder);
    } else {
      this.placeholder = null;
    }
    this.output.parentNode.replaceChild(this.fresh, this.output);
    var partial = this.section.querySelector("[data-log-partial]");
    if (partial) partial.remove();
    this.fresh.scrollTop = this.fresh.scrollHeight;
  };

  JobLog.prototype.setState = function (template, label) {
    if (this.state && template) this.state.textContent = template.replace("%(status)s", label);
  };

  JobLog.prototype.start = function () {
    var self = this, url = this.section.getAttribute("data-stream-url");
    if (!url || !window.EventSource) return;
    this.section.classList.add("is-live");
    var source = new EventSource(url);
    source.onmessage = function (event) {
      self.queue.push(JSON.parse(event.data));
      self.schedule();
    };
    source.addEventListener("sync", function (event) {
      var data = JSON.parse(event.data);
      self.swap();
      self.setState(self.section.getAttribute("data-live-text"), data.label);
    });
    source.addEventListener("end", function (event) {
      var data = JSON.parse(event.data);
      source.close();
      self.render();
      self.sink.apply(self.renderer.finish());
      self.swap();
      // Only a job that was still running when the page loaded has news worth a message.
      var wasLive = ["success", "failed", "canceled", "skipped"].indexOf(self.section.getAttribute("data-status")) < 0;
      self.section.setAttribute("data-status", data.status);
      self.section.setAttribute("data-stream", "ended");
      if (wasLive) self.setState(self.section.getAttribute("data-end-text"), data.label);
      var detail = { status: data.status, label: data.label, wasLive: wasLive };
      self.section.dispatchEvent(new CustomEvent("joblog:end", { bubbles: true, detail: detail }));
    });
  };

  function init() {
    var sections = document.querySelectorAll("section.job-log[data-stream-url]");
    for (var i = 0; i < sections.length; i++) new JobLog(sections[i]).start();
  }

  window.ForgeJobLog = { Renderer: Renderer };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
