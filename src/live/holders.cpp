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

namespace fputrace {

namespace {

// ---------------------------------------------------------------- procfs I/O

// How a procfs read went: vanished processes are normal, denials are counted.
enum class Access { Ok, Gone, Denied };

Access classify(int err) {
  return (err == EACCES || err == EPERM) ? Access::Denied : Access::Gone;
}

Access read_link(const std::string& path, std::string& out) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n < 0) return classify(errno);
  out.assign(buf, static_cast<size_t>(n));
  return Access::Ok;
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> list_dir(const std::string& path, Access& access) {
  std::vector<std::string> names;
  DIR* d = ::opendir(path.c_str());
  access = d ? Access::Ok : classify(errno);
  if (!d) return names;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  ::closedir(d);
  return names;
}

std::optional<uint32_t> parse_pid(const std::string& name) {
  if (name.empty() || name.size() > 10 || name.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return static_cast<uint32_t>(std::strtoul(name.c_str(), nullptr, 10));
}

// True when path (as procfs prints it) lies on or below mount_point.
bool under(const std::string& path, const std::string& mount_point) {
  if (mount_point == "/") return !path.empty() && path[0] == '/';
  if (path.compare(0, mount_point.size(), mount_point) != 0) return false;
  const std::string_view rest = std::string_view(path).substr(mount_point.size());
  return rest.empty() || rest[0] == '/' || rest == " (deleted)";  // the mount point itself, unlinked
}

// ---------------------------------------------------------------- mountinfo

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

std::optional<MountRow> parse_row(const std::string& line) {
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

// Mount ids are global, so the tables of several namespaces merge by id.
using MountTable = std::map<int32_t, MountRow>;

void merge(MountTable& table, const std::vector<MountRow>& rows) {
  for (const MountRow& r : rows) table.emplace(r.id, r);
}

std::optional<uint64_t> mnt_ns_inode(const std::string& proc_root, const std::string& pid) {
  struct stat st {};
  if (::stat((proc_root + "/" + pid + "/ns/mnt").c_str(), &st) != 0) return std::nullopt;
  return st.st_ino;
}

// Every mount namespace's table, one read per namespace: copies of a mount
// that umount propagates to usually live in other namespaces (containers,
// systemd's PrivateTmp=).
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
std::string mountpoint_in_parent(const MountRow& m, const MountRow& parent) {
  std::string rel = parent.path == "/" ? m.path : m.path.substr(std::min(parent.path.size(), m.path.size()));
  if (parent.root == "/") return rel.empty() ? "/" : rel;
  return parent.root + rel;
}

// Peer groups the parent's propagation reaches: its own, then, transitively,
// those of shared slaves (a slave that is itself shared passes events on).
std::set<int32_t> propagating_groups(const MountTable& table, int32_t group) {
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
bool copy_is_checked(const MountTable& table, const MountRow& copy) {
  auto kids = children_of(table, copy.id);
  if (kids.empty()) return true;
  return kids.size() == 1 && table.at(kids[0]).path == copy.path;
}

struct CopyOfMount {
  MountRow row;
  int32_t peer_group = 0;
};

// The copies umount(target) also has to take down: children, at the same
// mount point dentry, of the mounts the parent propagates to.
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

std::string_view to_string(HoldKind k) {
  switch (k) {
    case HoldKind::Fd:
      return "fd";
    case HoldKind::Cwd:
      return "cwd";
    case HoldKind::Root:
      return "root";
    case HoldKind::Exe:
      return "exe";
    case HoldKind::Mmap:
      return "mmap";
  }
  return "?";
}

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

Task holder_task(const LiveHolder& h) {
  Task t{h.tgid, h.tgid, 0, h.comm};
  t.cgroup_id = h.cgroup_id;
  t.cgroup_path = h.cgroup_path;
  t.mntns = h.mntns;
  return t;
}

std::string verdict_for(const LiveCauses& causes, size_t deferred_pins) {
  if (!causes.submounts.empty()) return "child_mounts";
  if (!causes.holders.empty()) return "live_holder";
  if (!causes.propagation.empty()) return "propagation";
  if (deferred_pins > 0) return "deferred_release";
  return "unknown";
}

// ---------------------------------------------------------------- JSON

namespace {

std::string why(const LiveHolder& h) {
  switch (h.source) {
    case HoldKind::Fd:
      return fmt::format("open as fd {} by a live process", h.fd);
    case HoldKind::Cwd:
      return "working directory of a live process";
    case HoldKind::Root:
      return "root directory of a live process (chroot or container)";
    case HoldKind::Exe:
      return "executable of a live process";
    case HoldKind::Mmap:
      return "mapped into a live process's memory";
  }
  return "";
}

nlohmann::json mount_ref_json(const MountRef& m) {
  return {{"path", m.path.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.path)}, {"id", m.id}};
}

nlohmann::json holders_json(const std::vector<LiveHolder>& hs) {
  nlohmann::json a = nlohmann::json::array();
  for (const LiveHolder& h : hs) a.push_back(live_holder_to_json(h));
  return a;
}

}  // namespace

nlohmann::json live_holder_to_json(const LiveHolder& h) {
  nlohmann::json origin{{"tgid", h.tgid}, {"tid", h.tgid}, {"comm", h.comm}};
  put_task_place(origin, holder_task(h));
  nlohmann::json j{{"origin", origin},         {"source", to_string(h.source)},
                   {"holder", "process"},      {"file", {{"ino", h.ino}, {"path", h.path}}},
                   {"confidence", "observed"}, {"why", why(h)}};
  if (h.source == HoldKind::Fd) j["fd"] = h.fd;
  return j;
}

nlohmann::json live_causes_to_json(const LiveCauses& c) {
  nlohmann::json subs = nlohmann::json::array();
  for (const MountRef& m : c.submounts) subs.push_back(mount_ref_json(m));
  nlohmann::json props = nlohmann::json::array();
  for (const PropagationCause& p : c.propagation) {
    nlohmann::json j = mount_ref_json(p.copy);
    j["peer_group"] = p.peer_group;
    j["ns_pid"] = p.ns_pid;
    j["holders"] = holders_json(p.holders);
    props.push_back(j);
  }
  return {{"holders", holders_json(c.holders)},
          {"submounts", subs},
          {"propagation", props},
          {"unreadable_pids", c.unreadable_pids}};
}

// ---------------------------------------------------------------- references

int64_t references_explained(const LiveCauses& causes, size_t deferred_pins) {
  // A mapping of a file the same process has open or runs is most likely the
  // same struct file (mmap of that fd, the ELF loader mapping the exe).
  std::set<std::pair<uint32_t, uint64_t>> files;
  int64_t n = 0;
  for (const LiveHolder& h : causes.holders)
    if (h.source != HoldKind::Mmap) {
      ++n;
      if (h.source == HoldKind::Fd || h.source == HoldKind::Exe) files.insert({h.tgid, h.ino});
    }
  for (const LiveHolder& h : causes.holders)
    if (h.source == HoldKind::Mmap && !files.count({h.tgid, h.ino})) ++n;
  return n + static_cast<int64_t>(causes.submounts.size()) + static_cast<int64_t>(deferred_pins);
}

nlohmann::json references_json(int64_t explained, std::optional<int64_t> kernel_count) {
  // do_umount() tolerates 2: the mount's own reference and umount's lookup.
  constexpr int64_t kExpected = 2;
  nlohmann::json r{{"explained", explained}};
  if (!kernel_count) {
    r["unexplained"] = nullptr;
    r["note"] =
        "the kernel's reference count on the mount cannot be read from user space; these are the references "
        "fputrace can name (a file shared by several processes counts once per process)";
  } else {
    int64_t extra = *kernel_count - kExpected - explained;
    r["unexplained"] = std::max<int64_t>(extra, 0);
    r["note"] = extra >= 0
                    ? fmt::format("the kernel counted {} references, {} of them expected", *kernel_count, kExpected)
                    : fmt::format(
                          "the kernel counted {} references; fputrace over-counts files shared "
                          "between processes",
                          *kernel_count);
  }
  return {{"references", r}};
}

// ---------------------------------------------------------------- text

namespace {

constexpr size_t kMaxLines = 10;

// Names from procfs are bytes: printable() before they reach a terminal.
std::string who(const LiveHolder& h) {
  return fmt::format("{} (pid {}{})", printable(h.comm), h.tgid, printable(place_suffix(holder_task(h))));
}
std::string kill(const LiveHolder& h) {
  return fmt::format("kill PID {} ({})", h.tgid, printable(h.comm));
}

std::string holder_line(const LiveHolder& h) {
  const std::string path = printable(h.path);
  switch (h.source) {
    case HoldKind::Fd:
      return fmt::format("{} has {} open as fd {}: {} or close {}.", who(h), path, h.fd, kill(h), path);
    case HoldKind::Cwd:
      return fmt::format("{} has its working directory in {}: {} or make it cd elsewhere.", who(h), path, kill(h));
    case HoldKind::Root:
      return fmt::format("{} has its root directory in {} (chroot or container): {}.", who(h), path, kill(h));
    case HoldKind::Exe:
      return fmt::format("{} runs the program {}: {}.", who(h), path, kill(h));
    case HoldKind::Mmap:
      return fmt::format("{} has {} mapped into memory: {}.", who(h), path, kill(h));
  }
  return "";
}

// Indented lines, at most kMaxLines of them, then how many were left out.
template <typename T, typename F>
std::string bullet_list(const std::vector<T>& items, F line) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < kMaxLines; ++i) out += "    " + line(items[i]) + "\n";
  if (items.size() > kMaxLines) out += fmt::format("    ... and {} more\n", items.size() - kMaxLines);
  return out;
}

std::string mount_name(const MountRef& m) {
  return fmt::format("{} (mount {})", m.path.empty() ? "?" : printable(m.path), m.id);
}

std::string holders_paragraph(const MountRef& m, const LiveCauses& c) {
  std::set<uint32_t> pids;
  for (const auto& h : c.holders) pids.insert(h.tgid);
  return fmt::format("Live holders: {} process(es) hold {}:\n", pids.size(), mount_name(m)) +
         bullet_list(c.holders, holder_line);
}

std::string submounts_paragraph(const MountRef& m, const LiveCauses& c) {
  return fmt::format("Submounts: {} has {} mount(s) on top of it; umount them first (or `umount -R {}`):\n",
                     mount_name(m), c.submounts.size(), printable(m.path)) +
         bullet_list(c.submounts,
                     [](const MountRef& s) { return fmt::format("umount the submount {} first.", printable(s.path)); });
}

std::string propagation_line(const PropagationCause& p) {
  std::string where = p.ns_pid ? fmt::format("in the mount namespace of pid {}", p.ns_pid) : "in this namespace";
  std::string out =
      fmt::format("copy {} {} (parent's peer group {}) is held:", mount_name(p.copy), where, p.peer_group);
  for (size_t i = 0; i < p.holders.size() && i < kMaxLines; ++i) out += " " + holder_line(p.holders[i]);
  return out;
}

std::string propagation_paragraph(const MountRef& m, const LiveCauses& c) {
  return fmt::format(
             "Propagation: umount of {} also takes down its copies under the parent's peers, and "
             "live processes hold some; stop them:\n",
             mount_name(m)) +
         bullet_list(c.propagation, propagation_line);
}

std::string deferred_paragraph(const MountRef& m, const std::vector<std::string>& lines) {
  return fmt::format(
             "Deferred releases: {} file(s) on {} are closed but not yet released by the kernel; wait: the "
             "deferred release usually finishes within a few ms; `fputrace umount` waits for it:\n",
             lines.size(), mount_name(m)) +
         bullet_list(lines, [](const std::string& l) { return l; });
}

std::string unknown_paragraph(const MountRef& m) {
  return fmt::format(
      "Unknown: nothing visible holds {}: no process has a file, directory or mapping on it, no "
      "submount, no busy copy, no deferred release in flight. Look for what /proc does not show: a "
      "loop device or swap file backed by it, an nfsd export, a kernel user, or a release in flight "
      "that started before tracing.\n",
      mount_name(m));
}

}  // namespace

std::string diagnosis_text(const MountRef& mount, std::string_view verdict, const LiveCauses& causes,
                           const std::vector<std::string>& deferred_pin_lines) {
  // In precedence order; the verdict's paragraph is moved to the front.
  std::vector<std::pair<std::string_view, std::string>> parts;
  if (!causes.submounts.empty()) parts.emplace_back("child_mounts", submounts_paragraph(mount, causes));
  if (!causes.holders.empty()) parts.emplace_back("live_holder", holders_paragraph(mount, causes));
  if (!causes.propagation.empty()) parts.emplace_back("propagation", propagation_paragraph(mount, causes));
  if (!deferred_pin_lines.empty())
    parts.emplace_back("deferred_release", deferred_paragraph(mount, deferred_pin_lines));
  if (parts.empty() || verdict == "unknown") parts.emplace_back("unknown", unknown_paragraph(mount));
  std::stable_partition(parts.begin(), parts.end(), [&](const auto& p) { return p.first == verdict; });

  std::string out;
  for (const auto& [kind, text] : parts) out += (out.empty() ? "" : "\n") + text;
  if (causes.unreadable_pids > 0)
    out += fmt::format(
        "\n{} process(es) could not be inspected (permission denied{}).\n", causes.unreadable_pids,
        ::geteuid() == 0 ? ", even to root: a sandbox or security module hides them" : "; run as root to see them");
  return out;
}

}  // namespace fputrace
