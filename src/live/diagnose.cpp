#include "fputrace/diagnose.hpp"

#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "fputrace/containers.hpp"
#include "fputrace/holders.hpp"
#include "fputrace/mounts.hpp"

namespace fputrace {

uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

Finding busy_now(const Model& model, const MountRef& mount) {
  Finding busy;
  busy.kind = Finding::Kind::UmountBusy;
  busy.time_ns = monotonic_ns();  // the pins' hold times are measured to now
  busy.mount = mount;
  busy.pins = model.pins_on(mount.id);
  busy.verdict = busy.pins.empty() ? "unknown" : "deferred_release";
  auto self = static_cast<uint32_t>(::getpid());
  busy.actor = Task{self, self, 0, "fputrace"};
  add_live_causes(busy, self);
  if (busy.live) busy.live->after_ebusy = false;
  return busy;
}

LiveScan scan_live(const MountRef& mount, uint32_t skip_tgid) {
  LiveScan scan;
  scan.started_ns = monotonic_ns();
  if (mount.path.empty()) return scan;
  auto target = find_mount_target(mount.path);
  // Gone already (the release won the race with us), or a mount of another
  // namespace: only the pins and the kernel's snapshot speak.
  if (!target || target->mount.id != mount.id) return scan;
  ScanOptions opts;
  opts.skip_tgid = skip_tgid;
  scan.causes = find_live_causes(*target, opts);
  return scan;
}

std::future<LiveScan> start_live_scan(const MountRef& mount, uint32_t skip_tgid) {
  return std::async(std::launch::async, [mount, skip_tgid] { return scan_live(mount, skip_tgid); });
}

namespace {

// The children the kernel saw at the EBUSY, which may be gone by the scan.
void add_kernel_children(LiveCauses& causes, const Finding& busy) {
  if (!busy.kernel) return;
  for (const ChildMount& c : busy.kernel->children) {
    bool known = false;
    for (const MountRef& m : causes.submounts) known = known || m.id == c.id;
    if (known) continue;
    std::string base = busy.mount.path == "/" ? "" : busy.mount.path;
    causes.submounts.push_back(MountRef{c.id, base + "/" + c.name});
  }
}

}  // namespace

void apply_diagnosis(Finding& busy, const LiveScan& scan) {
  bool kernel_saw = busy.kernel && (busy.kernel->refs || busy.kernel->nr_children);
  if (!scan.causes && !kernel_saw) return;
  LiveDiagnosis d;
  d.causes = scan.causes.value_or(LiveCauses{});
  add_kernel_children(d.causes, busy);
  busy.verdict = verdict_for(d.causes, busy.pins.size());
  d.references_explained = references_explained(d.causes, busy.pins.size());
  if (busy.kernel) d.kernel_count = busy.kernel->refs;
  d.scanned = scan.causes.has_value();
  d.scan_after_ms = scan.started_ns > busy.time_ns ? static_cast<double>(scan.started_ns - busy.time_ns) / 1e6 : 0.0;
  busy.live = std::move(d);
}

void resolve_in_caller_namespace(Event& e, const std::string& proc_root) {
  if (e.type != EventType::Umount || !e.umount || e.umount->mount_known || e.path.empty()) return;
  if (e.path[0] != '/' && e.umount->cwd.empty()) return;  // relative, and no cwd
  std::string path = joined_path(e.umount->cwd, e.path);
  std::ifstream in(fmt::format("{}/{}/mountinfo", proc_root, e.task.tgid));
  if (!in) return;  // the caller is gone: the path is all there is
  // The topmost mount at that point is listed last.
  for (const MountInfo& m : parse_mountinfo(in))
    if (m.path == path) {
      e.umount->resolved_mnt_id = m.id;
      e.umount->resolved_path = path;
    }
}

void add_live_causes(Finding& busy, uint32_t skip_tgid) {
  apply_diagnosis(busy, scan_live(busy.mount, skip_tgid));
}

}  // namespace fputrace
