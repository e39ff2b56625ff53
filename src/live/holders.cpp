#include "fputrace/holders.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "fputrace/containers.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/mounts.hpp"
#include "fputrace/procfs.hpp"
#include "fputrace/propagation.hpp"

namespace fputrace {

namespace {

using namespace procfs;
using namespace propagation;

// ---------------------------------------------------------------- holders

// Where a link or fd points, and which mount it is on when the kernel said.
struct Resolved {
  std::string path;
  std::optional<int32_t> mnt_id;
  bool have_stat = false;
  uint64_t dev = 0;
  uint64_t ino = 0;
};

void stat_into(const std::string& link, Resolved& r, bool want_mnt_id) {
  struct statx sx {};
  unsigned mask = STATX_INO | (want_mnt_id ? STATX_MNT_ID : 0u);
  if (::statx(AT_FDCWD, link.c_str(), 0, mask, &sx) != 0) return;
  r.have_stat = true;
  r.dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  r.ino = sx.stx_ino;
  if (want_mnt_id && (sx.stx_mask & STATX_MNT_ID)) r.mnt_id = static_cast<int32_t>(sx.stx_mnt_id);
}

struct FdInfo {
  std::optional<int32_t> mnt_id;
  std::optional<uint64_t> ino;
};

FdInfo read_fdinfo(const std::string& file) {
  FdInfo info;
  std::ifstream in(file);
  std::string key;
  while (in >> key) {
    if (key == "mnt_id:") {
      int64_t v = 0;
      if (in >> v) info.mnt_id = static_cast<int32_t>(v);
    } else if (key == "ino:") {
      uint64_t v = 0;
      if (in >> v) info.ino = v;
    }
  }
  return info;
}

class Scanner {
 public:
  Scanner(const MountTarget& target, std::set<int32_t> copies, const ScanOptions& opts)
      : target_(target), copies_(std::move(copies)), opts_(opts), cgroups_(find_cgroup2_mount(opts.proc_root)) {}

  void scan_all();

  std::vector<LiveHolder> holders;                       // on the target itself
  std::map<int32_t, std::vector<LiveHolder>> on_copies;  // by copy mount id
  int unreadable = 0;

 private:
  struct Proc {
    uint32_t tgid = 0;
    std::string dir;
    std::optional<std::string> comm;
    bool denied = false;
    std::optional<ProcPlace> place;
  };

  void scan_pid(uint32_t tgid);
  bool scan_fds(Proc& p);
  void scan_link(Proc& p, const char* name, HoldKind kind);
  void scan_maps(Proc& p);
  // The mount (target or a copy) a resolved file is on, if either.
  std::optional<int32_t> owner(const Resolved& r) const;
  void add(Proc& p, int32_t on, HoldKind kind, const Resolved& r, int fd = -1);
  const std::string& comm(Proc& p);
  void set_place(Proc& p, LiveHolder& h);
  void note(Proc& p, Access a) { p.denied |= a == Access::Denied; }

