// The HTML report's timeline, drawn as SVG: geometry, one row per task, and
// the pieces drawn on it.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "html_parts.hpp"

namespace fputrace::html {

namespace {

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

}  // namespace

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

}  // namespace fputrace::html
