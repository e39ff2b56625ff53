// The loader: decides which probes to use (plan), then opens, configures,
// loads and attaches the BPF object, and streams its records as decoded events.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fputrace/event.hpp"
#include "fputrace/kernel_features.hpp"
#include "fputrace/plan.hpp"

namespace fputrace {

// requested: "auto", "fentry", "kprobe" or "tracepoint", asking this kernel
// (FPUTRACE_READS=cast|kread forces the object). Returns nullopt with a
// one-line reason when the request cannot be met.
std::optional<ProbePlan> plan_probes(const std::string& requested, std::string& error);

struct TraceOptions {
  std::string backend = "auto";
  std::vector<int32_t> mount_ids;  // empty: every mount
};

struct TraceStats {
  uint64_t ringbuf_drops = 0;
  uint64_t map_full = 0;
  uint64_t final_fputs = 0;
  uint64_t deferred = 0;
  uint64_t fd_scan_truncated = 0;
  uint64_t ring_layout_unknown = 0;  // rings whose file table this kernel lays out unknown
  uint64_t uring_requests = 0;       // io_uring requests on watched files counted (none sent)
  uint64_t late_deferrals = 0;       // deferrals seen only when released (a race at fput)
  uint64_t owner_evictions = 0;      // owners evicted from the full LRU map: attribution lost
  uint64_t undecodable = 0;
};

// Every counter of TraceStats, once: its name in the JSON summary and the
// metrics file, what it counts, and for the counters that mean lost data,
// how the lost-data line says it. Losses first, in the order that line lists them.
struct TraceCounter {
  std::string_view name;
  uint64_t TraceStats::*value;
  std::string_view loss;  // "" when the counter is not a loss
  std::string_view help;
};
inline constexpr std::array<TraceCounter, 10> kTraceCounters{{
    {"ringbuf_drops", &TraceStats::ringbuf_drops, "records dropped (ring buffer full)",
     "Records the BPF side dropped because the ring buffer was full."},
    {"map_full", &TraceStats::map_full, "items untracked (map full)",
     "Files, rings or requests the BPF side could not track because a map was full."},
    {"owner_evictions", &TraceStats::owner_evictions, "file owners evicted (LRU full)",
     "File owners evicted from the full LRU map: their attribution is lost."},
    {"undecodable", &TraceStats::undecodable, "undecodable records", "Records the collector could not decode."},
    {"fd_scan_truncated", &TraceStats::fd_scan_truncated, "fd lists cut short",
     "Fd tables of exiting processes scanned only in part (too many files)."},
    {"final_fputs_watched", &TraceStats::final_fputs, "", "Final fputs seen on watched mounts."},
    {"deferred", &TraceStats::deferred, "", "Final releases the BPF side saw deferred."},
    {"ring_layout_unknown", &TraceStats::ring_layout_unknown, "",
     "io_uring rings whose file table this kernel lays out in a way fputrace does not know."},
    {"late_deferrals", &TraceStats::late_deferrals, "", "Deferrals seen only when released (a race at fput)."},
    {"uring_requests", &TraceStats::uring_requests, "",
     "io_uring requests on watched files counted in the kernel (none sent)."},
}};

class Tracer {
 public:
  using Callback = std::function<void(const Event&)>;
  virtual ~Tracer() = default;
  // Waits up to timeout_ms for records; returns how many were handled, or -errno.
  virtual int poll(int timeout_ms) = 0;
  // Detaches every probe; records already in the buffer can still be polled.
  virtual void detach() = 0;
  virtual TraceStats stats() const = 0;
  const ProbePlan& plan() const { return plan_; }
  // "tracepoint backend (fput probes: none); skipped: ..."
  std::string describe() const;

 protected:
  ProbePlan plan_;
  std::vector<std::string> attach_notices_;
};

std::unique_ptr<Tracer> start_tracer(const TraceOptions& opts, Tracer::Callback on_event, std::string& error);

}  // namespace fputrace
