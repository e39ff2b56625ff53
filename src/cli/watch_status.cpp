#include "fputrace/watch_status.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdio>

#include "fputrace/cli.hpp"
#include "fputrace/escape.hpp"

namespace fputrace {

void report_losses(const TraceStats& s, const CollectorLosses& c, Sink& sink) {
  if (sink.json()) {
    nlohmann::json summary{{"event", "summary"},
                           {"model_evictions", c.model.state()},
                           {"pins_evicted", c.model.pins},
                           {"trace_spans_evicted", c.trace_spans_evicted}};
    for (const TraceCounter& counter : kTraceCounters) summary[std::string(counter.name)] = s.*counter.value;
    sink.write_json(std::move(summary));
  }
  bool lost = false;
  std::string losses;
  for (const TraceCounter& counter : kTraceCounters) {
    if (counter.loss.empty()) continue;
    lost = lost || s.*counter.value;
    losses += fmt::format("{}{} {}", losses.empty() ? "" : ", ", s.*counter.value, counter.loss);
  }
  if (lost) complain("lost data: " + losses);
  if (c.model.state() || c.model.pins || c.trace_spans_evicted)
    complain(fmt::format("memory bounds: {} model entries evicted (of them {} unreleased pins), {} trace spans closed early",
                         c.model.state() + c.model.pins, c.model.pins, c.trace_spans_evicted));
}

std::vector<MetricCounter> collector_counters(const TraceStats& s, const CollectorLosses& c) {
  std::vector<MetricCounter> out;
  for (const TraceCounter& counter : kTraceCounters)
    out.push_back({"probe_" + std::string(counter.name), std::string(counter.help), s.*counter.value});
  out.push_back({"model_evictions", "Model entries (files, rings, requests, mounts) evicted by its caps.",
                 c.model.state()});
  out.push_back({"pins_evicted", "Unreleased pins the model dropped by its cap.", c.model.pins});
  return out;
}

void StatusLine::show(std::chrono::steady_clock::duration elapsed, uint64_t events, uint64_t drops) {
  struct stat st {};
  double mib = ::stat(path_.c_str(), &st) == 0 ? static_cast<double>(st.st_size) / (1 << 20) : 0.0;
  fmt::print(stderr, "\r\033[Krecording: {:.1f} s, {} events, {} dropped, {:.1f} MiB in {}",
             std::chrono::duration<double>(elapsed).count(), events, drops, mib, printable(path_));
  std::fflush(stderr);
}

void StatusLine::clear() {
  fmt::print(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace fputrace
