// Files fputrace writes (findings, the event log, traces, the HTML page), with
// every write, flush and close checked. A full disk or a closed pipe is an
// error like any other: one line, "cannot write PATH: REASON", exit 1.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

namespace fputrace {

class OutFile {
 public:
  // "" or "-" is standard output. Creates (truncates) the file at once, so a
  // bad path fails before any tracing; nullptr with the reason in error.
  static std::unique_ptr<OutFile> open(const std::string& path, std::string& error);
  ~OutFile();  // closes quietly: call close() to learn about errors

  // Each returns false once anything has failed; the first failure is kept.
  bool write(std::string_view data);
  bool flush();
  bool close();  // flush, then fclose (standard output is only flushed)

  bool ok() const { return err_ == 0; }
  // "cannot write PATH: REASON" (PATH "standard output" for stdout).
  std::string error() const;
  const std::string& name() const { return name_; }

 private:
  OutFile(FILE* f, bool owned, std::string name) : f_(f), owned_(owned), name_(std::move(name)) {}
  bool fail(int err);

  FILE* f_;
  bool owned_;
  std::string name_;
  int err_ = 0;
};

// Replaces path's content at once: writes PATH.tmp.PID beside it, then renames
// it over path, so a reader (node_exporter's textfile collector) never sees a
// half-written file. False with "cannot write PATH: REASON" in error.
bool replace_file(const std::string& path, std::string_view content, std::string& error);

// The wall clock in microseconds, for outputs that carry it (journal export
// entries, the metrics file's update time); the BPF clock is CLOCK_MONOTONIC.
uint64_t realtime_us();

}  // namespace fputrace
