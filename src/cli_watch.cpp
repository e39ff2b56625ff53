// fputrace watch: trace live, explain umount EBUSY as it happens.
#include <fmt/format.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <ctime>
#include <fstream>

#include "cli.hpp"
#include "command.hpp"
#include "diagnose.hpp"
#include "fputrace/event_json.hpp"
#include "fputrace/model.hpp"
#include "fputrace/timeline.hpp"
#include "kernel_features.hpp"
#include "loader.hpp"
#include "sink.hpp"

namespace fputrace {

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) {
  g_stop = true;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: let poll return
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void report_losses(const TraceStats& s, Sink& sink) {
  if (sink.json()) {
    sink.write_json({{"event", "summary"},
                     {"ringbuf_drops", s.ringbuf_drops},
                     {"map_full", s.map_full},
                     {"final_fputs_watched", s.final_fputs},
                     {"deferred", s.deferred},
                     {"fd_scan_truncated", s.fd_scan_truncated},
                     {"ring_layout_unknown", s.ring_layout_unknown},
                     {"late_deferrals", s.late_deferrals},
                     {"uring_requests", s.uring_requests},
                     {"owner_evictions", s.owner_evictions},
                     {"undecodable", s.undecodable}});
  }
  if (s.ringbuf_drops || s.map_full || s.undecodable || s.fd_scan_truncated || s.owner_evictions)
    complain(
        fmt::format("lost data: {} records dropped (ring buffer full), {} items untracked (map full), "
                    "{} file owners evicted (LRU full), {} undecodable records, {} fd lists cut short",
                    s.ringbuf_drops, s.map_full, s.owner_evictions, s.undecodable, s.fd_scan_truncated));
}

std::string kernel_release() {
  struct utsname u {};
  if (::uname(&u) != 0) return "unknown";
  return std::string(u.release) + " " + u.version;
}

std::string utc_now() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

bool write_chrome_trace(const std::string& path, const std::vector<LogRecord>& log, const TraceMeta& meta,
                        std::string& error) {
  std::ofstream out(path);
  if (out) out << chrome_trace(log, meta).dump() << "\n";
  if (!out) error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
  return static_cast<bool>(out);
}

// Polls until the buffer stays empty for quiet_ms.
void drain(Tracer& tracer, int quiet_ms) {
  auto last = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - last < std::chrono::milliseconds(quiet_ms)) {
    if (tracer.poll(20) > 0) last = std::chrono::steady_clock::now();
  }
}

}  // namespace

void complain(const std::string& msg) {
  fmt::print(stderr, "fputrace: {}\n", msg);
}

bool preflight(std::string& error) {
  Capability priv = bpf_privileges();
  if (!priv.available) {
    error = priv.reason;
    return false;
  }
  if (!read_kernel_info().btf) {
    error = "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): it needs CONFIG_DEBUG_INFO_BTF=y";
    return false;
  }
  return true;
}

std::optional<MountInfo> resolve_mount_point(const std::string& path, ProcMounts& mounts, std::string& error) {
  char real[PATH_MAX];
  if (!::realpath(path.c_str(), real)) {
    error = fmt::format("{}: {}", path, std::strerror(errno));
    return std::nullopt;
  }
  auto m = mounts.mounted_at(real);
  if (!m) error = fmt::format("{}: not a mount point (see findmnt)", path);
  return m;
}

std::optional<std::vector<int32_t>> resolve_mounts(const std::vector<std::string>& paths, ProcMounts& mounts,
                                                   std::string& error) {
  std::vector<int32_t> ids;
  for (const auto& p : paths) {
    auto m = resolve_mount_point(p, mounts, error);
    if (!m) {
      error = "--mount " + error;
      return std::nullopt;
    }
    ids.push_back(m->id);
  }
  return ids;
}

int run_watch(const WatchOptions& o) {
  std::string error;
  if (!preflight(error)) return complain(error), 1;
  ProcMounts mounts;
  auto mount_ids = resolve_mounts(o.mounts, mounts, error);
  if (!mount_ids) return complain(error), 1;
  bool recording = !o.trace_path.empty();
  bool chrome = recording && o.trace_format == "chrome";
  // record prints no findings; watch prints them where asked.
  auto sink = Sink::open(recording ? "/dev/null" : o.output, o.json, error);
  if (!sink) return complain(error), 1;

  std::optional<Command> cmd;
  if (!o.command.empty()) {
    cmd = Command::prepare(o.command, error);
    if (!cmd) return complain(error), 1;
  }

  std::unique_ptr<Sink> raw_log;
  std::string raw_path = recording && !chrome ? o.trace_path : o.events_path;
  if (!raw_path.empty()) {
    raw_log = Sink::open(raw_path, true, error);
    if (!raw_log) return complain(error), 1;
  }
  std::vector<LogRecord> kept;  // for the Chrome trace, written at the end
  RecordingMounts named(mounts, [&](const MountInfo& m) {
    if (raw_log) raw_log->write_json(mount_to_json(m));
    if (chrome) kept.push_back(m);
  });
  Model model(named);
  TraceOptions topts{o.backend, *mount_ids};
  auto tracer = start_tracer(
      topts,
      [&](const Event& e) {
        // Mount names the model looks up are logged before the event itself.
        std::vector<Finding> findings = model.apply(e);
        if (raw_log) raw_log->write_json(event_to_json(e));
        if (chrome) kept.push_back(e);
        for (Finding& f : findings) {
          if (recording) continue;
          if (f.kind == Finding::Kind::UmountBusy) add_live_causes(f, static_cast<uint32_t>(::getpid()));
          sink->write(f);
        }
      },
      error);
  if (!tracer) {
    if (cmd) ::kill(cmd->pid(), SIGKILL), cmd->finished();
    return complain(error), 1;
  }
  install_signal_handlers();
  if (cmd && !cmd->start(error)) return complain(error), 1;
  complain("tracing with " + tracer->describe());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                         std::chrono::duration<double>(o.duration_s));
  while (!g_stop) {
    tracer->poll(100);
    if (cmd && cmd->finished()) break;
    if (o.duration_s > 0 && std::chrono::steady_clock::now() >= deadline) break;
  }
  // The command is gone (or we were told to stop): collect what is in flight.
  drain(*tracer, 250);
  tracer->detach();
  drain(*tracer, 20);
  report_losses(tracer->stats(), *sink);
  if (chrome) {
    TraceMeta meta{kernel_release(), std::string(to_string(tracer->plan().fput_backend)), joined(o.command), utc_now()};
    if (!write_chrome_trace(o.trace_path, kept, meta, error)) return complain(error), 1;
  }
  if (recording) complain(fmt::format("recorded {} to {}", chrome ? "a Chrome trace" : "the event log", o.trace_path));
  return 0;
}

}  // namespace fputrace
