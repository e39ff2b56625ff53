// Timelines of a recorded event log: the intervals and instants worth drawing
// (work items on kworkers, request lifetimes, each pin's deferred window, umount
// attempts, exits), and their export as a Chrome Trace Event Format file that
// Perfetto UI and chrome://tracing load. The trace also carries the raw log, so
// `report` can rebuild the model offline from the trace file alone.
#pragma once

#include <cstdint>
#include <istream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fputrace/event.hpp"
#include "fputrace/event_json.hpp"
#include "fputrace/model.hpp"

namespace fputrace {

// What the recording was of; written to metadata.fputrace.
struct TraceMeta {
  std::string kernel;       // uname -r (and -v) of the traced machine
  std::string backend;      // "" = taken from the first event
  std::string command;      // the traced command line, "" if none
  std::string recorded_at;  // ISO 8601 UTC; "" = unknown (written as null)
};

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

// {"traceEvents":[...],"metadata":{"fputrace":{...,"events":[raw log]}}}.
nlohmann::json chrome_trace(const std::vector<LogRecord>& log, const TraceMeta& meta);

// A trace file read back: the raw log and what metadata.fputrace said.
struct TraceFile {
  std::vector<LogRecord> log;
  TraceMeta meta;
  bool chrome = false;  // a Chrome trace, not a JSON-lines log
};

// Reads a Chrome trace written by chrome_trace() or a JSON-lines event log
// (auto-detected). Throws std::invalid_argument with one line on corrupt,
// truncated, empty or foreign input.
TraceFile read_trace_file(std::istream& in);
std::vector<LogRecord> log_from_trace_file(std::istream& in);

}  // namespace fputrace
