// What the two halves of the HTML report share (html_report.cpp: the page;
// html_svg.cpp: the timeline drawing). Private to src/render/.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <string>
#include <string_view>

#include "fputrace/escape.hpp"
#include "fputrace/html_report.hpp"
#include "fputrace/model.hpp"
#include "fputrace/timeline.hpp"

namespace fputrace::html {

using Out = std::function<void(std::string_view)>;

inline std::string esc(std::string_view s) {
  return html_escape(s);
}
inline std::string ms_since(const Timeline& tl, uint64_t ns) {
  return fmt::format("+{:.3f} ms", (static_cast<double>(ns) - static_cast<double>(tl.start_ns)) / 1e6);
}
// Names are bytes (escape.hpp): printable() makes them valid UTF-8 without
// control characters, esc() then makes them HTML.
inline std::string path_of(const Pin& p) {
  return printable(full_path(p.mount, p.file));
}
inline std::string label(const Task& t) {
  if (t.tid == t.tgid) return fmt::format("{} ({})", printable(t.comm), t.tgid);
  return fmt::format("{} ({}/{})", printable(t.comm), t.tgid, t.tid);
}
inline std::string who(const Task& t) {
  return fmt::format("{} (pid {}, tid {})", printable(t.comm), t.tgid, t.tid);
}

// The timeline as one SVG element: a row per task, its work, requests, pins
// and marks, arrows from each pin to its release.
void timeline_svg(const Timeline& tl, const Out& write);

}  // namespace fputrace::html
