// Live causes of a busy mount, found from procfs after umount said EBUSY:
// processes holding files, directories or mappings on it, mounts on top of
// it, and busy copies of it that umount would have to take down too.
//
// The deferred releases fputrace traces (pins) explain an EBUSY only when
// nothing live does; this is the other half of the diagnosis. Everything here
// reads a procfs root passed in, so the unit tests run on a fake tree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

// How a live process holds the mount.
enum class HoldKind { Fd, Cwd, Root, Exe, Mmap };
std::string_view to_string(HoldKind k);  // "fd", "cwd", "root", "exe", "mmap"

struct LiveHolder {
  HoldKind source = HoldKind::Fd;
  uint32_t tgid = 0;
  std::string comm;
  std::string path;  // as procfs names it (may end in " (deleted)")
  int fd = -1;       // HoldKind::Fd only
  uint64_t ino = 0;
  // Where it runs (containers.hpp): /proc/PID/cgroup's 0:: path, that
  // cgroup's id (0 if the cgroup2 mount was not found), /proc/PID/ns/mnt.
  uint64_t cgroup_id = 0;
  std::string cgroup_path;
  uint64_t mntns = 0;
};

// The holder as a task (tid = tgid), for the outputs every task shares.
Task holder_task(const LiveHolder& h);

// A copy of the mount that umount propagates to (it sits at the same place
// under a peer or slave of the parent mount) and that live processes hold:
// propagate_mount_busy() then fails the umount of the original.
struct PropagationCause {
  MountRef copy;
  int32_t peer_group = 0;  // the parent's shared:N group that propagates to it
  uint32_t ns_pid = 0;     // a process in the copy's mount namespace; 0: ours
  std::vector<LiveHolder> holders;
};

struct LiveCauses {
  std::vector<LiveHolder> holders;
  std::vector<MountRef> submounts;  // mounts whose parent is this mount
  std::vector<PropagationCause> propagation;
  int unreadable_pids = 0;  // processes we were not allowed to inspect
};

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

// A live holder in the shape of a pin (docs/json-schema.md), holder "process".
nlohmann::json live_holder_to_json(const LiveHolder& h);
// {"holders":[pin-shaped...], "submounts":[{"path","id"}],
//  "propagation":[{"path","id","peer_group","ns_pid","holders":[...]}], "unreadable_pids":N}
nlohmann::json live_causes_to_json(const LiveCauses& causes);

// References on the mount itself that fputrace can name: live holders (fd,
// cwd, root, exe, and mappings not already counted through the same file),
// one per submount (a child mount holds its parent) and one per deferred pin.
// Approximate: a struct file shared by processes (fork, SCM_RIGHTS) counts
// once per process.
int64_t references_explained(const LiveCauses& causes, size_t deferred_pins);

// {"references":{"explained":N,"unexplained":M|null,"note":"..."}}.
// kernel_count is mnt_get_count() as do_umount() compares it, which includes
// the mount's own reference and umount's lookup; user space cannot read it,
// so without one "unexplained" is null.
nlohmann::json references_json(int64_t explained, std::optional<int64_t> kernel_count = std::nullopt);

// One short paragraph per cause, the leading cause (verdict) first, naming
// processes and files and saying what to do. deferred_pin_lines: one line per
// pin, as the text output already renders them.
std::string diagnosis_text(const MountRef& mount, std::string_view verdict, const LiveCauses& causes,
                           const std::vector<std::string>& deferred_pin_lines);

}  // namespace fputrace
