// The offline report as one self-contained HTML page: a static inline-SVG
// timeline (visible without JavaScript, no network access) and the EBUSY
// explanations beneath it.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fputrace/event_json.hpp"
#include "fputrace/chrome_trace.hpp"
#include "fputrace/timeline.hpp"
#include "fputrace/trace_file.hpp"

namespace fputrace {

// Stable hooks for tests and styling: every task row is
// <g class="task-row" data-tgid data-tid>, pins are <g class="pin-window">,
// umount attempts <g class="umount umount-busy|umount-ok|umount-failed">,
// exits <g class="task-exit">, origin -> release lines <path class="release-arrow">.
std::string html_report(const std::vector<LogRecord>& log, const TraceMeta& meta);
// The same page, written piece by piece (linear in the timeline).
void write_html_report(const Timeline& tl, const TraceMeta& meta, const std::function<void(std::string_view)>& out);

// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(std::string_view s);

}  // namespace fputrace
