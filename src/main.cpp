// fputrace: why did umount fail with EBUSY after the process had exited?
#include <CLI/CLI.hpp>

#include "cli.hpp"

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
  w->add_option("--backend", watch.backend, "auto|fentry|kprobe|tracepoint")
      ->check(CLI::IsMember({"auto", "fentry", "kprobe", "tracepoint"}));
  w->add_option("--events", watch.events_path, "also write the raw event log (JSON lines) to FILE");
  w->add_option("command", watch.command, "COMMAND [ARGS...] to run and trace (after --)");

  fputrace::DoctorOptions doctor;
  auto* d = app.add_subcommand("doctor", "show what this kernel allows and which backend would be used");
  d->add_flag("--json", doctor.json, "JSON output");

  CLI11_PARSE(app, argc, argv);
  if (w->parsed()) return fputrace::run_watch(watch);
  if (d->parsed()) return fputrace::run_doctor(doctor);
  return 2;
}
