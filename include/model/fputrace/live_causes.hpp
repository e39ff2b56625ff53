// What procfs showed holding a busy mount, as plain data: the live half of an
// EBUSY diagnosis, which a Finding carries beside the deferred half (its pins).
// Found by live/holders (find_live_causes), drawn by render/diagnosis_out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fputrace/event.hpp"
#include "fputrace/mounts.hpp"

namespace fputrace {

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

// The holder as a task (tid = tgid), for the outputs and filters every task shares.
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

// References on the mount itself that fputrace can name: live holders (fd,
// cwd, root, exe, and mappings not already counted through the same file),
// one per submount (a child mount holds its parent) and one per deferred pin.
// Approximate: a struct file shared by processes (fork, SCM_RIGHTS) counts
// once per process.
int64_t references_explained(const LiveCauses& causes, size_t deferred_pins);

// do_umount() tolerates this many references: the mount's own and umount's lookup.
inline constexpr int64_t kUmountOwnReferences = 2;

// The references in the kernel's count at an EBUSY beyond those umount expects
// and those fputrace named; negative when it over-counted.
inline int64_t references_beyond(int64_t kernel_count, int64_t explained) {
  return kernel_count - kUmountOwnReferences - explained;
}

// An EBUSY's live diagnosis: the causes, the reference count the kernel saw
// (when it could), and when the processes were looked at.
struct LiveDiagnosis {
  LiveCauses causes;
  int64_t references_explained = 0;
  // mnt_get_count() as do_umount() compared it, which includes the mount's
  // own reference and umount's lookup; user space cannot read it.
  std::optional<int64_t> kernel_count;
  bool scanned = false;      // false: the mount was gone before the scan
  double scan_after_ms = 0;  // from the EBUSY to the scan
  bool after_ebusy = true;   // false: asked about a mount now (busy, umount's timeout), no EBUSY
};

}  // namespace fputrace
