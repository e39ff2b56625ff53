// Fuzz target: what `fputrace report FILE` reads, through the public entry
// point it uses (read_trace_file: a Chrome trace or a JSON-lines log, told
// apart by content), then explained as report explains it. The reader's
// insides may change; this contract may not: records or a
// std::invalid_argument, never a crash or another exception.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "fputrace/chrome_trace.hpp"
#include "fputrace/replay.hpp"
#include "fputrace/timeline.hpp"
#include "fputrace/trace_file.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fputrace;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  TraceFile trace;
  try {
    trace = read_trace_file(in);
  } catch (const std::invalid_argument& ex) {
    // report prints it through printable(): one line, whatever bytes it quotes.
    if (std::string_view(ex.what()).empty()) fuzz::fail("an error that says nothing", "");
    return 0;
  }
  fuzz::check_text(printable(trace.meta.kernel) + printable(trace.meta.backend) + printable(trace.meta.command));
  for (const LogRecord& r : trace.log) fuzz::check_round_trip(r);
  replay(trace.log, [](const Finding& f) { fuzz::render(f); });
  return 0;
}
