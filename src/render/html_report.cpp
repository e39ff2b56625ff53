#include "fputrace/html_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <functional>
#include <map>
#include <utility>

#include "fputrace/escape.hpp"
#include "fputrace/findings_out.hpp"

namespace fputrace {

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

using Out = std::function<void(std::string_view)>;

// ---- geometry ----

constexpr double kLabelW = 240;  // the task labels, left of the plot
constexpr double kPlotW = 940;
constexpr double kRightPad = 20;
constexpr double kAxisH = 36;
constexpr double kRowH = 26;   // a row's own lane: work items, requests, markers
constexpr double kLaneH = 16;  // one more lane per pin that came from the task

struct Row {
  Task task;
  double y = 0;
  double height = kRowH;
  std::vector<size_t> pins;  // indexes into Timeline::pins, one lane each
};

// Maps CLOCK_MONOTONIC ns to x, with a margin so instants at the ends show.
class Scale {
 public:
  explicit Scale(const Timeline& tl) {
    uint64_t span = std::max<uint64_t>(tl.end_ns - tl.start_ns, 1000);
    margin_ = static_cast<double>(span) * 0.02;
    t0_ = static_cast<double>(tl.start_ns);
    span_ = static_cast<double>(span) + 2 * margin_;
  }
  double x(uint64_t ns) const { return kLabelW + (static_cast<double>(ns) - t0_ + margin_) / span_ * kPlotW; }
  double t0() const { return t0_; }
  double span() const { return span_; }
  double margin() const { return margin_; }

 private:
  double t0_ = 0, span_ = 1, margin_ = 0;
};

std::string esc(std::string_view s) {
  return html_escape(s);
}
std::string ms_since(const Timeline& tl, uint64_t ns) {
  return fmt::format("+{:.3f} ms", (static_cast<double>(ns) - static_cast<double>(tl.start_ns)) / 1e6);
}
// Names are bytes (escape.hpp): printable() makes them valid UTF-8 without
// control characters, esc() then makes them HTML.
std::string path_of(const Pin& p) {
  return printable(full_path(p.mount, p.file));
}
std::string label(const Task& t) {
  if (t.tid == t.tgid) return fmt::format("{} ({})", printable(t.comm), t.tgid);
  return fmt::format("{} ({}/{})", printable(t.comm), t.tgid, t.tid);
}
std::string who(const Task& t) {
  return fmt::format("{} (pid {}, tid {})", printable(t.comm), t.tgid, t.tid);
}
bool is_kernel(const Task& t) {
  return t.kernel_thread();
}

using TaskKey = std::pair<uint32_t, uint32_t>;  // (tgid, tid)

TaskKey key_of(const Task& t) {
  return {t.tgid, t.tid};
}

// The rows, and for each what is drawn on it (indexes into the timeline),
// sorted out in one pass over each kind: linear in the timeline.
struct Layout {
  std::vector<Row> rows;
  std::map<TaskKey, size_t> row_at;
  std::vector<std::vector<size_t>> work, requests, umounts, exits;

