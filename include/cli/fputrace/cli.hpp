// Subcommands. Each returns the process exit status.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fputrace/containers.hpp"
#include "fputrace/mounts.hpp"
#include "fputrace/proc_mounts.hpp"

namespace fputrace {

struct WatchOptions {
  bool json = false;
  bool journal = false;             // findings to journald, an entry per JSON object
  bool journal_export = false;      // the same entries in the journal's export format, to output
  std::string output;               // "" = stdout
  std::string metrics_file;         // Prometheus textfile, rewritten every kMetricsEvery
  std::vector<std::string> mounts;  // --mount PATH...
  std::string backend = "auto";
  std::vector<std::string> command;  // after --
  std::string events_path;           // also write the raw event log here
  // record: write a Chrome trace (or the raw log) to trace_path, findings off.
  std::string trace_path;
  std::string trace_format = "chrome";  // "chrome" or "jsonl"
  double duration_s = 0;                // stop after this long; 0: no limit
  TaskFilter filter;                    // --cgroup, --container (cli_filter.hpp)
};
int run_watch(const WatchOptions& o);

struct ReportOptions {
  std::string path;
  bool json = false;
  std::string html_out;  // write the HTML page here instead
};
int run_report(const ReportOptions& o);

struct DoctorOptions {
  bool json = false;
};
int run_doctor(const DoctorOptions& o);

struct BusyOptions {
  std::string path;
  bool json = false;
  int watch_ms = 300;
  std::string backend = "auto";
  TaskFilter filter;
};
int run_busy(const BusyOptions& o);
// busy on a block device (its mounts, a lazy umount still held, openers) or a
// file (its locks and who holds it): cli_busy_targets.cpp.
int run_busy_device(const BusyOptions& o, uint64_t rdev);
int run_busy_file(const BusyOptions& o, uint64_t dev, uint64_t ino);

struct UmountOptions {
  std::string path;
  double timeout_s = 10;
  bool force = false;  // MNT_FORCE
  bool lazy = false;   // MNT_DETACH
  bool json = false;
  std::string backend = "auto";
  std::vector<std::string> command;  // run first, then unmount
  TaskFilter filter;                 // only for the report when it times out
};
// Exit status: 0 unmounted, 1 error, 2 timed out (nothing unmounted).
int run_umount(const UmountOptions& o);

// One line on stderr: "fputrace: <msg>".
void complain(const std::string& msg);

// Root (or CAP_BPF+CAP_PERFMON) and kernel BTF, else a one-line reason.
bool preflight(std::string& error);
// The mount whose mount point is path (after realpath), else a reason.
std::optional<MountInfo> resolve_mount_point(const std::string& path, ProcMounts& mounts, std::string& error);
std::optional<std::vector<int32_t>> resolve_mounts(const std::vector<std::string>& paths, ProcMounts& mounts,
                                                   std::string& error);

}  // namespace fputrace
