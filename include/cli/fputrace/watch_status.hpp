// What watch and record say about themselves: the losses at the end (JSON
// summary and the lost-data line), the counters of the metrics file, and
// record's status line on a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "fputrace/loader.hpp"
#include "fputrace/metrics_out.hpp"
#include "fputrace/model.hpp"
#include "fputrace/sink.hpp"

namespace fputrace {

// What the collector itself let go of to stay within its memory bounds.
struct CollectorLosses {
  ModelEvictions model;
  uint64_t trace_spans_evicted = 0;  // record (Chrome): spans closed early by the cap
};

// The JSON summary (JSON sinks) and, when anything was lost, one line on stderr each
// for lost data and for memory bounds.
void report_losses(const TraceStats& s, const CollectorLosses& c, Sink& sink);

// How often the metrics file is rewritten: within a scrape interval.
inline constexpr auto kMetricsEvery = std::chrono::seconds(10);

// The probes' counters as fputrace_probe_NAME_total (NAME as in the JSON
// summary), then the model's evictions.
std::vector<MetricCounter> collector_counters(const TraceStats& s, const CollectorLosses& c);

// record's status line on a terminal: one line on stderr, redrawn in place.
class StatusLine {
 public:
  static constexpr auto kEvery = std::chrono::milliseconds(500);
  explicit StatusLine(std::string path) : path_(std::move(path)) {}
  void show(std::chrono::steady_clock::duration elapsed, uint64_t events, uint64_t drops);
  void clear();

 private:
  std::string path_;
};

}  // namespace fputrace
