// fputrace busy: what holds a mount now. Live holders, child mounts and
// propagation from procfs (what fuser -vm sees), plus the deferred releases in
// flight, caught by tracing the mount for a short while (what fuser cannot see).
// A block device or a file that is not a mount point goes to
// cli_busy_targets.cpp.
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "fputrace/cli.hpp"
#include "fputrace/cli_filter.hpp"
#include "fputrace/diagnose.hpp"
#include "fputrace/diagnosis_out.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/loader.hpp"
#include "fputrace/model.hpp"

namespace fputrace {

int run_busy(const BusyOptions& o) {
  std::string error;
  if (!preflight(error)) return complain(error), 1;
  ProcMounts mounts;
  auto mount = resolve_mount_point(o.path, mounts, error);
  struct stat st {};
  if (!mount && ::stat(o.path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    if (o.filter.active()) return complain(o.path + ": --cgroup and --container apply to mount points only"), 1;
    return S_ISBLK(st.st_mode) ? run_busy_device(o, st.st_rdev) : run_busy_file(o, st.st_dev, st.st_ino);
  }
  if (!mount) return complain(error + "; busy takes a mount point, a block device or a file"), 1;

  Model model(mounts);
  std::vector<Finding> deferred;
  TraceOptions topts{o.backend, {mount->id}};
  auto tracer = start_tracer(topts, naming_cgroups([&](const Event& e) {
                               for (Finding& f : model.apply(e))
                                 if (f.kind == Finding::Kind::Deferred) deferred.push_back(f);
                             }),
                             error);
  if (!tracer) return complain(error), 1;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.watch_ms);
  while (std::chrono::steady_clock::now() < until) tracer->poll(20);

  Finding busy = busy_now(model, MountRef{mount->id, mount->path});
  const TaskFilter filter = resolve_filter(o.filter);
  if (print_unmatched("busy", busy, filter, o.json)) return 0;

  if (o.json) {
    nlohmann::json j = finding_to_json(busy);
    j["event"] = "busy";
    note_filter(j, filter);
    j["watched_ms"] = o.watch_ms;
    j["deferred_seen"] = deferred.size();
    fmt::print("{}\n", dump_json(std::move(j)));
    return 0;
  }
  bool idle = busy.verdict == "unknown" && busy.pins.empty() && busy.live && busy.live->causes.holders.empty() &&
              busy.live->causes.submounts.empty();
  if (idle) {
    fmt::print("{} (mount {}): nothing holds it that fputrace can see (watched {} ms)\n", printable(mount->path),
               mount->id, o.watch_ms);
    return 0;
  }
  fmt::print("{}", busy_report_text(busy));
  return 0;
}

}  // namespace fputrace
