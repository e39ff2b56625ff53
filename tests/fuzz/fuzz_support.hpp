// What every fuzz target checks of what fputrace would print from its input,
// beyond "no crash, no sanitizer report": JSON is valid UTF-8 and parses
// back, text has no control character but newlines, and a record written to
// an event log reads back as the same record.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fputrace/escape.hpp"
#include "fputrace/event_json.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/replay.hpp"

namespace fputrace::fuzz {

[[noreturn]] inline void fail(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "fuzz check failed: %.*s\n%.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// dump_json() as watch and report print it: valid UTF-8, and JSON again.
inline std::string checked_json(const nlohmann::json& j) {
  std::string text = dump_json(j);
  if (!valid_utf8(text)) fail("dump_json wrote invalid UTF-8", text);
  if (!nlohmann::json::accept(text)) fail("dump_json wrote text that does not parse", text);
  return text;
}

// Text output: valid UTF-8 without C0, DEL or C1 controls, newlines aside.
inline void check_text(const std::string& text) {
  if (!valid_utf8(text)) fail("text output is not UTF-8", text);
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    bool c1 = c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F;
    if ((c < 0x20 && c != '\n') || c == 0x7F || c1) fail("text output holds a control character", text);
  }
}

// A finding printed both ways; returns the JSON text.
inline std::string render(const Finding& f) {
  check_text(finding_to_text(f));
  return checked_json(finding_to_json(f));
}

inline nlohmann::json record_to_json(const LogRecord& r) {
  if (const auto* m = std::get_if<MountInfo>(&r)) return mount_to_json(*m);
  return event_to_json(std::get<Event>(r));
}

// Written to a log and read back, a record is written the same again.
inline std::string check_round_trip(const LogRecord& r) {
  std::string once = checked_json(record_to_json(r));
  LogRecord back;
  try {
    back = record_from_json(nlohmann::json::parse(once));
  } catch (const std::exception& ex) {
    fail(std::string("a record fputrace wrote does not read back: ") + ex.what(), once);
  }
  std::string twice = checked_json(record_to_json(back));
  if (once != twice) fail("a record changed when read back", once + "\n" + twice);
  return once;
}

}  // namespace fputrace::fuzz