  const MountTarget& target_;
  std::set<int32_t> copies_;
  const ScanOptions& opts_;
  CgroupPaths cgroups_;
};

void Scanner::scan_all() {
  Access access = Access::Ok;
  for (const std::string& name : list_dir(opts_.proc_root, access))
    if (auto pid = parse_pid(name); pid && !(opts_.skip_tgid && *pid == *opts_.skip_tgid)) scan_pid(*pid);
}

void Scanner::scan_pid(uint32_t tgid) {
  Proc p{tgid, opts_.proc_root + "/" + std::to_string(tgid), std::nullopt, false};
  if (!scan_fds(p)) return;  // gone
  scan_link(p, "cwd", HoldKind::Cwd);
  scan_link(p, "root", HoldKind::Root);
  scan_link(p, "exe", HoldKind::Exe);
  scan_maps(p);
  if (p.denied) ++unreadable;
}

// False when the process is gone (nothing more to look at).
bool Scanner::scan_fds(Proc& p) {
  Access access = Access::Ok;
  std::vector<std::string> fds = list_dir(p.dir + "/fd", access);
  note(p, access);
  if (access == Access::Gone) return false;
  for (const std::string& fd : fds) {
    Resolved r;
    if (Access a = read_link(p.dir + "/fd/" + fd, r.path); a != Access::Ok) {
      note(p, a);
      continue;
    }
    if (r.path.empty() || r.path[0] != '/') continue;  // pipe:, socket:, anon_inode:
    FdInfo info = read_fdinfo(p.dir + "/fdinfo/" + fd);
    r.mnt_id = info.mnt_id;
    // Before 3.15 fdinfo has no mnt_id: fall back to st_dev and the path.
    if (!r.mnt_id || !info.ino) stat_into(p.dir + "/fd/" + fd, r, false);
    if (info.ino) r.ino = *info.ino;
    if (auto on = owner(r)) add(p, *on, HoldKind::Fd, r, std::atoi(fd.c_str()));
  }
  return true;
}

void Scanner::scan_link(Proc& p, const char* name, HoldKind kind) {
  Resolved r;
  const std::string link = p.dir + "/" + name;
  if (Access a = read_link(link, r.path); a != Access::Ok) return note(p, a);  // kernel threads have no exe
  stat_into(link, r, opts_.link_mnt_id);
  if (auto on = owner(r)) add(p, *on, kind, r);
}

// maps names only the device, not the mount: good for the target (device and
// path both match), not for telling copies of the same filesystem apart.
void Scanner::scan_maps(Proc& p) {
  std::ifstream in(p.dir + "/maps");
  std::set<uint64_t> seen;
  std::string line;
  while (std::getline(in, line)) {
    char path[4096] = "";
    unsigned major = 0, minor = 0;
    unsigned long long ino = 0;
    if (std::sscanf(line.c_str(), "%*s %*s %*s %x:%x %llu %4095[^\n]", &major, &minor, &ino, path) < 3) continue;
    Resolved r{path, std::nullopt, true, makedev(major, minor), ino};
    r.path.erase(0, r.path.find_first_not_of(' '));
    bool on_target = ino != 0 && r.dev == target_.dev && (r.path.empty() || under(r.path, target_.mount.path));
    if (on_target && seen.insert(ino).second) add(p, target_.mount.id, HoldKind::Mmap, r);
  }
}

std::optional<int32_t> Scanner::owner(const Resolved& r) const {
  if (r.mnt_id) {
    if (*r.mnt_id == target_.mount.id || copies_.count(*r.mnt_id)) return r.mnt_id;
    return std::nullopt;
  }
  // Without a mount id: the same filesystem, reached through this mount point.
  if (r.have_stat && r.dev == target_.dev && under(r.path, target_.mount.path)) return target_.mount.id;
  return std::nullopt;
}

void Scanner::add(Proc& p, int32_t on, HoldKind kind, const Resolved& r, int fd) {
  LiveHolder h{kind, p.tgid, comm(p), r.path, fd, r.ino};
  set_place(p, h);
  if (on == target_.mount.id)
    holders.push_back(std::move(h));
  else
    on_copies[on].push_back(std::move(h));
}

const std::string& Scanner::comm(Proc& p) {
  if (!p.comm) {
    std::string c = read_text(p.dir + "/comm").value_or("?");
    if (!c.empty() && c.back() == '\n') c.pop_back();
    p.comm = c;
  }
  return *p.comm;
}

// Its cgroup and mount namespace, read once per process that holds something.
void Scanner::set_place(Proc& p, LiveHolder& h) {
  if (!p.place) p.place = read_proc_place(p.dir);
  h.cgroup_path = p.place->cgroup_path;
  h.mntns = p.place->mntns;
  if (!h.cgroup_path.empty()) h.cgroup_id = cgroups_.id_of(h.cgroup_path).value_or(0);
}

}  // namespace

// ---------------------------------------------------------------- public API

std::optional<MountTarget> find_mount_target(const std::string& mount_point, const std::string& proc_root) {
  std::optional<MountTarget> top;
  for (const MountRow& r : read_mount_rows(proc_root + "/self/mountinfo", 0))
    if (r.path == mount_point) top = MountTarget{MountRef{r.id, r.path}, r.dev};  // last listed is on top
  return top;
}

LiveCauses find_live_causes(const MountTarget& target, const ScanOptions& opts) {
  LiveCauses out;
  MountTable ours;
  merge(ours, read_mount_rows(opts.proc_root + "/self/mountinfo", 0));
  for (int32_t id : children_of(ours, target.mount.id)) out.submounts.push_back(MountRef{id, ours.at(id).path});

  std::vector<CopyOfMount> copies;
  auto self = ours.find(target.mount.id);
  auto parent = self == ours.end() ? ours.end() : ours.find(self->second.parent);
  if (parent != ours.end() && parent->second.shared)  // only then can copies exist
    copies = propagated_copies(read_all_namespaces(opts.proc_root, ours), self->second);

  std::set<int32_t> copy_ids;
  for (const auto& c : copies) copy_ids.insert(c.row.id);
  Scanner scan(target, copy_ids, opts);
  scan.scan_all();
  out.holders = std::move(scan.holders);
  out.unreadable_pids = scan.unreadable;
  for (const auto& c : copies)
    if (auto it = scan.on_copies.find(c.row.id); it != scan.on_copies.end())
      out.propagation.push_back({MountRef{c.row.id, c.row.path}, c.peer_group, c.row.ns_pid, it->second});
  return out;
}

std::string verdict_for(const LiveCauses& causes, size_t deferred_pins) {
  if (!causes.submounts.empty()) return "child_mounts";
  if (!causes.holders.empty()) return "live_holder";
  if (!causes.propagation.empty()) return "propagation";
  if (deferred_pins > 0) return "deferred_release";
  return "unknown";
}

}  // namespace fputrace
