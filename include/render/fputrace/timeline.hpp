// Timelines of a recorded event log: the intervals and instants worth drawing
// (work items on kworkers, request lifetimes, each pin's deferred window, umount
// attempts, exits), paired from their starts and ends. chrome_trace.hpp writes
// them as a Chrome trace; trace_file.hpp reads traces and logs back.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fputrace/event.hpp"
#include "fputrace/replay.hpp"
#include "fputrace/event_json.hpp"
#include "fputrace/model.hpp"

namespace fputrace {

// A work item run on a kworker: io_ring_exit_work or delayed_fput.
struct WorkSlice {
  EventType kind = EventType::RingExit;  // RingExit or DelayedRun
  Task task;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  bool started_before_log = false;  // only its end was recorded
  bool unfinished = false;          // the log ended while it ran
  uint64_t ring = 0;
  uint64_t work = 0;  // the work_struct address (Event::req)
};

// An io_uring request (uring_req..uring_done) or aio request (aio_submit..aio_done).
struct RequestSpan {
  bool aio = false;
  Task submitter;
  std::optional<Task> completer;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  bool unfinished = false;
  FileRef file;
  std::string path;  // full path, the mount named from the log's mount records
  uint64_t ring = 0;
  uint64_t req = 0;
  uint64_t user_data = 0;
  int64_t ret = 0;  // the completion's result
};

// One pin's deferred window, from its first Deferred finding to its release.
struct PinWindow {
  struct Stage {
    Holder holder = Holder::DelayedFput;
    uint64_t start_ns = 0;
  };
  Pin pin;                          // as first reported
  std::vector<Stage> stages;        // holder changes, in order
  uint64_t start_ns = 0;            // the Deferred finding
  uint64_t end_ns = 0;              // the release, or the end of the log
  std::optional<Finding> released;  // the PinReleased finding
};

// A umount attempt, with the model's explanation when it was EBUSY.
struct UmountMark {
  Event event;
  std::optional<MountInfo> mount;  // named from the log's mount records
  std::optional<Finding> busy;     // the UmountBusy finding
};

struct Timeline {
  std::vector<Task> tasks;  // every task seen, in order of first appearance
  std::vector<WorkSlice> work;
  std::vector<RequestSpan> requests;
  std::vector<PinWindow> pins;
  std::vector<UmountMark> umounts;
  std::vector<Event> exits;
  std::vector<Finding> findings;  // all of them, as replay() gave them
  uint64_t start_ns = 0;          // first and last time in the log
  uint64_t end_ns = 0;
  size_t events = 0;
  std::optional<Backend> backend;  // of the first event
};

// Replays the log through the model and pairs starts with ends.
Timeline build_timeline(const std::vector<LogRecord>& log);

// The same, record by record (report --html streams a trace through it).
// Linear in the log; it keeps what the page draws, plus the open spans.
class TimelineBuilder {
 public:
  TimelineBuilder();
  ~TimelineBuilder();
  void add(const LogRecord& r);
  Timeline finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fputrace
