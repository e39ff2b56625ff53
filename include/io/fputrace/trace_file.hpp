// Trace files: what a recording was of, the Chrome trace layout's version,
// and reading a Chrome trace or a JSON-lines event log back, record by record.
#pragma once

#include <cstddef>
#include <functional>
#include <istream>
#include <string>
#include <vector>

#include "fputrace/event_json.hpp"

namespace fputrace {

// What the recording was of; written to metadata.fputrace.
struct TraceMeta {
  std::string kernel;       // uname -r (and -v) of the traced machine
  std::string backend;      // "" = taken from the first event
  std::string command;      // the traced command line, "" if none
  std::string recorded_at;  // ISO 8601 UTC; "" = unknown (written as null)
};

// ---- the Chrome trace layout ----
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

// ---- reading a trace or log back ----

// What a trace file said besides its records.
struct TraceInfo {
  TraceMeta meta;
  bool chrome = false;  // a Chrome trace, not a JSON-lines log
  int version = 0;      // of a Chrome trace
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
