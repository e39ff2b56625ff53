// Mount propagation as umount sees it: every namespace's mount table, merged
// by mount id, and the copies of a mount that umount also has to take down.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fputrace::propagation {

// One mountinfo line with what propagation needs (MountInfo in mounts.hpp
// leaves out root, device and the optional fields).
struct MountRow {
  int32_t id = 0;
  int32_t parent = 0;
  uint64_t dev = 0;
  std::string root;     // the mount's root inside its filesystem
  std::string path;     // mount point, as the reading process sees it
  int32_t shared = 0;   // shared:N, 0 if not shared
  int32_t master = 0;   // master:N, 0 if not a slave
  uint32_t ns_pid = 0;  // whose table listed it; 0: ours
};

// Mount ids are global, so the tables of several namespaces merge by id.
using MountTable = std::map<int32_t, MountRow>;

std::vector<MountRow> read_mount_rows(const std::string& file, uint32_t ns_pid);
void merge(MountTable& table, const std::vector<MountRow>& rows);
// Every mount namespace's table, one read per namespace: copies of a mount
// that umount propagates to usually live in other namespaces (containers,
// systemd's PrivateTmp=).
MountTable read_all_namespaces(const std::string& proc_root, MountTable table);
std::vector<int32_t> children_of(const MountTable& table, int32_t id);

struct CopyOfMount {
  MountRow row;
  int32_t peer_group = 0;
};
// The copies umount(target) also has to take down: children, at the same
// mount point dentry, of the mounts the parent propagates to.
std::vector<CopyOfMount> propagated_copies(const MountTable& table, const MountRow& self);

}  // namespace fputrace::propagation
