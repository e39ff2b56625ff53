#include "fputrace/propagation.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "fputrace/mounts.hpp"
#include "fputrace/procfs.hpp"

namespace fputrace::propagation {

using procfs::Access;
using procfs::list_dir;
using procfs::parse_pid;

static std::optional<MountRow> parse_row(const std::string& line) {
  auto l = parse_mountinfo_line(line);
  if (!l || !l->dev_known) return std::nullopt;
  MountRow m;
  m.id = l->id;
  m.parent = l->parent_id;
  m.dev = makedev(l->major, l->minor);
  m.root = l->root;
  m.path = l->path;
  m.shared = l->shared;
  m.master = l->master;
  return m;
}

std::vector<MountRow> read_mount_rows(const std::string& file, uint32_t ns_pid) {
  std::vector<MountRow> rows;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (auto m = parse_row(line)) {
      m->ns_pid = ns_pid;
      rows.push_back(*m);
    }
  return rows;
}

void merge(MountTable& table, const std::vector<MountRow>& rows) {
  for (const MountRow& r : rows) table.emplace(r.id, r);
}

static std::optional<uint64_t> mnt_ns_inode(const std::string& proc_root, const std::string& pid) {
  struct stat st {};
  if (::stat((proc_root + "/" + pid + "/ns/mnt").c_str(), &st) != 0) return std::nullopt;
  return st.st_ino;
}

MountTable read_all_namespaces(const std::string& proc_root, MountTable table) {
  std::set<uint64_t> seen;
  if (auto self = mnt_ns_inode(proc_root, "self")) seen.insert(*self);
  Access access = Access::Ok;
  for (const std::string& name : list_dir(proc_root, access)) {
    auto pid = parse_pid(name);
    if (!pid) continue;
    auto ns = mnt_ns_inode(proc_root, name);
    if (ns && !seen.insert(*ns).second) continue;
    merge(table, read_mount_rows(proc_root + "/" + name + "/mountinfo", *pid));
  }
  return table;
}

// The mount point's dentry named inside the parent's filesystem: the same for
// the original and each copy, whatever path each namespace sees it at.
static std::string mountpoint_in_parent(const MountRow& m, const MountRow& parent) {
  std::string rel = parent.path == "/" ? m.path : m.path.substr(std::min(parent.path.size(), m.path.size()));
  if (parent.root == "/") return rel.empty() ? "/" : rel;
  return parent.root + rel;
}

// Peer groups the parent's propagation reaches: its own, then, transitively,
// those of shared slaves (a slave that is itself shared passes events on).
static std::set<int32_t> propagating_groups(const MountTable& table, int32_t group) {
  std::set<int32_t> groups{group};
  for (size_t before = 0; before != groups.size();) {
    before = groups.size();
    for (const auto& [id, r] : table)
      if (r.shared && r.master && groups.count(r.master)) groups.insert(r.shared);
  }
  return groups;
}

std::vector<int32_t> children_of(const MountTable& table, int32_t id) {
  std::vector<int32_t> kids;
  for (const auto& [cid, r] : table)
    if (r.parent == id && cid != id) kids.push_back(cid);
  return kids;
}

// propagate_mount_busy() skips a copy with submounts unless its only child
// covers it completely: umount would leave such a copy in place anyway.
static bool copy_is_checked(const MountTable& table, const MountRow& copy) {
  auto kids = children_of(table, copy.id);
  if (kids.empty()) return true;
  return kids.size() == 1 && table.at(kids[0]).path == copy.path;
}

std::vector<CopyOfMount> propagated_copies(const MountTable& table, const MountRow& self) {
  auto parent = table.find(self.parent);
  if (parent == table.end() || parent->first == self.id || !parent->second.shared) return {};
  const int32_t group = parent->second.shared;
  const std::set<int32_t> groups = propagating_groups(table, group);
  const std::string where = mountpoint_in_parent(self, parent->second);
  std::vector<CopyOfMount> copies;
  for (const auto& [id, r] : table) {
    auto q = table.find(r.parent);
    if (id == self.id || q == table.end() || q->first == parent->first) continue;
    bool receives = groups.count(q->second.shared) || groups.count(q->second.master);
    if (receives && mountpoint_in_parent(r, q->second) == where && copy_is_checked(table, r))
      copies.push_back({r, group});
  }
  return copies;
}

}  // namespace fputrace::propagation
