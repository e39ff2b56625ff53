// Fuzz target: the JSON-lines event log reader (read_event_log and
// record_from_json), as `report` and the model tests use it. Whatever the
// bytes, it returns records or throws std::invalid_argument; the records it
// returns write back to the same log, and replay into findings that print.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fputrace;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::vector<LogRecord> log;
  try {
    log = read_event_log(in);
  } catch (const std::invalid_argument&) {
    return 0;  // the documented way to refuse input
  }
  for (const LogRecord& r : log) fuzz::check_round_trip(r);
  replay(log, [](const Finding& f) { fuzz::render(f); });
  return 0;
}