  const Row* row_of(const Task& t) const {
    auto it = row_at.find(key_of(t));
    return it == row_at.end() ? nullptr : &rows[it->second];
  }
  // Files index i under the row of task t, if it has one.
  void file(std::vector<std::vector<size_t>>& by_row, const Task& t, size_t i) const {
    if (auto it = row_at.find(key_of(t)); it != row_at.end()) by_row[it->second].push_back(i);
  }
};

// User tasks first (the story starts there), then kernel threads; each in
// order of first appearance.
Layout layout_rows(const Timeline& tl) {
  Layout l;
  for (bool kernel : {false, true})
    for (const Task& t : tl.tasks)
      if (is_kernel(t) == kernel && l.row_at.emplace(key_of(t), l.rows.size()).second) l.rows.push_back(Row{t});
  for (size_t i = 0; i < tl.pins.size(); ++i)
    if (auto it = l.row_at.find(key_of(tl.pins[i].pin.origin)); it != l.row_at.end())
      l.rows[it->second].pins.push_back(i);
  double y = kAxisH;
  for (Row& r : l.rows) {
    r.y = y;
    r.height = kRowH + kLaneH * static_cast<double>(r.pins.size());
    y += r.height;
  }
  for (auto* by_row : {&l.work, &l.requests, &l.umounts, &l.exits}) by_row->resize(l.rows.size());
  for (size_t i = 0; i < tl.work.size(); ++i) l.file(l.work, tl.work[i].task, i);
  for (size_t i = 0; i < tl.requests.size(); ++i) l.file(l.requests, tl.requests[i].submitter, i);
  for (size_t i = 0; i < tl.umounts.size(); ++i) l.file(l.umounts, tl.umounts[i].event.task, i);
  for (size_t i = 0; i < tl.exits.size(); ++i) l.file(l.exits, tl.exits[i].task, i);
  return l;
}

// ---- SVG pieces ----

std::string rect(double x0, double x1, double y, double h, const std::string& cls) {
  return fmt::format("<rect class=\"{}\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" rx=\"2\"/>", cls,
                     x0, y, std::max(x1 - x0, 2.0), h);
}

std::string axis(const Timeline& tl, const Scale& sc, double height) {
  // Ticks at 1/2/5 x 10^n ns, about eight across the plot.
  double raw = sc.span() / 8;
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = raw <= mag ? mag : raw <= 2 * mag ? 2 * mag : raw <= 5 * mag ? 5 * mag : 10 * mag;
  int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step / 1e6))));
  std::string out = "<g class=\"axis\">";
  for (double t = 0; t <= sc.span() - sc.margin(); t += step) {
    double x = sc.x(tl.start_ns + static_cast<uint64_t>(t));
    out += fmt::format("<line class=\"tick\" x1=\"{0:.2f}\" x2=\"{0:.2f}\" y1=\"{1}\" y2=\"{2:.2f}\"/>", x, kAxisH - 6,
                       height);
    out += fmt::format("<text class=\"tick-label\" x=\"{:.2f}\" y=\"{}\">+{:.{}f} ms</text>", x, kAxisH - 10, t / 1e6,
                       decimals);
  }
  return out + "</g>\n";
}

std::string work_bars(const Timeline& tl, const Scale& sc, const Row& row, const std::vector<size_t>& mine) {
  std::string out;
  for (size_t i : mine) {
    const WorkSlice& w = tl.work[i];
    bool ring = w.kind == EventType::RingExit;
    std::string what = ring ? fmt::format("io_ring_exit_work ring {:#x}", w.ring) : "delayed_fput";
    out += fmt::format("<g class=\"work {}\" data-start-ns=\"{}\" data-end-ns=\"{}\"><title>{} {} .. {}{}{}</title>",
                       ring ? "ring-exit" : "delayed-fput", w.start_ns, w.end_ns, esc(what), ms_since(tl, w.start_ns),
                       ms_since(tl, w.end_ns), w.started_before_log ? " (began before the log)" : "",
                       w.unfinished ? " (still running at the end)" : "");
    out += rect(sc.x(w.start_ns), sc.x(w.end_ns), row.y + 5, kRowH - 10, "bar") + "</g>";
  }
  return out;
}

std::string request_bars(const Timeline& tl, const Scale& sc, const Row& row, const std::vector<size_t>& mine) {
  std::string out;
  for (size_t i : mine) {
    const RequestSpan& r = tl.requests[i];
    std::string done =
        r.completer ? fmt::format("completed by {} ret {}", who(*r.completer), r.ret) : "never completed";
    out += fmt::format(
        "<g class=\"request {}\" data-req=\"{:#x}\"><title>{} {} req {:#x} user_data {} {} .. {}, {}</title>",
        r.aio ? "aio" : "uring", r.req, r.aio ? "aio" : "io_uring", esc(printable(r.path)), r.req, r.user_data,
        ms_since(tl, r.start_ns), ms_since(tl, r.end_ns), esc(done));
    out += rect(sc.x(r.start_ns), sc.x(r.end_ns), row.y + 9, kRowH - 18, "bar") + "</g>";
  }
  return out;
}

