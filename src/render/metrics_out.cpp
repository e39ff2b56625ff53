#include "fputrace/metrics_out.hpp"

#include <fmt/format.h>

namespace fputrace {

namespace {

// Every label value the model can give, so a rate() sees a zero before the first one.
constexpr const char* kVerdicts[] = {"child_mounts", "live_holder", "propagation", "deferred_release", "unknown"};
constexpr const char* kLockVerdicts[] = {"deferred_release", "other_holder", "unknown"};
constexpr const char* kBdevVerdicts[] = {"deferred_release", "detached_teardown", "mounted", "unknown"};
constexpr Source kSources[] = {Source::IoUring, Source::Aio, Source::Exit, Source::Close, Source::Other};

void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

void FindingMetrics::observe(const Finding& f) {
  switch (f.kind) {
    case Finding::Kind::Deferred:
      ++deferred_by_source_[std::string(to_string(f.pins.at(0).source))];
      break;
    case Finding::Kind::UmountBusy:
      ++busy_by_verdict_[f.verdict.empty() ? "unknown" : f.verdict];
      break;
    case Finding::Kind::PinReleased: {
      ++released_;
      double s = static_cast<double>(f.held_ns) / 1e9;
      hold_sum_s_ += s;
      for (size_t i = 0; i < kHoldBuckets.size(); ++i)
        if (s <= kHoldBuckets[i]) {
          ++hold_buckets_[i];
          break;
        }
      break;
    }
    case Finding::Kind::LockBusy:
      ++lock_busy_by_verdict_[f.verdict.empty() ? "unknown" : f.verdict];
      break;
    case Finding::Kind::BdevBusy:
      ++bdev_busy_by_verdict_[f.verdict.empty() ? "unknown" : f.verdict];
      break;
    case Finding::Kind::DetachedPinned:
    case Finding::Kind::DetachedReleased:
    case Finding::Kind::Loss:
      break;
  }
}

std::string FindingMetrics::text(const std::vector<MetricCounter>& counters, double now_unix_s) const {
  std::string out;
  header(out, "fputrace_deferred_total", "Final releases that left their task and pinned a mount, by source.",
         "counter");
  for (Source s : kSources) {
    std::string source(to_string(s));
    auto it = deferred_by_source_.find(source);
    out += fmt::format("fputrace_deferred_total{{source=\"{}\"}} {}\n", source,
                       it == deferred_by_source_.end() ? 0 : it->second);
  }
  header(out, "fputrace_umount_busy_total", "umount calls that failed with EBUSY, by verdict (the leading cause).",
         "counter");
  for (const char* v : kVerdicts) {
    auto it = busy_by_verdict_.find(v);
    out += fmt::format("fputrace_umount_busy_total{{verdict=\"{}\"}} {}\n", v,
                       it == busy_by_verdict_.end() ? 0 : it->second);
  }
  header(out, "fputrace_lock_busy_total",
         "File locks refused (EWOULDBLOCK), by verdict: deferred_release when a deferred release holds the lock.",
         "counter");
  for (const char* v : kLockVerdicts) {
    auto it = lock_busy_by_verdict_.find(v);
    out += fmt::format("fputrace_lock_busy_total{{verdict=\"{}\"}} {}\n", v,
                       it == lock_busy_by_verdict_.end() ? 0 : it->second);
  }
  header(out, "fputrace_bdev_busy_total",
         "Block device opens refused with EBUSY, by verdict: deferred_release when a deferred release keeps its "
         "filesystem's detached mount alive.",
         "counter");
  for (const char* v : kBdevVerdicts) {
    auto it = bdev_busy_by_verdict_.find(v);
    out += fmt::format("fputrace_bdev_busy_total{{verdict=\"{}\"}} {}\n", v,
                       it == bdev_busy_by_verdict_.end() ? 0 : it->second);
  }
  header(out, "fputrace_pins_released_total", "Pins released: the deferred release finally ran.", "counter");
  out += fmt::format("fputrace_pins_released_total {}\n", released_);
  header(out, "fputrace_pin_hold_seconds", "How long released pins held their mount, from leaving the task.",
         "histogram");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kHoldBuckets.size(); ++i) {
    cumulative += hold_buckets_[i];
    out += fmt::format("fputrace_pin_hold_seconds_bucket{{le=\"{}\"}} {}\n", kHoldBuckets[i], cumulative);
  }
  out += fmt::format("fputrace_pin_hold_seconds_bucket{{le=\"+Inf\"}} {}\n", released_);
  out += fmt::format("fputrace_pin_hold_seconds_sum {}\n", hold_sum_s_);
  out += fmt::format("fputrace_pin_hold_seconds_count {}\n", released_);
  for (const MetricCounter& c : counters) {
    std::string name = "fputrace_" + c.name + "_total";
    header(out, name, c.help, "counter");
    out += fmt::format("{} {}\n", name, c.value);
  }
  header(out, "fputrace_metrics_updated_seconds", "When fputrace last wrote this file (Unix time).", "gauge");
  out += fmt::format("fputrace_metrics_updated_seconds {:.3f}\n", now_unix_s);
  return out;
}

}  // namespace fputrace
