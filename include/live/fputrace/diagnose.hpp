// The live half of an EBUSY diagnosis: what procfs shows holding the mount,
// added to the model's umount_busy finding (which knows the deferred half),
// together with what the kernel side captured at the instant of the EBUSY
// (the mount's count and children) when it could.
#pragma once

#include <cstdint>
#include <future>
#include <optional>

#include "fputrace/holders.hpp"
#include "fputrace/model.hpp"

namespace fputrace {

// What a procfs scan found, and when (CLOCK_MONOTONIC, the BPF clock).
struct LiveScan {
  std::optional<LiveCauses> causes;  // nullopt: the mount was gone before the scan
  uint64_t started_ns = 0;
};

// Scans processes and mounts for the finding's mount. Safe on any thread.
// skip_tgid: leave this process (the collector) out.
LiveScan scan_live(const MountRef& mount, uint32_t skip_tgid);

// Starts scan_live on its own thread at once: the ring-buffer drain does not
// wait for procfs, and a holder that goes away a moment later is still seen.
std::future<LiveScan> start_live_scan(const MountRef& mount, uint32_t skip_tgid);

// Fills verdict and live from the scan and the kernel's snapshot (children
// and count at the EBUSY), with how long after the EBUSY the scan ran.
void apply_diagnosis(Finding& busy, const LiveScan& scan);

// Both at once, on this thread.
void add_live_causes(Finding& busy, uint32_t skip_tgid);

// An umount_busy-shaped finding for a mount right now (busy, umount timeout):
// the model's pins on it, then the live causes.
Finding busy_now(const Model& model, const MountRef& mount);

// Tracepoint backend: the kernel did not name the mount, so find it where
// the caller sees it: its path (joined to its cwd if relative) in the
// caller's own mount table (/proc/TGID/mountinfo), whatever its namespace.
// Sets umount->resolved_mnt_id when found.
void resolve_in_caller_namespace(Event& e, const std::string& proc_root = "/proc");

// CLOCK_MONOTONIC in ns: the clock of the BPF side's time_ns.
uint64_t monotonic_ns();

}  // namespace fputrace