std::string pin_title(const Timeline& tl, const PinWindow& w) {
  const Pin& p = w.pin;
  std::string title =
      fmt::format("{} ino {}: {} via {} [{}] {}; deferred {}", path_of(p), p.file.ino, who(p.origin),
                  to_string(p.source), to_string(p.confidence), printable(p.why), ms_since(tl, w.start_ns));
  if (w.released)
    title += fmt::format(", released {} by {} [{}]", ms_since(tl, w.end_ns), who(w.released->actor),
                         to_string(w.released->release_confidence));
  else
    title += ", never released in this log";
  return title;
}

std::string pin_bars(const Timeline& tl, const Scale& sc, const Row& row) {
  std::string out;
  for (size_t lane = 0; lane < row.pins.size(); ++lane) {
    size_t i = row.pins[lane];
    const PinWindow& w = tl.pins[i];
    double y = row.y + kRowH + kLaneH * static_cast<double>(lane);
    out += fmt::format(
        "<g class=\"pin-window\" id=\"pin-{}\" data-ino=\"{}\" data-origin-tgid=\"{}\" data-file=\"{}\" "
        "data-released=\"{}\"><title>{}</title>",
        i, w.pin.file.ino, w.pin.origin.tgid, esc(path_of(w.pin)), w.released ? "true" : "false",
        esc(pin_title(tl, w)));
    // One segment per holder: the color says who held the mount at the time.
    for (size_t s = 0; s < w.stages.size(); ++s) {
      uint64_t end = s + 1 < w.stages.size() ? w.stages[s + 1].start_ns : w.end_ns;
      out += rect(sc.x(w.stages[s].start_ns), sc.x(end), y + 1, kLaneH - 3,
                  fmt::format("pin-stage holder-{}", to_string(w.stages[s].holder)));
    }
    out += fmt::format("<text class=\"pin-label\" x=\"{:.2f}\" y=\"{:.2f}\">{}</text></g>", sc.x(w.start_ns) + 4,
                       y + kLaneH - 5, esc(path_of(w.pin)));
  }
  return out;
}

std::string umount_class(const UmountMark& m) {
  if (m.event.ret == 0) return "umount umount-ok";
  return m.event.ret == -EBUSY ? "umount umount-busy" : "umount umount-failed";
}

std::string umount_marks(const Timeline& tl, const Scale& sc, const Row& row, const std::vector<size_t>& mine) {
  std::string out;
  for (size_t i : mine) {
    const UmountMark& m = tl.umounts[i];
    std::string result = m.event.ret == 0        ? "ok"
                         : m.event.ret == -EBUSY ? "EBUSY"
                                                 : fmt::format("errno {}", -m.event.ret);
    std::string why = m.busy ? fmt::format(": {} deferred release(s) hold it", m.busy->pins.size()) : "";
    double x = sc.x(m.event.time_ns), cy = row.y + kRowH / 2;
    out += fmt::format(
        "<g class=\"{}\" id=\"umount-{}\" data-time-ns=\"{}\" data-result=\"{}\"><title>umount {} {} {}{}</title>",
        umount_class(m), i, m.event.time_ns, result, esc(printable(m.event.path)), result,
        ms_since(tl, m.event.time_ns), esc(why));
    out += fmt::format("<path d=\"M{0:.2f},{1:.2f} l6,6 l-6,6 l-6,-6 z\"/></g>", x, cy - 6);
  }
  return out;
}

std::string exit_marks(const Timeline& tl, const Scale& sc, const Row& row, const std::vector<size_t>& mine) {
  std::string out;
  for (size_t i : mine) {
    const Event& e = tl.exits[i];
    double x = sc.x(e.time_ns), cy = row.y + kRowH / 2;
    out += fmt::format("<g class=\"task-exit\" data-tid=\"{}\"><title>{} exited {}</title>", e.task.tid,
                       esc(who(e.task)), ms_since(tl, e.time_ns));
    out += fmt::format("<path d=\"M{0:.2f},{1:.2f} l10,10 m0,-10 l-10,10\"/></g>", x - 5, cy - 5);
  }
  return out;
}

