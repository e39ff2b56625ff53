// Metrics for fleets, in the Prometheus text format a node_exporter textfile
// collector reads: counters of what watch reported (deferred pins by source,
// EBUSYs by verdict, releases), a histogram of how long pins held their mount,
// and the collector's own losses. No HTTP server: the file is the interface.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "fputrace/model.hpp"

namespace fputrace {

// A counter the caller owns (the BPF side's, the model's evictions).
struct MetricCounter {
  std::string name;  // without the fputrace_ prefix and _total suffix
  std::string help;
  uint64_t value = 0;
};

class FindingMetrics {
 public:
  // Upper bounds of the hold-time buckets, in seconds.
  static constexpr std::array<double, 10> kHoldBuckets{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60};

  // Counts a finding as watch reported it.
  void observe(const Finding& f);
  // The whole exposition: these metrics, then the caller's counters, then the
  // time of this update (Unix seconds, for staleness alerts).
  std::string text(const std::vector<MetricCounter>& counters, double now_unix_s) const;

 private:
  std::map<std::string, uint64_t> deferred_by_source_;
  std::map<std::string, uint64_t> busy_by_verdict_;
  std::map<std::string, uint64_t> lock_busy_by_verdict_;
  std::map<std::string, uint64_t> bdev_busy_by_verdict_;
  uint64_t released_ = 0;
  std::array<uint64_t, kHoldBuckets.size()> hold_buckets_{};  // not cumulative
  double hold_sum_s_ = 0;
};

}  // namespace fputrace
