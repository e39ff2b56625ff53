#include "diagnose.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include "fputrace/containers.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/holders.hpp"

namespace fputrace {

std::vector<std::string> pin_lines(const std::vector<Pin>& pins, uint64_t now_ns) {
  std::vector<std::string> lines;
  for (const Pin& p : pins) {
    double held_ms = now_ns >= p.since_ns ? static_cast<double>(now_ns - p.since_ns) / 1e6 : 0.0;
    lines.push_back(fmt::format("{} (ino {}) from {} (pid {}{}) via {}, held by {} for {:.1f} ms [{}]: {}",
                                printable(full_path(p.mount, p.file)), p.file.ino, printable(p.origin.comm),
                                p.origin.tgid, printable(place_suffix(p.origin)), to_string(p.source),
                                to_string(p.holder), held_ms, to_string(p.confidence), printable(p.why)));
  }
  return lines;
}

Finding busy_now(const Model& model, const MountRef& mount) {
  Finding busy;
  busy.kind = Finding::Kind::UmountBusy;
  busy.mount = mount;
  busy.pins = model.pins_on(mount.id);
  busy.verdict = busy.pins.empty() ? "unknown" : "deferred_release";
  auto self = static_cast<uint32_t>(::getpid());
  busy.actor = Task{self, self, 0, "fputrace"};
  add_live_causes(busy, self);
  return busy;
}

void add_live_causes(Finding& busy, uint32_t skip_tgid) {
  if (busy.mount.path.empty()) return;
  auto target = find_mount_target(busy.mount.path);
  // Gone already (the release won the race with us): only the pins speak.
  if (!target || target->mount.id != busy.mount.id) return;
  ScanOptions opts;
  opts.skip_tgid = skip_tgid;
  LiveCauses causes = find_live_causes(*target, opts);
  busy.verdict = verdict_for(causes, busy.pins.size());
  busy.live = live_causes_to_json(causes);
  busy.live["references"] = references_json(references_explained(causes, busy.pins.size()))["references"];
  busy.live_text = diagnosis_text(busy.mount, busy.verdict, causes, pin_lines(busy.pins, busy.time_ns));
}

}  // namespace fputrace
