/* graphkit verify's HTML report: the graph (laid out by dagre, drawn as SVG in Netron's manner:
   ops as boxes, tensors as edges labelled with dtype and shape), the node details panel, the
   error strip and the per-node table. The data is the JSON in #gk-data (report_data.py). */
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("gk-data").textContent);
  var NODES = D.nodes, VALUES = D.values, N = NODES.length;
  var SVGNS = "http://www.w3.org/2000/svg";
  var SHOW_ALL_UP_TO = 400, FIRST = 150, STEP = 200, MAX_SHOWN = 1500, RADIUS = 3, PAGE = 50, MAX_WEIGHT_ROWS = 4;
  var STATUS_TEXT = {origin: "origin", amplifier: "amplifier", out: "out of tolerance", ok: "within tolerance",
                     none: "not compared"};
  var STATUS_ORDER = {origin: 0, amplifier: 1, out: 2, ok: 3, none: 4};

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function num(x) {
    if (x === null || x === undefined) return "-";
    if (typeof x === "string") return x;
    if (x === 0) return "0";
    var a = Math.abs(x);
    return (a >= 1e4 || a < 1e-3) ? x.toExponential(2) : String(Number(x.toPrecision(3)));
  }
  function val(x) {  // for sorting: strings "inf"/"nan" from the JSON
    if (x === "inf") return Infinity;
    if (x === "-inf") return -Infinity;
    if (x === null || x === undefined || x === "nan") return NaN;
    return x;
  }
  function typeText(v) {
    var dtype = VALUES[v][1], shape = VALUES[v][2];
    return dtype + (shape ? "[" + shape.join(",") + "]" : "");
  }
  function el(tag, attrs, parent) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  // ------------------------------------------------------------------ topology
  var consumers = VALUES.map(function () { return []; });
  NODES.forEach(function (n, k) { n.in.forEach(function (v) { consumers[v].push(k); }); });
  var isOutput = {};
  D.outputs.forEach(function (v) { isOutput[v] = true; });
  function preds(k) {
    return NODES[k].in.map(function (v) { return VALUES[v][3]; }).filter(function (p) { return p >= 0; });
  }
  function succs(k) {
    var out = [];
    NODES[k].out.forEach(function (v) { out.push.apply(out, consumers[v]); });
    return out;
  }
  function neighbourhood(k, radius, into) {
    var frontier = [k];
    into[k] = true;
    for (var r = 0; r < radius; r++) {
      var next = [];
      frontier.forEach(function (j) {
        preds(j).concat(succs(j)).forEach(function (m) { if (!into[m]) { into[m] = true; next.push(m); } });
      });
      frontier = next;
    }
  }
  function worstFactor(n) {
    return Math.max.apply(null, (n.amp || []).map(function (a) { var f = val(a.factor); return isNaN(f) ? -1 : f; }));
  }

  // ------------------------------------------------------------------ what is shown
  // A window [start, end) of the topological order, plus the nodes around the origins and strongest
  // amplifiers and the ones a reader opened (`extra`, oldest first). At most MAX_SHOWN at once:
  // dagre lays out ~1,500 nodes in about a second, and its recursion overflows the stack on chains
  // some 1,900 nodes deep.
  var range = {start: 0, end: 0}, extra = [], shown = {};
  function computeShown() {
    shown = {};
    for (var k = range.start; k < range.end; k++) shown[k] = true;
    extra.forEach(function (j) { shown[j] = true; });
  }
  function outside() { return extra.filter(function (j) { return j < range.start || j >= range.end; }).length; }
  function enforceCap() {  // drop the oldest opened nodes, then the start of the window
    while (extra.length && MAX_SHOWN - outside() < STEP) extra.shift();
    var room = MAX_SHOWN - outside();
    if (range.end - range.start > room) range.start = range.end - room;
  }
  function addExtra(k, radius) {
    var into = {};
    neighbourhood(k, radius, into);
    Object.keys(into).forEach(function (j) { j = Number(j); if (extra.indexOf(j) < 0) extra.push(j); });
  }
  function initialSet() {
    if (N <= SHOW_ALL_UP_TO) { range.end = N; computeShown(); return; }
    range.end = FIRST;
    var origins = [], amps = [];
    NODES.forEach(function (n, i) { if (n.s === "origin") origins.push(i); else if (n.s === "amplifier") amps.push(i); });
    origins.slice(0, 10).forEach(function (i) { addExtra(i, RADIUS); });
    amps.sort(function (a, b) { return worstFactor(NODES[b]) - worstFactor(NODES[a]); });
    amps.slice(0, 5).forEach(function (i) { addExtra(i, 1); });
    enforceCap();
    computeShown();
  }
  function countShown() { return Object.keys(shown).length; }
  function reveal(k, radius) {
    var before = countShown();
    addExtra(k, radius === undefined ? 1 : radius);
    enforceCap();
    computeShown();
    if (countShown() !== before || !shown[k]) draw();
    focus(k);
  }
  function setRange(start, end) {
    range.start = Math.max(0, start); range.end = Math.min(N, end);
    enforceCap();
    computeShown();
    draw();
  }

  // ------------------------------------------------------------------ measuring text
  var ctx = document.createElement("canvas").getContext("2d");
  function textWidth(text, font) { ctx.font = font; return ctx.measureText(text).width; }
  var FONT_OP = "bold 12px sans-serif", FONT_SMALL = "11px sans-serif", FONT_EDGE = "10px sans-serif";

  function nodeBox(n) {
    var lines = [];
    (n.w || []).slice(0, MAX_WEIGHT_ROWS).forEach(function (w) {
      lines.push(w[3] ? w[0] + " \u27e8" + w[3].join("\u00d7") + "\u27e9" : w[0] + ": " + w[1]);
    });
    if ((n.w || []).length > MAX_WEIGHT_ROWS) lines.push("+" + (n.w.length - MAX_WEIGHT_ROWS) + " more");
    var badge = n.s === "amplifier" ? "\u00d7" + num(val(worstFactor(n)) >= 0 ? worstFactor(n) : "?") :
                n.s === "origin" ? "origin" : "";
    var width = Math.max(textWidth(n.op, FONT_OP) + (badge ? textWidth(badge, FONT_SMALL) + 10 : 0),
                         textWidth(n.n, FONT_SMALL), Math.max.apply(null, lines.map(function (l) {
                           return textWidth(l, FONT_SMALL); }).concat([0])));
    return {width: Math.ceil(width) + 16, height: 20 + 15 + 14 * lines.length + 4, lines: lines, badge: badge};
  }

  // ------------------------------------------------------------------ layout and drawing
  var svg = document.getElementById("gk-graph");
  var viewport = document.getElementById("gk-viewport");
  var view = {s: 1, x: 0, y: 0}, graphSize = {width: 1, height: 1};
  var elements = {};

  var lastGood = null;
  function draw() {
    try {
      layoutAndDraw();
      lastGood = {range: {start: range.start, end: range.end}, extra: extra.slice()};
    } catch (err) {  // too large or too deep for dagre: go back to what was drawn, or halve the window
      if (lastGood) { range = lastGood.range; extra = lastGood.extra; }
      else if (range.end - range.start > 1) { range.end = range.start + Math.floor((range.end - range.start) / 2); extra = []; }
      else throw err;
      computeShown();
      var failed = String(err && err.message || err);
      draw();
      document.getElementById("gk-shown").textContent += " (could not lay out more: " + failed + ")";
    }
  }
  function layoutAndDraw() {
    var g = new dagre.graphlib.Graph({multigraph: true});
    g.setGraph({rankdir: "TB", nodesep: 20, ranksep: 26, edgesep: 8, marginx: 20, marginy: 20});
    g.setDefaultEdgeLabel(function () { return {}; });
    var ks = Object.keys(shown).map(Number).sort(function (a, b) { return a - b; });
    var boxes = {};
    ks.forEach(function (k) { boxes[k] = nodeBox(NODES[k]); g.setNode("n" + k, {width: boxes[k].width, height: boxes[k].height}); });
    function edge(from, to, v, name) {
      var label = v === null ? "" : typeText(v);
      g.setEdge(from, to, {label: label, width: label ? textWidth(label, FONT_EDGE) + 4 : 0, height: label ? 12 : 0,
                           labelpos: "r", labeloffset: 4, v: v}, name);
    }
    var ioSeen = {};
    ks.forEach(function (k) {
      var n = NODES[k], hiddenIn = 0, hiddenOut = 0, seen = {};
      n.in.forEach(function (v) {
        if (seen[v]) return;
        seen[v] = true;
        var p = VALUES[v][3];
        if (p >= 0 && shown[p]) edge("n" + p, "n" + k, v, "e" + v + "_" + k);
        else if (p >= 0) hiddenIn++;
        else {
          if (!ioSeen["i" + v]) {
            ioSeen["i" + v] = true;
            g.setNode("i" + v, {width: textWidth(VALUES[v][0], FONT_OP) + 24, height: 24, io: v});
          }
          edge("i" + v, "n" + k, v, "e" + v + "_" + k);
        }
      });
      succs(k).forEach(function (m) { if (!shown[m]) hiddenOut++; });
      n.out.forEach(function (v) {
        if (isOutput[v]) {
          g.setNode("o" + v, {width: textWidth(VALUES[v][0], FONT_OP) + 24, height: 24, io: v});
          edge("n" + k, "o" + v, v, "o" + v);
        }
      });
      if (hiddenIn) { g.setNode("si" + k, {width: 44, height: 18, stub: k, count: hiddenIn}); edge("si" + k, "n" + k, null, "si" + k); }
      if (hiddenOut) { g.setNode("so" + k, {width: 44, height: 18, stub: k, count: hiddenOut}); edge("n" + k, "so" + k, null, "so" + k); }
    });
    var t0 = performance.now();
    dagre.layout(g);
    document.body.setAttribute("data-layout-ms", Math.round(performance.now() - t0));

    while (viewport.firstChild) viewport.removeChild(viewport.firstChild);
    elements = {};
    var edgesLayer = el("g", {"class": "edges"}, viewport), nodesLayer = el("g", {"class": "nodes"}, viewport);
    g.edges().forEach(function (e) {
      var d = g.edge(e), stub = e.v.charAt(0) === "s" || e.w.charAt(0) === "s";
      el("path", {"class": "edge" + (stub ? " stub-edge" : ""), d: curve(d.points), "marker-end": "url(#gk-arrow)"}, edgesLayer);
      if (d.label) {
        var t = el("text", {"class": "elabel", x: d.x - d.width / 2 + 2, y: d.y + 4}, edgesLayer);
        t.textContent = d.label;
      }
    });
    g.nodes().forEach(function (id) {
      var d = g.node(id), x = d.x - d.width / 2, y = d.y - d.height / 2;
      if (d.io !== undefined) {
        var io = el("g", {"class": "io", "data-io": VALUES[d.io][0], transform: "translate(" + x + "," + y + ")"}, nodesLayer);
        el("rect", {width: d.width, height: d.height, rx: 12}, io);
        var it = el("text", {x: d.width / 2, y: 16, "text-anchor": "middle"}, io);
        it.textContent = VALUES[d.io][0];
        el("title", {}, io).textContent = (id.charAt(0) === "i" ? "graph input " : "graph output ") + VALUES[d.io][0] + ": " + typeText(d.io);
      } else if (d.stub !== undefined) {
        var s = el("g", {"class": "stub", "data-stub": d.stub, transform: "translate(" + x + "," + y + ")"}, nodesLayer);
        el("rect", {width: d.width, height: d.height, rx: 9}, s);
        var st = el("text", {x: d.width / 2, y: 13, "text-anchor": "middle"}, s);
        st.textContent = "+" + d.count;
        el("title", {}, s).textContent = d.count + " hidden neighbour(s): click to show them";
        s.addEventListener("click", function (ev) { ev.stopPropagation(); reveal(d.stub, 1); });
      } else {
        var k = Number(id.slice(1));
        drawNode(k, boxes[k], x, y, nodesLayer);
      }
    });
    graphSize = {width: g.graph().width || 1, height: g.graph().height || 1};
    var around = ks.length - (range.end - range.start);
    document.getElementById("gk-shown").textContent = "showing " + ks.length + " of " + N + " nodes" +
      (ks.length < N ? ": positions " + range.start + "\u2013" + (range.end - 1) + " in topological order" +
       (around ? " and " + around + " around the origins, amplifiers and nodes you opened" : "") : "");
    document.getElementById("gk-more").style.display = range.end < N ? "" : "none";
    document.getElementById("gk-earlier").style.display = range.start > 0 ? "" : "none";
    document.getElementById("gk-all").style.display = ks.length < N && N <= MAX_SHOWN ? "" : "none";
    if (selected !== null && elements[selected]) elements[selected].classList.add("selected");
  }

  function drawNode(k, box, x, y, layer) {
    var n = NODES[k];
    var g = el("g", {"class": "node st-" + n.s, "data-node": n.n, "data-k": k, "data-status": n.s,
                     transform: "translate(" + x + "," + y + ")"}, layer);
    el("rect", {"class": "box", width: box.width, height: box.height, rx: 4}, g);
    el("path", {"class": "head", d: "M0,4 a4,4 0 0 1 4,-4 h" + (box.width - 8) + " a4,4 0 0 1 4,4 v16 h-" + box.width + "z"}, g);
    var op = el("text", {"class": "op", x: 8, y: 14}, g);
    op.textContent = n.op;
    if (box.badge) {
      var b = el("text", {"class": "badge", x: box.width - 6, y: 14, "text-anchor": "end"}, g);
      b.textContent = box.badge;
    }
    var name = el("text", {"class": "name", x: 8, y: 32}, g);
    name.textContent = n.n;
    box.lines.forEach(function (line, i) {
      var t = el("text", {"class": "weight", x: 8, y: 47 + 14 * i}, g);
      t.textContent = line;
    });
    g.addEventListener("mouseenter", function () { if (pinned === null) showDetails(k); });
    g.addEventListener("click", function (ev) { ev.stopPropagation(); select(k, true); });
    elements[k] = g;
  }

  function curve(points) {  // d3's curveBasis (a cubic B-spline through dagre's control points)
    var p = points, d = "M" + p[0].x + "," + p[0].y;
    if (p.length < 3) return d + "L" + p[p.length - 1].x + "," + p[p.length - 1].y;
    d += "L" + (5 * p[0].x + p[1].x) / 6 + "," + (5 * p[0].y + p[1].y) / 6;
    for (var i = 2; i < p.length; i++) {
      var a = p[i - 2], b = p[i - 1], c = p[i];
      d += "C" + (2 * a.x + b.x) / 3 + "," + (2 * a.y + b.y) / 3 + " " + (a.x + 2 * b.x) / 3 + "," + (a.y + 2 * b.y) / 3 +
           " " + (a.x + 4 * b.x + c.x) / 6 + "," + (a.y + 4 * b.y + c.y) / 6;
    }
    var y = p[p.length - 2], z = p[p.length - 1];
    d += "C" + (2 * y.x + z.x) / 3 + "," + (2 * y.y + z.y) / 3 + " " + (y.x + 2 * z.x) / 3 + "," + (y.y + 2 * z.y) / 3 +
         " " + z.x + "," + z.y;
    return d;
  }

  // ------------------------------------------------------------------ pan and zoom
  function apply() { viewport.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.s + ")"); }
  function fit() {
    var r = svg.getBoundingClientRect(), w = r.width || 800, h = r.height || 600;
    view.s = Math.min(1.2, w / graphSize.width, h / graphSize.height);
    if (view.s < 0.6) {  // too large to fit legibly: start at the first origin (or the top), readable
      view.s = 0.9;
      var first = NODES.findIndex(function (n) { return n.s === "origin"; });
      if (first >= 0 && elements[first]) { focus(first); return; }
      view.x = (w - graphSize.width * view.s) / 2; view.y = 10;
    } else {  // centred across, from the top
      view.x = (w - graphSize.width * view.s) / 2; view.y = Math.min(10, (h - graphSize.height * view.s) / 2);
    }
    apply();
  }
  function focus(k) {
    var g = elements[k];
    if (!g) return;
    var m = /translate\(([-\d.e]+),([-\d.e]+)\)/.exec(g.getAttribute("transform"));
    var r = svg.getBoundingClientRect(), box = g.firstChild;
    var cx = Number(m[1]) + Number(box.getAttribute("width")) / 2, cy = Number(m[2]) + Number(box.getAttribute("height")) / 2;
    view.s = Math.max(view.s, 0.8);
    view.x = (r.width || 800) / 2 - cx * view.s; view.y = (r.height || 600) / 2 - cy * view.s;
    apply();
  }
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var r = svg.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
    var f = Math.exp(-ev.deltaY * 0.0015), s = Math.min(4, Math.max(0.05, view.s * f));
    view.x = px - (px - view.x) * s / view.s; view.y = py - (py - view.y) * s / view.s; view.s = s;
    apply();
  }, {passive: false});
  var drag = null;
  svg.addEventListener("mousedown", function (ev) { drag = {x: ev.clientX - view.x, y: ev.clientY - view.y, moved: false}; });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    view.x = ev.clientX - drag.x; view.y = ev.clientY - drag.y; drag.moved = true;
    apply();
  });
  window.addEventListener("mouseup", function () { setTimeout(function () { drag = null; }, 0); });
  svg.addEventListener("click", function () { if (!drag || !drag.moved) { pinned = null; select(null); } });

  // ------------------------------------------------------------------ details
  var details = document.getElementById("gk-details"), pinned = null, selected = null;
  var detailsHint = details.innerHTML;
  function select(k, pin) {
    if (selected !== null && elements[selected]) elements[selected].classList.remove("selected");
    selected = k;
    pinned = pin ? k : null;
    if (k === null) { details.innerHTML = detailsHint; return; }
    if (elements[k]) elements[k].classList.add("selected");
    showDetails(k);
  }
  function nodeRef(k) {
    return "<a href='#graph' class='goto' data-goto='" + k + "'>" + esc(NODES[k].n) + "</a> (" + esc(NODES[k].op) + ")";
  }
  function statsTable(v, n) {
    var rows = [];
    Object.keys(n.x || {}).forEach(function (rt) {
      n.x[rt].forEach(function (r) {
        if (r[0] !== v) return;
        rows.push("<tr class='" + (r[1] ? "ok" : "bad") + "'><td>" + esc(rt) + "</td><td>" + num(r[2]) + "</td><td>" +
                  num(r[3]) + "</td><td>" + num(r[5]) + "</td><td>" +
                  (typeof r[6] === "number" ? (100 * r[6]).toFixed(2) + "%" : "-") + "</td><td>" +
                  (r[1] ? "ok" : "OUT") + (r[8] ? " " + esc(r[8]) : "") + "</td></tr>");
      });
    });
    if (!rows.length) return "<p class='muted'>not compared</p>";
    return "<table class='num'><tr><th>runtime</th><th>max abs</th><th>max rel</th><th>cosine</th><th>out</th><th></th></tr>" +
           rows.join("") + "</table>";
  }
  function showDetails(k) {
    var n = NODES[k], h = [];
    h.push("<h3><span class='pill st-" + n.s + "'>" + STATUS_TEXT[n.s] + "</span> " + esc(n.op) + " <b>" + esc(n.n) +
           "</b></h3><p class='muted'>position " + k + (n.d ? ", domain " + esc(n.d) : "") + "</p>");
    (n.o || []).forEach(function (o) {
      h.push("<p><b>Computes differently on its own</b> on " + esc(o.runtime) + ": local error (run alone from the " +
             "baseline's inputs) " + (o.replayed ? num(o.local_error) : "not replayed") + ", error in the full run " +
             num(o.inherited_error) + "." + (o.float64 ? " float64 from the same inputs sides with " +
             esc((o.float64.sides_with || []).join(", ") || "neither") + "." : "") + (o.note ? " " + esc(o.note) : "") + "</p>");
    });
    (n.amp || []).forEach(function (a) {
      h.push("<p><b>Amplifier</b> on " + esc(a.runtime) + ", \u00d7" + num(a.factor) + ": relative input error " +
             num(a.input_error) + " \u2192 output error " + num(a.output_error) + ". Why: " + esc(a.reason) +
             ". Run alone it agrees: its error is inherited.</p>");
    });
    if (n.s === "ok") h.push("<p>Every compared output within tolerance.</p>");
    if (n.s === "out") h.push("<p>Out of tolerance, not replayed (see the notes).</p>");
    if (n.s === "none") h.push("<p class='muted'>Not compared: a weight computed from constants, a value nothing " +
                               "reads, or fused away in the runtime's optimized graph.</p>");
    if (n.a) h.push("<p class='attrs'><b>attributes</b> " + esc(n.a) + "</p>");
    h.push("<h4>inputs</h4><ul>");
    n.in.forEach(function (v) {
      var p = VALUES[v][3];
      h.push("<li>" + esc(VALUES[v][0]) + " <span class='type'>" + esc(typeText(v)) + "</span> " +
             (p >= 0 ? "from " + nodeRef(p) : "graph input") + "</li>");
    });
    (n.w || []).forEach(function (w) {
      h.push("<li>" + esc(w[0]) + " = " + esc(w[1]) + " <span class='type'>" + esc(w[2]) + "</span> weight</li>");
    });
    h.push("</ul><h4>outputs</h4><p class='muted'>statistics against " + esc(D.versus) + "</p>");
    n.out.forEach(function (v) {
      var to = consumers[v].slice(0, 8).map(nodeRef).join(", ") + (consumers[v].length > 8 ? " ..." : "");
      h.push("<p>" + esc(VALUES[v][0]) + " <span class='type'>" + esc(typeText(v)) + "</span>" +
             (isOutput[v] ? " <b>graph output</b>" : "") + (to ? " to " + to : "") + "</p>" + statsTable(v, n));
    });
    if (!shownAll()) h.push("<p><button data-expand='" + k + "'>show its neighbourhood</button></p>");
    details.innerHTML = h.join("");
  }
  function shownAll() { return countShown() >= N; }
  details.addEventListener("click", function (ev) {
    var t = ev.target;
    if (t.dataset && t.dataset.expand !== undefined) reveal(Number(t.dataset.expand), 2);
  });
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest("a.goto") : null;
    if (!a) return;
    var k = Number(a.dataset.goto);
    reveal(k, 1);
    select(k, true);
  });

  // ------------------------------------------------------------------ controls
  document.getElementById("gk-more").addEventListener("click", function () { setRange(range.start, range.end + STEP); });
  document.getElementById("gk-earlier").addEventListener("click", function () {
    setRange(range.start - STEP, Math.min(range.end, range.start - STEP + MAX_SHOWN - outside()));
  });
  document.getElementById("gk-all").addEventListener("click", function () { setRange(0, N); fit(); });
  document.getElementById("gk-fit").addEventListener("click", fit);

  // ------------------------------------------------------------------ error strip
  function worstRow(n, rt) {
    var best = null;
    (n.x && n.x[rt] || []).forEach(function (r) {
      if (best === null || (!r[1] && best[1]) || (r[1] === best[1] && val(r[2]) > val(best[2]))) best = r;
    });
    return best;
  }
  function normalizedError(n) {  // largest error statistic over runtimes: <= 1 is within tolerance
    var e = -1;
    Object.keys(n.x || {}).forEach(function (rt) { n.x[rt].forEach(function (r) { e = Math.max(e, val(r[7])); }); });
    return e;
  }
  function strip() {
    var c = document.getElementById("gk-strip");
    var w = c.clientWidth || 1000, h = 80, dpr = window.devicePixelRatio || 1;
    c.width = w * dpr; c.height = h * dpr;
    var x = c.getContext("2d");
    x.scale(dpr, dpr);
    var errs = NODES.map(normalizedError), finite = errs.filter(function (e) { return e > 0 && isFinite(e); });
    var lo = 1e-3, hi = 10;
    finite.forEach(function (e) { lo = Math.min(lo, e); hi = Math.max(hi, e); });
    lo = Math.floor(Math.log10(lo)); hi = Math.ceil(Math.log10(hi));
    function y(e) {
      if (!(e > 0)) return h - 2;
      var l = isFinite(e) ? Math.log10(e) : hi;
      return h - 2 - (h - 6) * (l - lo) / Math.max(hi - lo, 1);
    }
    x.fillStyle = "#fff"; x.fillRect(0, 0, w, h);
    x.strokeStyle = "#999"; x.setLineDash([4, 3]); x.beginPath(); x.moveTo(0, y(1)); x.lineTo(w, y(1)); x.stroke();
    x.setLineDash([]);
    var colors = {origin: "#d32f2f", amplifier: "#f57c00", out: "#8e24aa", ok: "#388e3c", none: "#bdbdbd"};
    var bw = Math.max(1, w / Math.max(N, 1));
    NODES.forEach(function (n, k) {
      if (errs[k] < 0) return;
      x.fillStyle = colors[n.s];
      var top = y(errs[k]);
      x.fillRect(k * w / N, top, bw, h - top);
    });
    NODES.forEach(function (n, k) {
      if (n.s !== "origin") return;
      x.fillStyle = colors.origin; x.fillRect(k * w / N - 1, 0, 3, h);
    });
    x.fillStyle = "#555"; x.font = "10px sans-serif"; x.fillText("tolerance", 4, y(1) - 3);
    c.onclick = function (ev) {
      var k = Math.min(N - 1, Math.max(0, Math.floor(ev.offsetX / w * N)));
      reveal(k, 1); select(k, true);
      document.getElementById("graph").scrollIntoView();
    };
  }

  // ------------------------------------------------------------------ per-node table
  var RT = D.runtimes;
  var rows = [];
  NODES.forEach(function (n, k) { if (n.x) rows.push(k); });
  var columns = [
    {name: "#", asc: true, get: function (k) { return k; }},
    {name: "node", get: function (k) { return NODES[k].n; }, text: true, html: function (k) { return nodeRefShort(k); }},
    {name: "op", get: function (k) { return NODES[k].op; }, text: true},
    {name: "status", asc: true, get: function (k) { return STATUS_ORDER[NODES[k].s]; },
     html: function (k) { return "<span class='pill st-" + NODES[k].s + "'>" + STATUS_TEXT[NODES[k].s] + "</span>"; }},
    {name: "local error", title: "run alone from the baseline's inputs (replayed nodes)", get: function (k) {
      var o = (NODES[k].o || []).filter(function (r) { return r.replayed; });
      return o.length ? Math.max.apply(null, o.map(function (r) { return val(r.local_error); })) : null; }},
    {name: "factor", title: "amplification: relative output error / relative input error", get: function (k) {
      return NODES[k].amp ? worstFactor(NODES[k]) : null; }},
  ];
  function nodeRefShort(k) { return "<a href='#graph' class='goto' data-goto='" + k + "'>" + esc(NODES[k].n) + "</a>"; }
  RT.forEach(function (rt) {
    [["max abs", 2], ["max rel", 3], ["out %", 6], ["cosine", 5]].forEach(function (c) {
      columns.push({name: c[0], title: rt + " against " + D.versus + ": " + c[0], get: function (k) { var r = worstRow(NODES[k], rt); return r ? val(r[c[1]]) : null; },
                    html: c[1] === 6 ? function (k) { var r = worstRow(NODES[k], rt);
                      return r && typeof r[6] === "number" ? (100 * r[6]).toFixed(2) + "%" : "-"; } : null});
    });
  });
  var sortCol = 0, sortDir = 1, page = 0, filtered = rows.slice();
  function compare(a, b) {
    var c = columns[sortCol], x = c.get(a), y = c.get(b);
    if (c.text) return sortDir * String(x).localeCompare(String(y));
    var xn = x === null || isNaN(x), yn = y === null || isNaN(y);
    if (xn || yn) return xn === yn ? a - b : (xn ? 1 : -1);  // nothing to sort by: last either way
    return sortDir * (x - y) || a - b;
  }
  function refilter() {
    var q = document.getElementById("gk-filter").value.toLowerCase(), st = document.getElementById("gk-status").value;
    filtered = rows.filter(function (k) {
      var n = NODES[k];
      return (!st || n.s === st) && (!q || n.n.toLowerCase().indexOf(q) >= 0 || n.op.toLowerCase().indexOf(q) >= 0);
    });
    filtered.sort(compare);
    page = 0;
    renderTable();
  }
  function renderTable() {
    var head = document.getElementById("gk-thead"), body = document.getElementById("gk-tbody");
    head.innerHTML = "<tr><th colspan='" + (columns.length - 4 * RT.length) + "'></th>" + RT.map(function (rt) {
      return "<th colspan='4' class='group'>" + esc(rt) + " against " + esc(D.versus) + "</th>";
    }).join("") + "</tr><tr>" + columns.map(function (c, i) {
      return "<th data-col='" + i + "'" + (c.title ? " title='" + esc(c.title) + "'" : "") + ">" + esc(c.name) +
             (i === sortCol ? (sortDir > 0 ? " \u25b2" : " \u25bc") : "") + "</th>";
    }).join("") + "</tr>";
    var pages = Math.max(1, Math.ceil(filtered.length / PAGE));
    page = Math.min(page, pages - 1);
    var part = filtered.slice(page * PAGE, (page + 1) * PAGE);
    body.innerHTML = part.map(function (k) {
      return "<tr data-row='" + k + "' class='st-" + NODES[k].s + "'>" + columns.map(function (c) {
        var v = c.html ? c.html(k) : (c.text ? esc(c.get(k)) : num(c.get(k)));
        return "<td>" + v + "</td>";
      }).join("") + "</tr>";
    }).join("");
    document.getElementById("gk-page").textContent = filtered.length ?
      "rows " + (page * PAGE + 1) + "\u2013" + (page * PAGE + part.length) + " of " + filtered.length +
      " (page " + (page + 1) + " of " + pages + ")" : "no node matches";
    document.getElementById("gk-prev").disabled = page === 0;
    document.getElementById("gk-next").disabled = page >= pages - 1;
  }
  document.getElementById("gk-thead").addEventListener("click", function (ev) {
    var th = ev.target.closest("th");
    if (!th || th.dataset.col === undefined) return;
    var i = Number(th.dataset.col);
    if (i === sortCol) sortDir = -sortDir; else { sortCol = i; sortDir = columns[i].text || columns[i].asc ? 1 : -1; }
    filtered.sort(compare);
    renderTable();
  });
  document.getElementById("gk-filter").addEventListener("input", refilter);
  document.getElementById("gk-status").addEventListener("change", refilter);
  document.getElementById("gk-prev").addEventListener("click", function () { page--; renderTable(); });
  document.getElementById("gk-next").addEventListener("click", function () { page++; renderTable(); });
  document.getElementById("gk-tbody").addEventListener("click", function (ev) {
    var tr = ev.target.closest("tr");
    if (!tr || ev.target.closest("a")) return;
    var k = Number(tr.dataset.row);
    reveal(k, 1); select(k, true);
    document.getElementById("graph").scrollIntoView();
  });

  // ------------------------------------------------------------------ links to the repro bundle
  if (location.protocol === "file:") {  // the page's folder was not known when it was written
    var here = decodeURIComponent(location.pathname).split("/").slice(0, -1);
    Array.prototype.forEach.call(document.querySelectorAll("a[data-abs]"), function (a) {
      var there = decodeURIComponent(a.dataset.abs).split("/"), i = 0;
      while (i < here.length && i < there.length - 1 && here[i] === there[i]) i++;
      var rel = new Array(here.length - i + 1).join("../") + there.slice(i).join("/");
      a.setAttribute("href", rel.split("/").map(encodeURIComponent).join("/"));
      if (a.nextElementSibling) a.nextElementSibling.textContent = "(" + rel + ")";
    });
  }

  initialSet();
  draw();
  fit();
  strip();
  refilter();
  document.body.setAttribute("data-ready", "1");
})();
