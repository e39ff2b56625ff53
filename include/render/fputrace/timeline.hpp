// Timelines of a recorded event log: the intervals and instants worth drawing
// (work items on kworkers, request lifetimes, each pin's deferred window, umount
// attempts, exits), and their export as a Chrome Trace Event Format file that
// Perfetto UI and chrome://tracing load. The trace also carries the raw log, so
// `report` can rebuild the model offline from the trace file alone.
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

// ---- the Chrome trace ----
//
// Version 2 layout, written as the events come so that a writer killed at
// any point leaves a file report can read (docs/timeline.md):
//
//   {"metadata":{"fputrace":{"version":2,"backend":..,"kernel":..,"command":..,"recorded_at":..}},
//    "displayTimeUnit":"ns","traceEvents":[
//   {"ph":"M","name":"fputrace_record","pid":..,"tid":..,"args":{raw log record}},
//   {what that record shows: slices, async spans, flows, instants, track names},
//   ...
//   ]}
//
// Viewers ignore the fputrace_record metadata events; report reads only them.
// Version 1 (the raw log in metadata.fputrace.events) is still read.
constexpr int kTraceVersion = 2;

struct ChromeLimits {
  size_t open_spans = 131072;  // of each kind (work items, requests, pins) paired at once
  size_t tasks = 65536;       // tracks named so far (a task forgotten is only named again)
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

// ---- reading a trace or log back ----

// What a trace file said besides its records.
struct TraceInfo {
  TraceMeta meta;
  bool chrome = false;   // a Chrome trace, not a JSON-lines log
  int version = 0;       // of a Chrome trace
  size_t records = 0;
  // One line when the file ended early but what it held is usable (a
  // version 2 trace whose writer was killed): the caller prints it.
  std::string warning;
};

// Reads a Chrome trace (either version) or a JSON-lines event log
// (auto-detected) record by record, in constant memory for version 2 traces
// and logs. on_meta runs once, before the first record when the file says
// its metadata first (Chrome traces), else at the end. Throws
// std::invalid_argument with one line on corrupt, empty or foreign input,
// possibly after some records were delivered.
TraceInfo read_trace(std::istream& in, const std::function<void(const TraceMeta&)>& on_meta,
                     const std::function<void(LogRecord&&)>& on_record);

// A trace file read back whole: the raw log and what metadata.fputrace said.
struct TraceFile {
  std::vector<LogRecord> log;
  TraceMeta meta;
  bool chrome = false;  // a Chrome trace, not a JSON-lines log
  std::string warning;  // see TraceInfo
};

TraceFile read_trace_file(std::istream& in);
std::vector<LogRecord> log_from_trace_file(std::istream& in);

}  // namespace fputrace
