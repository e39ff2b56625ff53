// fputrace: why did umount fail with EBUSY after the process had exited?
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <system_error>

#include "fputrace/cli.hpp"
#include "fputrace/cli_checks.hpp"
#include "fputrace/escape.hpp"

namespace {

void add_backend_option(CLI::App* sub, std::string& backend) {
  sub->add_option("--backend", backend, "auto|fentry|kprobe|tracepoint")
      ->check(CLI::IsMember({"auto", "fentry", "kprobe", "tracepoint"}));
}

// --cgroup and --container: what they select depends on the command (what).
void add_filter_options(CLI::App* sub, fputrace::TaskFilter& f, const std::string& what) {
  sub->add_option("--cgroup", f.cgroup,
                  what +
                      " tasks in this cgroup or below it: a cgroup2 path as /proc/PID/cgroup shows it "
                      "(/system.slice/docker-ID.scope) or its directory under the cgroup2 mount");
  sub->add_option("--container", f.container,
                  what +
                      " tasks in a container whose id starts with ID (docker, containerd, cri-o, podman; a "
                      "systemd unit name counts as an id); with --cgroup, both must hold");
}

// CLI11 reads "nan", "inf" and "1e10" as doubles, and its Range lets NaN
// through: numbers are checked as text first.
CLI::Validator number_in(double lo, bool lo_open, double hi) {
  return CLI::Validator([=](std::string& s) { return fputrace::check_number(s, lo, lo_open, hi); }, "", "");
}

// Whatever was written to stdout and not yet flushed must get there too.
// Status 1 has said why already (maybe that very write error): one line only.
int finish_stdout(int status) {
  if (status == 1) return status;
  errno = 0;
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    fputrace::complain(fmt::format("cannot write standard output: {}", std::strerror(errno ? errno : EIO)));
    return 1;
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fputrace: find what still holds a mount after its process exited (deferred file release)"};
  app.require_subcommand(1);
  // Bad input gets one line on stderr, like every other failure.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "fputrace: " + fputrace::printable(e.what()) + " (see fputrace --help)\n";
  });

  fputrace::WatchOptions watch;
  auto* w = app.add_subcommand("watch", "trace live and explain umount EBUSY as it happens");
  w->add_flag("--json", watch.json, "one JSON object per line");
  auto* wo = w->add_option("-o,--output", watch.output, "write to FILE instead of stdout");
  auto* wj =
      w->add_flag("--journal", watch.journal,
                  "send each finding to the systemd journal: the JSON object as MESSAGE, with fields "
                  "FPUTRACE_EVENT, FPUTRACE_VERDICT, FPUTRACE_MOUNT, ... (journalctl FPUTRACE_EVENT=umount_busy)");
  w->add_flag("--journal-export", watch.journal_export,
              "write those journal entries in the journal export format to stdout or -o FILE instead "
              "(for systemd-journal-remote, or where no journald runs)")
      ->excludes(wj);
  wj->excludes(wo);
  w->add_option("--metrics-file", watch.metrics_file,
                "keep Prometheus metrics in FILE (node_exporter's textfile collector: name it *.prom in its "
                "directory), rewritten atomically every 10 s and at exit");
  w->add_option("--mount", watch.mounts, "watch only this mount (repeatable; default: all)");
  add_backend_option(w, watch.backend);
  w->add_option("--events", watch.events_path, "also write the raw event log (JSON lines) to FILE");
  w->add_option("command", watch.command, "COMMAND [ARGS...] to run and trace (after --)");
  add_filter_options(w, watch.filter,
                     "print only findings (and log only records) about a pin's origin, the umount caller or a live "
                     "holder among");

  fputrace::WatchOptions rec;
  auto* r = app.add_subcommand("record", "record a trace (Chrome Trace Event JSON for Perfetto, or the raw event log)");
  r->add_option("-o,--output", rec.trace_path, "trace file")->required();
  r->add_option("--mount", rec.mounts, "record only this mount (repeatable; default: all)");
  add_backend_option(r, rec.backend);
  r->add_option("--duration", rec.duration_s,
                fmt::format("stop after S seconds (0 < S <= {})", fputrace::kMaxDurationS))
      ->check(number_in(0, true, fputrace::kMaxDurationS));
  r->add_option("--events", rec.events_path, "also write the raw event log (JSON lines) to FILE as it goes");
  r->add_option("--format", rec.trace_format, "chrome (default) or jsonl")->check(CLI::IsMember({"chrome", "jsonl"}));
  r->add_option("command", rec.command, "COMMAND [ARGS...] to run and trace (after --)");
  add_filter_options(r, rec.filter, "record only the records of, and those needed to explain findings about,");

  fputrace::ReportOptions rep;
  auto* p = app.add_subcommand("report", "explain a recorded trace offline");
  p->add_option("file", rep.path, "trace written by record (Chrome JSON or JSON lines)")->required();
  auto* rj = p->add_flag("--json", rep.json, "JSON lines, the watch schema");
  p->add_option("--html", rep.html_out, "write a self-contained HTML timeline to OUT")->excludes(rj);

  fputrace::DoctorOptions doctor;
  auto* d = app.add_subcommand("doctor", "show what this kernel allows and which backend would be used");
  d->add_flag("--json", doctor.json, "JSON output");

  fputrace::BusyOptions busy;
  auto* b = app.add_subcommand(
      "busy", "what holds a mount, a block device or a file's lock now: live holders and deferred releases in flight");
  b->add_option("path", busy.path, "mount point, block device (mounts, lazy umounts still held) or file (its locks)")
      ->required();
  b->add_flag("--json", busy.json, "JSON output");
  b->add_option(
       "--watch-ms", busy.watch_ms,
       fmt::format("how long to watch for deferred releases (0 <= N <= {}, default 300)", fputrace::kMaxWatchMs))
      ->check(number_in(0, false, fputrace::kMaxWatchMs));
  add_backend_option(b, busy.backend);
  add_filter_options(b, busy.filter, "explain the mount only if a deferred pin or live holder comes from");

  fputrace::UmountOptions um;
  auto* u = app.add_subcommand("umount",
                               "unmount once the deferred releases on the mount are done "
                               "(exit 0 unmounted, 1 error, 2 timed out)");
  u->add_option("path", um.path, "mount point")->required();
  u->add_option("--timeout", um.timeout_s,
                fmt::format("give up after S seconds (0 <= S <= {}, default 10)", fputrace::kMaxTimeoutS))
      ->check(number_in(0, false, fputrace::kMaxTimeoutS));
  u->add_flag("-f,--force", um.force, "MNT_FORCE");
  u->add_flag("-l,--lazy", um.lazy, "MNT_DETACH (returns at once; the superblock lives on)");
  u->add_flag("--json", um.json, "JSON output");
  add_backend_option(u, um.backend);
  add_filter_options(u, um.filter,
                     "on timeout, explain what holds the mount only if a deferred pin or live holder comes from");
  u->add_option("command", um.command, "COMMAND [ARGS...] to run first (after --), then unmount");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a "parse error" that exits 0; every real one exits 1, not CLI11's 104-109.
    return app.exit(e) == 0 ? 0 : 1;
  }
  try {
    int status = 2;
    if (w->parsed()) status = fputrace::run_watch(watch);
    if (d->parsed()) status = fputrace::run_doctor(doctor);
    if (b->parsed()) status = fputrace::run_busy(busy);
    if (u->parsed()) status = fputrace::run_umount(um);
    if (r->parsed()) status = fputrace::run_watch(rec);
    if (p->parsed()) status = fputrace::run_report(rep);
    return finish_stdout(status);
  } catch (const std::system_error& e) {
    // fmt::print throws "cannot write to file" when stdout cannot take what it printed.
    bool write = std::string_view(e.what()).find("cannot write") != std::string_view::npos;
    fputrace::complain(write ? fmt::format("cannot write standard output: {}", e.code().message()) : e.what());
  } catch (const std::exception& e) {
    fputrace::complain(e.what());
  }
  return 1;
}
