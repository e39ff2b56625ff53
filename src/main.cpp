// fputrace: why did umount fail with EBUSY after the process had exited?
#include <CLI/CLI.hpp>

#include "cli.hpp"

namespace {

void add_backend_option(CLI::App* sub, std::string& backend) {
  sub->add_option("--backend", backend, "auto|fentry|kprobe|tracepoint")
      ->check(CLI::IsMember({"auto", "fentry", "kprobe", "tracepoint"}));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fputrace: find what still holds a mount after its process exited (deferred file release)"};
  app.require_subcommand(1);
  // Bad input gets one line on stderr, like every other failure.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("fputrace: ") + e.what() + " (see fputrace --help)\n";
  });

  fputrace::WatchOptions watch;
  auto* w = app.add_subcommand("watch", "trace live and explain umount EBUSY as it happens");
  w->add_flag("--json", watch.json, "one JSON object per line");
  w->add_option("-o,--output", watch.output, "write to FILE instead of stdout");
  w->add_option("--mount", watch.mounts, "watch only this mount (repeatable; default: all)");
  add_backend_option(w, watch.backend);
  w->add_option("--events", watch.events_path, "also write the raw event log (JSON lines) to FILE");
  w->add_option("command", watch.command, "COMMAND [ARGS...] to run and trace (after --)");

  fputrace::WatchOptions rec;
  auto* r = app.add_subcommand("record", "record a trace (Chrome Trace Event JSON for Perfetto, or the raw event log)");
  r->add_option("-o,--output", rec.trace_path, "trace file")->required();
  r->add_option("--mount", rec.mounts, "record only this mount (repeatable; default: all)");
  add_backend_option(r, rec.backend);
  r->add_option("--duration", rec.duration_s, "stop after S seconds");
  r->add_option("--format", rec.trace_format, "chrome (default) or jsonl")->check(CLI::IsMember({"chrome", "jsonl"}));
  r->add_option("command", rec.command, "COMMAND [ARGS...] to run and trace (after --)");

  fputrace::ReportOptions rep;
  auto* p = app.add_subcommand("report", "explain a recorded trace offline");
  p->add_option("file", rep.path, "trace written by record (Chrome JSON or JSON lines)")->required();
  auto* rj = p->add_flag("--json", rep.json, "JSON lines, the watch schema");
  p->add_option("--html", rep.html_out, "write a self-contained HTML timeline to OUT")->excludes(rj);

  fputrace::DoctorOptions doctor;
  auto* d = app.add_subcommand("doctor", "show what this kernel allows and which backend would be used");
  d->add_flag("--json", doctor.json, "JSON output");

  fputrace::BusyOptions busy;
  auto* b = app.add_subcommand("busy", "what holds a mount now: live holders and deferred releases in flight");
  b->add_option("path", busy.path, "mount point")->required();
  b->add_flag("--json", busy.json, "JSON output");
  b->add_option("--watch-ms", busy.watch_ms, "how long to watch for deferred releases (default 300)");
  add_backend_option(b, busy.backend);

  fputrace::UmountOptions um;
  auto* u = app.add_subcommand("umount",
                               "unmount once the deferred releases on the mount are done "
                               "(exit 0 unmounted, 1 error, 2 timed out)");
  u->add_option("path", um.path, "mount point")->required();
  u->add_option("--timeout", um.timeout_s, "give up after S seconds (default 10)");
  u->add_flag("-f,--force", um.force, "MNT_FORCE");
  u->add_flag("-l,--lazy", um.lazy, "MNT_DETACH (returns at once; the superblock lives on)");
  u->add_flag("--json", um.json, "JSON output");
  add_backend_option(u, um.backend);
  u->add_option("command", um.command, "COMMAND [ARGS...] to run first (after --), then unmount");

  CLI11_PARSE(app, argc, argv);
  if (w->parsed()) return fputrace::run_watch(watch);
  if (d->parsed()) return fputrace::run_doctor(doctor);
  if (b->parsed()) return fputrace::run_busy(busy);
  if (u->parsed()) return fputrace::run_umount(um);
  if (r->parsed()) return fputrace::run_watch(rec);
  if (p->parsed()) return fputrace::run_report(rep);
  return 2;
}
