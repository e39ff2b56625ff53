// What `fputrace busy` shows for a target that is not a mount point: a block
// device (is it mounted, lazily unmounted but alive, opened?) or a file (who
// locks it, who has it open). The procfs and sysfs half; the deferred releases
// come from the model (pins matching the device or the inode).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fputrace/live_causes.hpp"
#include "fputrace/mounts.hpp"

namespace fputrace {

// A mount of the device, in whichever namespace lists it (ns_pid: a process
// of that namespace; 0 for fputrace's own).
struct DeviceMount {
  MountRef mount;
  uint32_t ns_pid = 0;
};

struct DeviceScan {
  uint32_t kernel_dev = 0;  // major << 20 | minor, as the BPF records carry it
  std::string kernel_name;  // "loop0", from /sys/dev/block/MAJ:MIN; "" if unknown
  std::vector<DeviceMount> mounts;
  // Per-superblock sysfs directories named after the device (/sys/fs/ext4/loop0,
  // /sys/fs/xfs/loop0): a filesystem of it is alive, mounted or not.
  std::vector<std::string> superblock_dirs;
  std::vector<LiveHolder> holders;  // processes with files, cwd, root or mappings on its filesystem
  std::vector<LiveHolder> openers;  // processes with the device node itself open
  int unreadable_pids = 0;
};

// One line of /proc/locks (fs/locks.c, lock_get_status).
struct LockEntry {
  std::string lock_class;  // FLOCK, POSIX, OFDLCK, LEASE, DELEG
  std::string mode;        // ADVISORY, MANDATORY, ACTIVE, BREAKING, ...
  std::string type;        // READ, WRITE, UNLCK
  int64_t pid = 0;         // -1 for OFD locks: they belong to the open file, not a process
  uint32_t major = 0, minor = 0;
  uint64_t ino = 0;
  std::string range;     // "0 EOF", "0 99"
  bool blocked = false;  // a "->" line: a waiter, not a holder
};

// Parses /proc/locks text; lines it cannot read are skipped and counted.
std::vector<LockEntry> parse_proc_locks(std::string_view text, int* unparsed = nullptr);

struct FileLockHolder {
  LockEntry lock;
  bool pid_alive = false;  // /proc/PID exists (it may be a reused pid)
  std::string comm;        // its comm when alive
};

struct FileScan {
  uint32_t kernel_dev = 0;  // the file's filesystem, major << 20 | minor
  uint64_t ino = 0;
  std::vector<FileLockHolder> locks;  // granted locks on the inode, waiters left out
  std::vector<LiveHolder> holders;    // processes with it open or mapped
  int unreadable_pids = 0;
};

// userspace dev_t to the kernel's encoding (major << 20 | minor).
uint32_t kernel_dev(uint64_t user_dev);

// The scans; skip_tgid is fputrace itself.
DeviceScan scan_block_device(uint64_t rdev, uint32_t skip_tgid, const std::string& proc_root = "/proc",
                             const std::string& sys_root = "/sys");
FileScan scan_file(uint64_t dev, uint64_t ino, uint32_t skip_tgid, const std::string& proc_root = "/proc");

// Leading cause for a block device: "mounted", "opened" (a process holds the
// node), "detached" (no mount in any namespace, yet its filesystem lives: a
// lazy umount still held), or "free". pins: deferred releases on it now.
std::string device_verdict(const DeviceScan& scan, size_t pins);
// For a file: "deferred_release" (a deferred release of it is in flight),
// "live_holder" (locked, and live processes have it open), "unseen_holder"
// (locked, and no process has it open: a release fputrace did not see),
// "unlocked".
std::string file_verdict(const FileScan& scan, size_t pins);

}  // namespace fputrace