std::string task_row(const Timeline& tl, const Scale& sc, const Layout& l, size_t n) {
  const Row& r = l.rows[n];
  std::string out =
      fmt::format("<g class=\"task-row{}\" id=\"row-{}-{}\" data-tgid=\"{}\" data-tid=\"{}\" data-comm=\"{}\">\n",
                  is_kernel(r.task) ? " kernel" : "", r.task.tgid, r.task.tid, r.task.tgid, r.task.tid,
                  esc(printable(r.task.comm)));
  out += fmt::format("<rect class=\"row-bg {}\" x=\"0\" y=\"{:.2f}\" width=\"{}\" height=\"{:.2f}\"/>",
                     n % 2 ? "odd" : "even", r.y, kLabelW + kPlotW + kRightPad, r.height);
  out += fmt::format("<text class=\"row-label\" x=\"8\" y=\"{:.2f}\">{}</text>\n", r.y + kRowH / 2 + 4,
                     esc(label(r.task)));
  out += work_bars(tl, sc, r, l.work[n]) + request_bars(tl, sc, r, l.requests[n]) + pin_bars(tl, sc, r) +
         exit_marks(tl, sc, r, l.exits[n]) + umount_marks(tl, sc, r, l.umounts[n]);
  return out + "\n</g>\n";
}

// Origin -> release: from the pin's lane where it began to the releasing task.
void release_arrows(const Timeline& tl, const Scale& sc, const Layout& l, const Out& write) {
  for (const Row& r : l.rows)
    for (size_t lane = 0; lane < r.pins.size(); ++lane) {
      const PinWindow& w = tl.pins[r.pins[lane]];
      const Row* to = w.released ? l.row_of(w.released->actor) : nullptr;
      if (!to) continue;
      double x0 = sc.x(w.pin.since_ns), y0 = r.y + kRowH + kLaneH * static_cast<double>(lane) + kLaneH / 2;
      double x1 = sc.x(w.end_ns), y1 = to->y + kRowH / 2;
      write(
          fmt::format("<path class=\"release-arrow\" data-pin=\"pin-{}\" marker-end=\"url(#arrow)\" "
                      "d=\"M{:.2f},{:.2f} C{:.2f},{:.2f} {:.2f},{:.2f} {:.2f},{:.2f}\"/>\n",
                      r.pins[lane], x0, y0, (x0 + x1) / 2, y0, (x0 + x1) / 2, y1, x1, y1));
    }
}

// Guides from each EBUSY through every row: which pins span it is then plain.
void busy_guides(const Timeline& tl, const Scale& sc, double height, const Out& write) {
  for (const UmountMark& m : tl.umounts)
    if (m.event.ret == -EBUSY)
      write(fmt::format("<line class=\"busy-guide\" x1=\"{0:.2f}\" x2=\"{0:.2f}\" y1=\"{1}\" y2=\"{2:.2f}\"/>",
                        sc.x(m.event.time_ns), kAxisH, height));
}

void timeline_svg(const Timeline& tl, const Out& write) {
  Scale sc(tl);
  Layout l = layout_rows(tl);
  double height = l.rows.empty() ? kAxisH + kRowH : l.rows.back().y + l.rows.back().height;
  double width = kLabelW + kPlotW + kRightPad;
  write(fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" width=\"{0}\" height=\"{1:.0f}\" "
      "viewBox=\"0 0 {0} {1:.0f}\" role=\"img\" aria-label=\"timeline of tasks, pins and umount attempts\">\n"
      "<defs><marker id=\"arrow\" viewBox=\"0 0 8 8\" refX=\"7\" refY=\"4\" markerWidth=\"8\" markerHeight=\"8\" "
      "orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" class=\"arrow-head\"/></marker></defs>\n",
      width, height + 4));
  // The axis goes first so its grid shows through the translucent row backgrounds.
  write(axis(tl, sc, height));
  for (size_t i = 0; i < l.rows.size(); ++i) write(task_row(tl, sc, l, i));
  busy_guides(tl, sc, height, write);
  release_arrows(tl, sc, l, write);
  write("</svg>\n");
}

