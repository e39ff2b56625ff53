// fputrace umount: unmount once the deferred releases on the mount are done.
//
// Instead of sleeping in a retry loop, it retries when the probes report that
// something that can release a mount reference happened: a delayed_fput run or
// a ring's exit work ended, a tracked file was released, a process exited, a
// request completed. A slow heartbeat retry covers releases no probe can see
// (task work on the tracepoint backend).
#include <fmt/format.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "fputrace/cli.hpp"
#include "fputrace/cli_filter.hpp"
#include "fputrace/command.hpp"
#include "fputrace/diagnose.hpp"
#include "fputrace/diagnosis_out.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/model.hpp"
#include "fputrace/loader.hpp"

namespace fputrace {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kHeartbeat = std::chrono::milliseconds(500);

bool may_release(EventType t) {
  switch (t) {
    case EventType::DelayedRunEnd:
    case EventType::RingExitEnd:
    case EventType::Released:
    case EventType::TaskExit:
    case EventType::UringDone:
    case EventType::AioDone:
      return true;
    default:
      return false;
  }
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Attempt {
  bool done = false;
  int err = 0;
};

Attempt try_umount(const std::string& path, int flags) {
  if (::umount2(path.c_str(), flags) == 0) return {true, 0};
  return {false, errno};
}

void report_success(const UmountOptions& o, double waited_ms, size_t releases, int attempts) {
  if (o.json) {
    fmt::print("{}\n", dump_json({{"event", "unmounted"},
                                  {"mount", o.path},
                                  {"waited_ms", waited_ms},
                                  {"releases_seen", releases},
                                  {"attempts", attempts}}));
    return;
  }
  if (attempts == 1)
    fmt::print("unmounted {} at the first attempt\n", printable(o.path));
  else
    fmt::print("unmounted {} after waiting {:.1f} ms ({} attempts, {} release event(s) seen)\n", printable(o.path),
               waited_ms, attempts, releases);
}

int report_timeout(const UmountOptions& o, Model& model, const MountInfo& mount, double waited_ms) {
  Finding busy = busy_now(model, MountRef{mount.id, mount.path});
  const TaskFilter filter = resolve_filter(o.filter);
  if (!o.json && !filter.matches(busy))
    fmt::print("timed out after {:.1f} s: {} is still busy; nothing was unmounted\n", waited_ms / 1000.0,
               printable(o.path));
  if (print_unmatched("umount_timeout", busy, filter, o.json)) return 2;
  if (o.json) {
    nlohmann::json j = finding_to_json(busy);
    j["event"] = "umount_timeout";
    note_filter(j, filter);
    j["waited_ms"] = waited_ms;
    fmt::print("{}\n", dump_json(std::move(j)));
  } else {
    fmt::print("timed out after {:.1f} s: {} is still busy; nothing was unmounted\n", waited_ms / 1000.0,
               printable(o.path));
    fmt::print("{}", busy_report_text(busy));
  }
  return 2;
}

}  // namespace

int run_umount(const UmountOptions& o) {
  std::string error;
  if (!preflight(error)) return complain(error), 1;
  ProcMounts mounts;
  // With a COMMAND the mount may not exist yet: trace every mount until it ran.
  std::optional<MountInfo> mount;
  if (o.command.empty()) {
    mount = resolve_mount_point(o.path, mounts, error);
    if (!mount) return complain(error), 1;
  }
  int flags = (o.force ? MNT_FORCE : 0) | (o.lazy ? MNT_DETACH : 0);

  Model model(mounts);
  size_t releases = 0;
  bool release_seen = false;
  TraceOptions topts{o.backend, {}};
  if (mount) topts.mount_ids = {mount->id};
  auto tracer = start_tracer(
      topts,
      naming_cgroups([&](const Event& e) {
        model.apply(e);
        if (may_release(e.type)) {
          release_seen = true;
          ++releases;
        }
      }),
      error);
  if (!tracer) return complain(error), 1;

  // With a COMMAND, a thread reaps it and tries the first umount at once,
  // exactly like a script that unmounts right after its daemon exits.
  Attempt a;
  Clock::time_point t0;
  if (!o.command.empty()) {
    auto cmd = Command::prepare(o.command, error);
    if (!cmd || !cmd->start(error)) return complain(error), 1;
    std::atomic<bool> first_done{false};
    std::thread reaper([&] {
      cmd->wait();
      t0 = Clock::now();
      a = try_umount(o.path, flags);
      first_done = true;
    });
    while (!first_done) tracer->poll(5);
    reaper.join();
    mount = resolve_mount_point(o.path, mounts, error);
    if (!mount && !a.done) return complain(error), 1;
  } else {
    t0 = Clock::now();
    a = try_umount(mount->path, flags);
  }
  releases = 0;

  auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s));
  int attempts = 1;
  auto last_try = Clock::now();
  while (!a.done && a.err == EBUSY && Clock::now() < deadline) {
    release_seen = false;
    tracer->poll(20);
    if (!release_seen && Clock::now() - last_try < kHeartbeat) continue;
    ++attempts;
    a = try_umount(mount->path, flags);
    last_try = Clock::now();
  }
  double waited = ms_since(t0);
  if (a.done) {
    report_success(o, waited, releases, attempts);
    return 0;
  }
  if (a.err != EBUSY) return complain(fmt::format("umount {}: {}", o.path, std::strerror(a.err))), 1;
  tracer->poll(0);
  return report_timeout(o, model, *mount, waited);
}

}  // namespace fputrace
