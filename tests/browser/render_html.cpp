// Renders a recorded event log (JSON lines) or an fputrace Chrome trace as the
// HTML report, for the browser test until `fputrace report` is wired up.
//   fputrace-render-html [--chrome] LOG [OUT]   (OUT defaults to stdout)
// --chrome writes the Chrome trace instead of the HTML page.
#include <fstream>
#include <iostream>
#include <string>

#include "fputrace/html_report.hpp"
#include "fputrace/chrome_trace.hpp"
#include "fputrace/timeline.hpp"
#include "fputrace/trace_file.hpp"

int main(int argc, char** argv) {
  int arg = 1;
  bool chrome = argc > 1 && std::string(argv[1]) == "--chrome";
  if (chrome) ++arg;
  if (argc - arg < 1 || argc - arg > 2) {
    std::cerr << "usage: fputrace-render-html [--chrome] LOG [OUT]\n";
    return 2;
  }
  std::ifstream in(argv[arg]);
  if (!in) {
    std::cerr << "fputrace-render-html: cannot open " << argv[arg] << "\n";
    return 1;
  }
  try {
    fputrace::TraceFile file = fputrace::read_trace_file(in);
    std::string out;
    if (chrome) {
      fputrace::ChromeTraceWriter w([&](std::string_view s) { out += s; }, file.meta);
      for (const auto& r : file.log) w.add(r);
      w.finish();
    } else {
      out = fputrace::html_report(file.log, file.meta);
    }
    if (argc - arg == 2) {
      std::ofstream(argv[arg + 1]) << out;
    } else {
      std::cout << out;
    }
  } catch (const std::exception& ex) {
    std::cerr << "fputrace-render-html: " << argv[arg] << ": " << ex.what() << "\n";
    return 1;
  }
  return 0;
}