// ---- the page ----

constexpr const char* kStyle = R"(
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.4em; margin: 0 0 .3em; } h2 { font-size: 1.15em; margin: 1.4em 0 .5em; }
.meta { color: #555; margin: 0 0 1em; } .meta span { margin-right: 1.5em; }
.scroll { overflow-x: auto; border: 1px solid #ddd; }
svg.timeline text { font: 12px ui-monospace, monospace; fill: #222; }
.row-bg { fill-opacity: .6; } .row-bg.even { fill: #fafafa; } .row-bg.odd { fill: #ececec; }
.task-row.kernel .row-label { fill: #555; font-style: italic; }
.tick { stroke: #ddd; } svg.timeline .tick-label { fill: #777; font-size: 10px; text-anchor: middle; }
.pin-stage { fill-opacity: .85; }
svg.timeline .pin-label { font-size: 10px; fill: #fff; paint-order: stroke; stroke: #333; stroke-width: 2.5px; }
.umount-failed path { fill: #999; stroke: #444; }
.busy-guide { stroke: #d62728; stroke-opacity: .35; stroke-dasharray: 3 3; }
.task-exit path { stroke: #000; stroke-width: 2.5; }
.release-arrow { fill: none; stroke: #444; stroke-width: 1.3; stroke-dasharray: 5 3; } .arrow-head { fill: #444; }
.legend span { display: inline-block; margin-right: 1.2em; } .legend i { display: inline-block; width: 14px;
  height: 10px; margin-right: .35em; vertical-align: middle; border-radius: 2px; }
pre.explanation { background: #fff4f4; border-left: 4px solid #d62728; padding: .5em .8em; white-space: pre-wrap; }
table { border-collapse: collapse; font-size: 13px; } td, th { border: 1px solid #ddd; padding: 3px 6px;
  text-align: left; vertical-align: top; } th { background: #f4f4f4; }
)";

// The colour of each kind of mark: one table for the style sheet and the legend.
struct Colour {
  const char* selector;
  const char* fill;
  const char* stroke;  // nullptr: none
  const char* legend;  // nullptr: not in the legend
};
constexpr Colour kColours[] = {
    {".work.ring-exit .bar", "#7b61c9", nullptr, "io_ring_exit_work"},
    {".work.delayed-fput .bar", "#2b7bb9", nullptr, "delayed_fput run"},
    {".request.uring .bar", "#b59ce8", nullptr, "io_uring request"},
    {".request.aio .bar", "#f0a04b", nullptr, "aio request"},
    {".holder-io_uring", "#c2459b", nullptr, "pin held by io_uring"},
    {".holder-aio", "#e67e22", nullptr, "pin held by aio"},
    {".holder-delayed_fput", "#3498db", nullptr, "pin held by delayed_fput"},
    {".holder-task_work", "#16a085", nullptr, nullptr},
    {".umount-busy path", "#d62728", "#7a0000", "umount EBUSY"},
    {".umount-ok path", "#2ca02c", "#0b5d0b", "umount ok"},
};

std::string colour_rules() {
  std::string css;
  for (const Colour& c : kColours)
    css += c.stroke ? fmt::format("{} {{ fill: {}; stroke: {}; }}\n", c.selector, c.fill, c.stroke)
                    : fmt::format("{} {{ fill: {}; }}\n", c.selector, c.fill);
  return css;
}

std::string legend() {
  std::string html = R"(<p class="legend">)";
  for (const Colour& c : kColours)
    if (c.legend) html += fmt::format(R"(<span><i style="background:{}"></i>{}</span>)", c.fill, c.legend);
  return html + R"(<span>&#x2715; exit</span><span>&#x21e2; origin &#x2192; release</span></p>)"
                "\n";
}

std::string header(const Timeline& tl, const TraceMeta& meta) {
  std::string backend = meta.backend.empty() && tl.backend ? std::string(to_string(*tl.backend)) : meta.backend;
  auto item = [](const char* k, const std::string& v) {
    return v.empty() ? std::string() : fmt::format("<span><b>{}</b> {}</span>", k, esc(printable(v)));
  };
  return "<h1>fputrace: why umount said EBUSY</h1>\n<p class=\"meta\">" + item("kernel", meta.kernel) +
         item("backend", backend) + item("command", meta.command) + item("recorded", meta.recorded_at) +
         item("events", std::to_string(tl.events)) +
         item("span", fmt::format("{:.3f} ms from {:.6f} s", static_cast<double>(tl.end_ns - tl.start_ns) / 1e6,
                                  static_cast<double>(tl.start_ns) / 1e9)) +
         "</p>\n";
}

void explanations(const Timeline& tl, const Out& write) {
  write("<h2 id=\"explanations\">Why umount failed</h2>\n");
  size_t n = 0;
  for (const Finding& f : tl.findings)
    if (f.kind == Finding::Kind::UmountBusy)
      write(fmt::format("<pre class=\"explanation\" id=\"busy-{}\">{}</pre>\n", n++, esc(finding_to_text(f))));
  if (n == 0) write("<p class=\"none\">No umount failed with EBUSY in this log.</p>\n");
}

std::string pin_row(const Timeline& tl, const PinWindow& w, size_t i) {
  const Pin& p = w.pin;
  std::string holders;
  for (const auto& s : w.stages) holders += (holders.empty() ? "" : " &#x2192; ") + std::string(to_string(s.holder));
  std::string released =
      w.released
          ? fmt::format("{} by {} [{}], held {:.3f} ms", ms_since(tl, w.end_ns), esc(who(w.released->actor)),
                        to_string(w.released->release_confidence), static_cast<double>(w.released->held_ns) / 1e6)
          : "not in this log";
  return fmt::format(
      "<tr id=\"pin-row-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
      "<td>{}</td></tr>\n",
      i, i, esc(path_of(p)), p.file.ino, esc(who(p.origin)), to_string(p.source), holders, to_string(p.confidence),
      ms_since(tl, w.start_ns), released + " &#x2014; " + esc(printable(p.why)));
}

void pins_table(const Timeline& tl, const Out& write) {
  if (tl.pins.empty()) return write("<h2>Pins</h2>\n<p class=\"none\">No deferred release in this log.</p>\n");
  write(
      "<h2>Pins</h2>\n<table class=\"pins\"><tr><th>#</th><th>file</th><th>ino</th><th>origin</th><th>source</th>"
      "<th>holder</th><th>confidence</th><th>deferred</th><th>released &#x2014; why</th></tr>\n");
  for (size_t i = 0; i < tl.pins.size(); ++i) write(pin_row(tl, tl.pins[i], i));
  write("</table>\n");
}

void all_findings(const Timeline& tl, const Out& write) {
  write(fmt::format("<details><summary>All findings ({})</summary><pre class=\"findings\">", tl.findings.size()));
  for (const Finding& f : tl.findings) write(esc(finding_to_text(f)));
  write("</pre></details>\n");
}

}  // namespace

void write_html_report(const Timeline& tl, const TraceMeta& meta, const Out& write) {
  write(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>fputrace report</title>\n<style>" +
      std::string(kStyle) + colour_rules() + "</style>\n</head>\n<body>\n");
  write(header(tl, meta) + legend() + "<div class=\"scroll\">\n");
  timeline_svg(tl, write);
  write("</div>\n");
  explanations(tl, write);
  pins_table(tl, write);
  all_findings(tl, write);
  write("</body>\n</html>\n");
}

std::string html_report(const std::vector<LogRecord>& log, const TraceMeta& meta) {
  std::string page;
  write_html_report(build_timeline(log), meta, [&](std::string_view s) { page += s; });
  return page;
}

}  // namespace fputrace
