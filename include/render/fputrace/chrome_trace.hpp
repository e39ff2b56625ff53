// The timeline as a Chrome Trace Event Format file that Perfetto UI and
// chrome://tracing load (format: trace_file.hpp). The trace also carries the
// raw log, so `report` can rebuild the model offline from the trace alone.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "fputrace/event_json.hpp"
#include "fputrace/model.hpp"
#include "fputrace/trace_file.hpp"

namespace fputrace {

struct ChromeLimits {
  size_t open_spans = 131072;  // of each kind (work items, requests, pins) paired at once
  size_t tasks = 65536;        // tracks named so far (a task forgotten is only named again)
};

class ChromeTraceWriter {
 public:
  using Out = std::function<void(std::string_view)>;
  // Writes the header at once. meta.backend "" is written as "".
  ChromeTraceWriter(Out out, const TraceMeta& meta, ChromeLimits limits = {});
  ~ChromeTraceWriter();
  // The raw record, then what it shows (and what the writer's own replay of
  // the model concluded from it).
  void add(const LogRecord& r);
  // The same with the findings of a model kept outside (record's live one:
  // one model is enough). Mount records go through add(LogRecord).
  void add(const Event& e, const std::vector<Finding>& findings);
  // Closes what is still open at the end of the log, then the array and object.
  void finish();
  // Spans closed early because more than ChromeLimits::open_spans were open.
  uint64_t evictions() const;
  size_t records() const;
  const Model& model() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A whole trace in memory (tests, small logs): what ChromeTraceWriter writes,
// parsed back. meta.backend "" = taken from the first event.
nlohmann::json chrome_trace(const std::vector<LogRecord>& log, const TraceMeta& meta);

}  // namespace fputrace
