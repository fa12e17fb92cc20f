import Foundation

/// `nettrail report`: one HTML file that opens offline. The data is JSON in a
/// `<script type="application/json">` element and the page's script builds the DOM with
/// textContent only, so argv or a comm holding markup stays text.
public enum ReportHTML {
    public static func render(_ model: ReportModel) throws -> String {
        page.head + (try embeddable(model)) + page.tail
    }

    /// JSON that cannot end its script element or open a comment: `<`, `>` and `&` as \u escapes.
    static func embeddable(_ model: ReportModel) throws -> String {
        let json = String(decoding: try JSONEncoder().encode(model), as: UTF8.self)
        var out = ""
        out.reserveCapacity(json.utf8.count)
        for ch in json.unicodeScalars {
            switch ch {
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// The page around the data: split where the JSON goes, so no data is ever substituted into markup.
    static let page: (head: String, tail: String) = {
        let parts = template.components(separatedBy: "@@DATA@@")
        precondition(parts.count == 2)
        return (parts[0], parts[1])
    }()

    static let template = #"""
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>nettrail report</title>
<style>
body{font:12px/1.3 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{padding:8px 12px;background:#fff;border-bottom:1px solid #ddd;position:sticky;top:0;z-index:5}
h1{font-size:15px;margin:0 0 4px}
#notes{margin:4px 0;padding-left:18px;color:#8a4b00}
#search{width:340px;padding:3px 6px}
#count{margin-left:8px;color:#666}
#chart{position:relative;margin:0 12px 12px}
.axis{height:18px;margin-left:260px;position:relative;border-bottom:1px solid #aaa}
.tick{position:absolute;top:2px;white-space:nowrap;font-size:10px;color:#555;border-left:1px solid #aaa;padding-left:2px;height:14px}
.group>h2{font-size:12px;margin:8px 0 2px;padding:2px 4px;background:#e8eef6}
.group.kernel>h2{background:#eee}
.lane{display:flex;border-bottom:1px solid #eee}
.lane.hit{background:#fff7c2}
.label{width:256px;flex:none;padding:1px 4px 1px 0;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;font-family:ui-monospace,monospace;font-size:11px;cursor:pointer}
.track{position:relative;flex:1;min-height:16px}
.proc{position:absolute;top:3px;height:8px;background:#9db7d5;border-radius:2px;min-width:2px;cursor:pointer}
.proc.snap{background:#c3cfdd}
.conn{position:absolute;height:5px;min-width:3px;border-radius:1px;cursor:pointer;background:#2f7d32}
.conn.inbound{background:#6a3fa0}.conn.udp{background:#c77700}.conn.unknown{background:#777}
.conn.hit{outline:2px solid #e00;z-index:2}
.loss{position:absolute;top:0;bottom:0;background:rgba(220,40,40,.15);border-left:1px solid rgba(220,40,40,.5);min-width:2px;z-index:1;pointer-events:auto}
#losslayer{position:absolute;top:0;bottom:0;left:260px;right:0;pointer-events:none}
#detail{position:fixed;right:12px;bottom:12px;max-width:560px;max-height:45vh;overflow:auto;background:#fff;border:1px solid #999;padding:8px;box-shadow:0 2px 8px rgba(0,0,0,.2);display:none;z-index:10}
#detail dt{font-weight:bold;margin-top:3px}#detail dd{margin:0 0 0 10px;font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
.legend span{display:inline-block;width:14px;height:6px;margin:0 3px 0 10px}
</style></head>
<body>
<script>
window.onerror = function (msg, src, line) { document.body.dataset.error = String(msg) + " (line " + line + ")"; };
</script>
<header>
<h1 id="title"></h1>
<div id="span"></div>
<ul id="notes"></ul>
<input id="search" type="search" placeholder="search pid, address, program or name">
<span id="count"></span>
<span class="legend"><span style="background:#9db7d5"></span>process
<span style="background:#2f7d32"></span>TCP out<span style="background:#6a3fa0"></span>TCP in
<span style="background:#c77700"></span>UDP<span style="background:rgba(220,40,40,.3)"></span>loss</span>
</header>
<div id="chart"><div id="losslayer"></div></div>
<dl id="detail"></dl>
<script type="application/json" id="data">@@DATA@@</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("data").textContent);
  var dur = data.duration > 0 ? data.duration : 1;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function pct(ms) { return (100 * Math.max(0, Math.min(ms, dur)) / dur) + "%"; }
  function place(e, a, b) { e.style.left = pct(a); e.style.width = "calc(" + pct(b) + " - " + pct(a) + ")"; }
  function secs(ms) { return (ms / 1000).toFixed(ms >= 10000 ? 0 : ms >= 1000 ? 1 : 3) + " s"; }

  document.getElementById("title").textContent = "nettrail report: " + data.title;
  document.getElementById("span").textContent = "capture " + data.span + "; axis from " + data.origin + ", " + secs(data.duration);
  var notes = document.getElementById("notes");
  data.notes.forEach(function (n) { notes.appendChild(el("li", null, n)); });

  var detail = document.getElementById("detail");
  function show(pairs) {
    detail.textContent = "";
    pairs.forEach(function (p) {
      if (p[1] === null || p[1] === undefined || p[1] === "") return;
      detail.appendChild(el("dt", null, p[0]));
      detail.appendChild(el("dd", null, p[1]));
    });
    detail.style.display = "block";
  }
  function laneInfo(l) {
    return [["process", "pid " + l.pid + " " + l.program], ["comm", l.comm], ["exe", l.exe],
            ["argv", l.argv.length ? JSON.stringify(l.argv) : ""], ["parent pid", l.ppid],
            ["container", l.container || "host"], ["started", l.startText], ["exited", l.exitText || "not seen to exit"]];
  }
  function connInfo(c) {
    return [["connection", c.proto + " " + c.local + " -> " + c.remote], ["direction", c.direction], ["state", c.state],
            ["NAT", c.nat ? c.local + " -> " + c.remote + "  \u21c4  " + c.nat : ""], ["DNS name", c.dns],
            ["owner", c.pid !== null && c.pid !== undefined ? "pid " + c.pid + " " + c.comm : "unknown"],
            ["start", c.startText], ["end", c.endText || "open when the capture ended"]];
  }
  function tip(pairs) { return pairs.filter(function (p) { return p[1] !== null && p[1] !== undefined && p[1] !== ""; })
                                  .map(function (p) { return p[0] + ": " + p[1]; }).join("\n"); }

  var chart = document.getElementById("chart");
  var axis = el("div", "axis");
  var step = Math.pow(10, Math.floor(Math.log10(dur / 5)));
  if (dur / step > 12) step *= 2; if (dur / step > 12) step *= 2.5;
  for (var t = 0; t <= dur - step / 3; t += step) {
    var tk = el("div", "tick", "+" + secs(t)); tk.style.left = pct(t); axis.appendChild(tk);
  }
  chart.appendChild(axis);

  var byLane = {}, unowned = [];
  data.connections.forEach(function (c) {
    if (c.lane === null || c.lane === undefined) unowned.push(c); else (byLane[c.lane] = byLane[c.lane] || []).push(c);
  });
  var rows = [];   // {row, group, text, conns:[{el, text}]}
  function connBars(track, list) {
    var ends = [];   // greedy packing: a connection goes in the first sub-row free at its start
    list.forEach(function (c) {
      var r = 0; while (r < ends.length && ends[r] > c.start) r++;
      ends[r] = Math.max(c.end, c.start + dur / 400);
      var b = el("div", "conn " + c.proto + " " + c.direction.replace(/ /g, "-"));
      place(b, c.start, c.end);
      b.style.top = (13 + 6 * r) + "px";
      b.title = tip(connInfo(c));
      b.addEventListener("click", function (ev) { ev.stopPropagation(); show(connInfo(c)); });
      track.appendChild(b);
      c._el = b;
    });
    track.style.height = (15 + 6 * Math.max(ends.length, 0)) + "px";
  }
  function connText(c) { return [c.local, c.remote, c.nat, c.dns, c.pid, c.comm, c.proto].join(" ").toLowerCase(); }

  data.groups.concat(unowned.length ? [{name: "connections without a drawn owner", kind: "unowned", lanes: [null]}] : [])
    .forEach(function (g) {
    var ge = el("section", "group " + g.kind);
    ge.appendChild(el("h2", null, g.name + " \u2014 " + (g.kind === "unowned" ? unowned.length + " connections" : g.lanes.length + " processes")));
    g.lanes.forEach(function (l) {
      var row = el("div", "lane"), track = el("div", "track");
      var conns = l ? (byLane[l.id] || []) : unowned;
      var label = el("div", "label", l ? l.pid + " " + l.program : "owner unknown");
      row.appendChild(label); row.appendChild(track);
      if (l) {
        row.dataset.pid = String(l.pid);
        var bar = el("div", "proc" + (l.fromSnapshot ? " snap" : ""));
        place(bar, l.start, l.end);
        label.title = bar.title = tip(laneInfo(l));
        label.addEventListener("click", function () { show(laneInfo(l)); });
        bar.addEventListener("click", function () { show(laneInfo(l)); });
        track.appendChild(bar);
      }
      connBars(track, conns);
      ge.appendChild(row);
      rows.push({row: row, group: ge,
                 text: l ? [l.pid, l.program, l.comm, l.exe, l.argv.join(" "), l.container].join(" ").toLowerCase() : "",
                 conns: conns.map(function (c) { return {el: c._el, text: connText(c)}; })});
    });
    chart.appendChild(ge);
  });

  var layer = document.getElementById("losslayer");
  data.losses.forEach(function (x) {
    var s = el("div", "loss"); place(s, x.start, x.end); s.title = x.text; layer.appendChild(s);
  });

  var count = document.getElementById("count");
  function filter(q) {
    q = q.trim().toLowerCase();
    var shown = 0, groups = new Map();
    rows.forEach(function (r) {
      var hits = 0;
      r.conns.forEach(function (c) { var h = q !== "" && c.text.indexOf(q) >= 0; c.el.classList.toggle("hit", h); if (h) hits++; });
      var match = q === "" || hits > 0 || r.text.indexOf(q) >= 0;
      r.row.style.display = match ? "" : "none";
      r.row.classList.toggle("hit", q !== "" && match);
      if (match) { shown++; groups.set(r.group, true); }
    });
    rows.forEach(function (r) { r.group.style.display = groups.has(r.group) ? "" : "none"; });
    count.textContent = q === "" ? rows.length + " lanes, " + data.connections.length + " connections"
                                 : shown + " of " + rows.length + " lanes match";
  }
  document.getElementById("search").addEventListener("input", function (ev) { filter(ev.target.value); });
  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") detail.style.display = "none"; });
  var initial = new URLSearchParams(location.search).get("q") || "";
  if (initial) document.getElementById("search").value = initial;
  filter(initial);
  document.body.dataset.rendered = "ok";
})();
</script>
</body></html>
"""#
}
