// fputrace report: rebuild the model from a recorded trace and explain it
// offline, as text, JSON lines (the watch schema) or one HTML page.
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include "fputrace/chrome_trace.hpp"
#include "fputrace/cli.hpp"
#include "fputrace/cli_checks.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/event_json.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/html_report.hpp"
#include "fputrace/output.hpp"
#include "fputrace/replay.hpp"
#include "fputrace/timeline.hpp"
#include "fputrace/trace_file.hpp"

namespace fputrace {

namespace {

// The HTML page needs the whole timeline before it can be laid out: build it
// while reading, then write the page piece by piece.
int report_html(const ReportOptions& o, std::istream& in) {
  TimelineBuilder timeline;
  TraceInfo info;
  try {
    info = read_trace(
        in, [](const TraceMeta&) {}, [&](LogRecord&& r) { timeline.add(r); });
  } catch (const std::exception& e) {
    return complain(fmt::format("{}: {}", o.path, e.what())), 1;
  }
  if (!info.warning.empty()) complain(fmt::format("{}: {}", o.path, info.warning));
  std::string error;
  auto out = OutFile::open(o.html_out, error);
  if (!out) return complain(error), 1;
  write_html_report(timeline.finish(), info.meta, [&](std::string_view s) { out->write(s); });
  if (!out->close()) return complain(out->error()), 1;
  return 0;
}

// Text and JSON: each finding is printed as the replay reaches it, so the
// report holds the model's state, never the trace.
int report_findings(const ReportOptions& o, std::istream& in) {
  Replay replay;
  auto header = [&](const TraceMeta& meta) {
    if (!o.json && !meta.kernel.empty())
      fmt::print("# recorded on {} with the {} backend{}\n", printable(meta.kernel), printable(meta.backend),
                 meta.command.empty() ? "" : ", command: " + printable(meta.command));
  };
  // stdout is checked once at the end (main.cpp) and by fmt::print as it goes.
  auto print = [&](const std::vector<Finding>& findings) {
    for (const Finding& f : findings) {
      if (o.json)
        fmt::print("{}\n", dump_json(finding_to_json(f)));
      else
        fmt::print("{}", finding_to_text(f));
    }
  };
  TraceInfo info;
  try {
    info = read_trace(in, header, [&](LogRecord&& r) { print(replay.add(r)); });
  } catch (const std::system_error&) {
    throw;  // stdout failed: main() says so
  } catch (const std::exception& e) {
    return complain(fmt::format("{}: {}", o.path, e.what())), 1;
  }
  print(replay.finish());
  if (!info.warning.empty()) complain(fmt::format("{}: {}", o.path, info.warning));
  return 0;
}

}  // namespace

int run_report(const ReportOptions& o) {
  if (auto clash = check_distinct_files({{"file", o.path}, {"--html", o.html_out}}); !clash.empty())
    return complain(clash), 1;
  std::ifstream in(o.path);
  if (!in) return complain(fmt::format("{}: {}", o.path, std::strerror(errno))), 1;
  return o.html_out.empty() ? report_findings(o, in) : report_html(o, in);
}

}  // namespace fputrace
