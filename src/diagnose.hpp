// The live half of an EBUSY diagnosis: what procfs shows holding the mount,
// added to the model's umount_busy finding (which knows the deferred half).
#pragma once

#include "fputrace/model.hpp"

namespace fputrace {

// Scans processes and mounts for the finding's mount and fills verdict, live
// and live_text. skip_tgid: leave this process (the collector) out.
void add_live_causes(Finding& busy, uint32_t skip_tgid);

// An umount_busy-shaped finding for a mount right now (busy, umount timeout):
// the model's pins on it, then the live causes.
Finding busy_now(const Model& model, const MountRef& mount);

// One line per deferred pin, as diagnosis_text wants them.
std::vector<std::string> pin_lines(const std::vector<Pin>& pins, uint64_t now_ns);

}  // namespace fputrace
