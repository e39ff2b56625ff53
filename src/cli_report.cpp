// fputrace report: rebuild the model from a recorded trace and explain it
// offline, as text, JSON lines (the watch schema) or one HTML page.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "cli.hpp"
#include "fputrace/event_json.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/html_report.hpp"
#include "fputrace/timeline.hpp"

namespace fputrace {

int run_report(const ReportOptions& o) {
  std::ifstream in(o.path);
  if (!in) return complain(fmt::format("{}: {}", o.path, std::strerror(errno))), 1;
  TraceFile trace;
  try {
    trace = read_trace_file(in);
  } catch (const std::exception& e) {
    return complain(fmt::format("{}: {}", o.path, e.what())), 1;
  }
  if (!o.html_out.empty()) {
    std::ofstream out(o.html_out);
    out << html_report(trace.log, trace.meta);
    if (!out) return complain(fmt::format("cannot write {}: {}", o.html_out, std::strerror(errno))), 1;
    return 0;
  }
  if (!o.json && !trace.meta.kernel.empty())
    fmt::print("# recorded on {} with the {} backend{}\n", trace.meta.kernel, trace.meta.backend,
               trace.meta.command.empty() ? "" : ", command: " + trace.meta.command);
  replay(trace.log, [&](const Finding& f) {
    if (o.json)
      fmt::print("{}\n", finding_to_json(f).dump());
    else
      fmt::print("{}", finding_to_text(f));
  });
  return 0;
}

}  // namespace fputrace
