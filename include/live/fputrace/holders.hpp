// Live causes of a busy mount, found from procfs after umount said EBUSY:
// processes holding files, directories or mappings on it, mounts on top of
// it, and busy copies of it that umount would have to take down too.
//
// The deferred releases fputrace traces (pins) explain an EBUSY only when
// nothing live does; this is the other half of the diagnosis. Everything here
// reads a procfs root passed in, so the unit tests run on a fake tree. The
// causes are plain data (model/live_causes.hpp); render/diagnosis_out.hpp
// draws them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fputrace/live_causes.hpp"
#include "fputrace/model.hpp"

namespace fputrace {

// The mount umount was asked to remove.
struct MountTarget {
  MountRef mount;    // id from mountinfo (the global mnt_id), mount point
  uint64_t dev = 0;  // st_dev of files on it: makedev(major, minor) of mountinfo field 3
};

// The mount visible at mount_point (the topmost one when stacked), from
// proc_root/self/mountinfo; nullopt when nothing is mounted there.
std::optional<MountTarget> find_mount_target(const std::string& mount_point, const std::string& proc_root = "/proc");

struct ScanOptions {
  std::string proc_root = "/proc";
  std::optional<uint32_t> skip_tgid;  // leave this process out, e.g. getpid()
  // Ask statx(STATX_MNT_ID) which mount cwd/root/exe are on (exact). Off, or
  // on kernels before 5.8: st_dev plus the path under the mount point.
  bool link_mnt_id = true;
};

// Scans every process under opts.proc_root. Processes that exit mid-scan are
// skipped silently; permission errors are counted in unreadable_pids.
LiveCauses find_live_causes(const MountTarget& target, const ScanOptions& opts = {});

// The leading cause, one of "child_mounts", "live_holder", "propagation",
// "deferred_release", "unknown". Precedence, most certain first:
//   child_mounts      the kernel checks them first and no waiting helps;
//   live_holder       a reference held on the mount itself by a live process;
//   propagation       live references on a copy umount must take down too;
//   deferred_release  pins explain the EBUSY only when nothing live does:
//                     they go away by themselves within milliseconds;
//   unknown           nothing fputrace can see (loop devices, swap files, nfsd,
//                     kernel users, processes we could not read).
std::string verdict_for(const LiveCauses& causes, size_t deferred_pins);

}  // namespace fputrace
