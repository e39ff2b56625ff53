// fputrace busy DEVICE | FILE: what keeps a block device claimed (a mount, a
// lazily unmounted filesystem still held, an opener) or a file locked (a live
// process, or a deferred release of it). Traces every mount for --watch-ms,
// since a detached mount has no mount point to filter on, then lists the pins
// on the device or the inode beside what procfs and sysfs show.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <functional>

#include "fputrace/busy_targets.hpp"
#include "fputrace/busy_targets_out.hpp"
#include "fputrace/cli.hpp"
#include "fputrace/cli_filter.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/loader.hpp"
#include "fputrace/model.hpp"
#include "fputrace/proc_mounts.hpp"

namespace fputrace {

namespace {

uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Traces every mount for the watch and keeps what concerns the target: the
// pins on it at the end, the releases of its pins during the watch.
std::optional<BusyWatch> watch_target(const BusyOptions& o, uint32_t dev, std::optional<uint64_t> ino,
                                      std::string& error) {
  ProcMounts mounts;
  Model model(mounts);
  BusyWatch w;
  w.watched_ms = o.watch_ms;
  auto on_target = [&](const Pin& p) { return p.file.dev == dev && (!ino || p.file.ino == *ino); };
  auto tracer = start_tracer(TraceOptions{o.backend, {}}, naming_cgroups([&](const Event& e) {
                               for (Finding& f : model.apply(e)) {
                                 if (f.kind == Finding::Kind::Deferred) ++w.deferred_seen;
                                 if (f.kind == Finding::Kind::Loss) w.complete = false;
                                 if (f.kind == Finding::Kind::PinReleased && on_target(f.pins.at(0)))
                                   w.released.push_back(std::move(f));
                               }
                             }),
                             error);
  if (!tracer) return std::nullopt;
  complain("tracing with " + tracer->describe());  // as watch does: scripts wait for this line
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.watch_ms);
  while (std::chrono::steady_clock::now() < until) tracer->poll(20);
  w.pins = model.pins_on_device(dev, ino);
  w.now_ns = now_ns();
  TraceStats st = tracer->stats();
  if (st.ringbuf_drops > 0 || st.map_full > 0 || st.owner_evictions > 0) w.complete = false;
  return w;
}

int print(const BusyOptions& o, nlohmann::json json, const std::string& text) {
  if (o.json) {
    fmt::print("{}\n", dump_json(std::move(json)));
  } else {
    fmt::print("{}", text);
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) return complain("writing the output failed"), 1;
  return 0;
}

}  // namespace

int run_busy_device(const BusyOptions& o, uint64_t rdev) {
  std::string error;
  const uint32_t kdev = kernel_dev(rdev);
  auto w = watch_target(o, kdev, std::nullopt, error);
  if (!w) return complain(error), 1;
  DeviceScan scan = scan_block_device(rdev, static_cast<uint32_t>(::getpid()));
  const std::string verdict = device_verdict(scan, w->pins.size());
  return print(o, device_busy_json(o.path, scan, *w, verdict), device_busy_text(o.path, scan, *w, verdict));
}

int run_busy_file(const BusyOptions& o, uint64_t dev, uint64_t ino) {
  std::string error;
  auto w = watch_target(o, kernel_dev(dev), ino, error);
  if (!w) return complain(error), 1;
  FileScan scan = scan_file(dev, ino, static_cast<uint32_t>(::getpid()));
  const std::string verdict = file_verdict(scan, w->pins.size());
  return print(o, file_busy_json(o.path, scan, *w, verdict), file_busy_text(o.path, scan, *w, verdict));
}

}  // namespace fputrace
