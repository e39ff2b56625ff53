// fputrace report: rebuild the model from a recorded trace and explain it
// offline, as text, JSON lines (the watch schema) or one HTML page.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "cli.hpp"
#include "cli_checks.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/event_json.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/html_report.hpp"
#include "fputrace/timeline.hpp"
#include "output.hpp"

namespace fputrace {

int run_report(const ReportOptions& o) {
  if (auto clash = check_distinct_files({{"file", o.path}, {"--html", o.html_out}}); !clash.empty())
    return complain(clash), 1;
  std::ifstream in(o.path);
  if (!in) return complain(fmt::format("{}: {}", o.path, std::strerror(errno))), 1;
  TraceFile trace;
  try {
    trace = read_trace_file(in);
  } catch (const std::exception& e) {
    return complain(fmt::format("{}: {}", o.path, e.what())), 1;
  }
  if (!o.html_out.empty()) {
    std::string error;
    auto out = OutFile::open(o.html_out, error);
    if (!out) return complain(error), 1;
    if (!out->write(html_report(trace.log, trace.meta)) || !out->close()) return complain(out->error()), 1;
    return 0;
  }
  if (!o.json && !trace.meta.kernel.empty())
    fmt::print("# recorded on {} with the {} backend{}\n", printable(trace.meta.kernel), printable(trace.meta.backend),
               trace.meta.command.empty() ? "" : ", command: " + printable(trace.meta.command));
  // stdout is checked once at the end (main.cpp) and by fmt::print as it goes.
  replay(trace.log, [&](const Finding& f) {
    if (o.json)
      fmt::print("{}\n", dump_json(finding_to_json(f)));
    else
      fmt::print("{}", finding_to_text(f));
  });
  return 0;
}

}  // namespace fputrace
