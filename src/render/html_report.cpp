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
#include "html_parts.hpp"

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

namespace html {
namespace {

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
}  // namespace html

void write_html_report(const Timeline& tl, const TraceMeta& meta, const html::Out& write) {
  using namespace html;
  write(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<title>fputrace report</title>\n<style>" +
      std::string(kStyle) + colour_rules() + "</style>\n</head>\n<body>\n");
  write(header(tl, meta) + legend() + "<div class=\"scroll\">\n");
  html::timeline_svg(tl, write);
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
