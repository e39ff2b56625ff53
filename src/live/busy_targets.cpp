#include "fputrace/busy_targets.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "fputrace/containers.hpp"
#include "fputrace/procfs.hpp"
#include "fputrace/propagation.hpp"

namespace fputrace {

using namespace procfs;

uint32_t kernel_dev(uint64_t user_dev) {
  return static_cast<uint32_t>((major(user_dev) << 20) | minor(user_dev));
}

namespace {

// What a process's link or mapping points at.
struct Target {
  std::string path;
  uint64_t dev = 0;  // the filesystem's (st_dev)
  uint64_t ino = 0;
  uint64_t rdev = 0;  // a device node's device (st_rdev)
  bool is_blockdev = false;
};

using Match = std::function<std::optional<bool>(const Target&)>;  // nullopt: no; true: opener; false: holder

// Every process's fds, cwd, root, exe and mappings, matched against one
// target. A vanished process is skipped; a denied one counted.
class ProcessScan {
 public:
  ProcessScan(Match match, uint32_t skip, std::string proc_root)
      : match_(std::move(match)), skip_(skip), proc_(std::move(proc_root)) {}

  void run() {
    Access access = Access::Ok;
    for (const std::string& name : list_dir(proc_, access))
      if (auto pid = parse_pid(name); pid && *pid != skip_) scan(*pid);
  }

  std::vector<LiveHolder> holders, openers;
  int unreadable = 0;

 private:
  void scan(uint32_t tgid) {
    const std::string dir = proc_ + "/" + std::to_string(tgid);
    Access access = Access::Ok;
    std::vector<std::string> fds = list_dir(dir + "/fd", access);
    if (access == Access::Gone) return;
    bool denied = access == Access::Denied;
    size_t before = holders.size() + openers.size();
    for (const std::string& fd : fds) denied |= !link(dir, "fd/" + fd, HoldKind::Fd, std::atoi(fd.c_str()));
    link(dir, "cwd", HoldKind::Cwd, -1);
    link(dir, "root", HoldKind::Root, -1);
    link(dir, "exe", HoldKind::Exe, -1);
    maps(dir);
    if (denied) ++unreadable;
    if (holders.size() + openers.size() > before) name_new(dir, tgid);
  }

  // False when the link could not be read for lack of permission.
  bool link(const std::string& dir, const std::string& name, HoldKind kind, int fd) {
    Target t;
    const std::string path = dir + "/" + name;
    Access a = read_link(path, t.path);
    if (a != Access::Ok) return a != Access::Denied;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return true;
    t.dev = st.st_dev;
    t.ino = st.st_ino;
    t.rdev = st.st_rdev;
    t.is_blockdev = S_ISBLK(st.st_mode);
    add(kind, t, fd);
    return true;
  }

  // A mapping names its file's device and inode; one entry per inode.
  void maps(const std::string& dir) {
    std::ifstream in(dir + "/maps");
    std::set<std::pair<uint64_t, uint64_t>> seen;
    std::string line;
    while (std::getline(in, line)) {
      char path[4096] = "";
      unsigned maj = 0, min = 0;
      unsigned long long ino = 0;
      if (std::sscanf(line.c_str(), "%*s %*s %*s %x:%x %llu %4095[^\n]", &maj, &min, &ino, path) < 3 || ino == 0)
        continue;
      Target t{path, makedev(maj, min), ino, 0, false};
      t.path.erase(0, t.path.find_first_not_of(' '));
      if (seen.insert({t.dev, t.ino}).second) add(HoldKind::Mmap, t, -1);
    }
  }

  void add(HoldKind kind, const Target& t, int fd) {
    std::optional<bool> m = match_(t);
    if (!m) return;
    LiveHolder h{kind, 0, "", t.path, fd, t.ino};
    (*m ? openers : holders).push_back(std::move(h));
  }

  // The pid, comm and place of the entries this process added.
  void name_new(const std::string& dir, uint32_t tgid) {
    std::string comm = read_text(dir + "/comm").value_or("?");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    ProcPlace place = read_proc_place(dir);
    auto fill = [&](std::vector<LiveHolder>& v) {
      for (LiveHolder& h : v)
        if (h.tgid == 0) {
          h.tgid = tgid;
          h.comm = comm;
          h.cgroup_path = place.cgroup_path;
          h.mntns = place.mntns;
        }
    };
    fill(holders);
    fill(openers);
  }

  Match match_;
  uint32_t skip_;
  std::string proc_;
};

std::string kernel_name_of(uint64_t rdev, const std::string& sys_root) {
  std::string link;
  if (read_link(sys_root + "/dev/block/" + std::to_string(major(rdev)) + ":" + std::to_string(minor(rdev)), link) !=
      Access::Ok)
    return "";
  return link.substr(link.rfind('/') + 1);
}

std::vector<std::string> superblock_dirs(const std::string& kernel_name, const std::string& sys_root) {
  std::vector<std::string> out;
  if (kernel_name.empty()) return out;
  Access access = Access::Ok;
  for (const std::string& fs : list_dir(sys_root + "/fs", access)) {
    const std::string dir = sys_root + "/fs/" + fs + "/" + kernel_name;
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) out.push_back(dir);
  }
  return out;
}

bool process_alive(const std::string& proc_root, int64_t pid, std::string& comm) {
  if (pid <= 0) return false;
  auto text = read_text(proc_root + "/" + std::to_string(pid) + "/comm");
  if (!text) return false;
  comm = *text;
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return true;
}

}  // namespace

DeviceScan scan_block_device(uint64_t rdev, uint32_t skip_tgid, const std::string& proc_root,
                             const std::string& sys_root) {
  DeviceScan out;
  out.kernel_dev = kernel_dev(rdev);
  out.kernel_name = kernel_name_of(rdev, sys_root);
  propagation::MountTable ours;
  propagation::merge(ours, propagation::read_mount_rows(proc_root + "/self/mountinfo", 0));
  for (const auto& [id, row] : propagation::read_all_namespaces(proc_root, ours))
    if (row.dev == rdev) out.mounts.push_back({MountRef{id, row.path}, row.ns_pid});
  out.superblock_dirs = superblock_dirs(out.kernel_name, sys_root);
  ProcessScan scan(
      [rdev](const Target& t) -> std::optional<bool> {
        if (t.is_blockdev && t.rdev == rdev) return true;
        if (t.dev == rdev) return false;
        return std::nullopt;
      },
      skip_tgid, proc_root);
  scan.run();
  out.holders = std::move(scan.holders);
  out.openers = std::move(scan.openers);
  out.unreadable_pids = scan.unreadable;
  return out;
}

FileScan scan_file(uint64_t dev, uint64_t ino, uint32_t skip_tgid, const std::string& proc_root) {
  FileScan out;
  out.kernel_dev = kernel_dev(dev);
  out.ino = ino;
  std::optional<std::string> text = read_text(proc_root + "/locks");
  for (const LockEntry& l : parse_proc_locks(text.value_or("")))
    if (!l.blocked && makedev(l.major, l.minor) == dev && l.ino == ino) {
      FileLockHolder h{l, false, ""};
      h.pid_alive = process_alive(proc_root, l.pid, h.comm);
      out.locks.push_back(std::move(h));
    }
  ProcessScan scan(
      [dev, ino](const Target& t) -> std::optional<bool> {
        if (t.dev == dev && t.ino == ino) return false;
        return std::nullopt;
      },
      skip_tgid, proc_root);
  scan.run();
  out.holders = std::move(scan.holders);
  out.unreadable_pids = scan.unreadable;
  return out;
}

// "1: FLOCK  ADVISORY  WRITE 1234 08:02:131073 0 EOF"
// "1: -> POSIX  ADVISORY  WRITE 99 08:02:131073 0 EOF" (a waiter)
std::vector<LockEntry> parse_proc_locks(std::string_view text, int* unparsed) {
  std::vector<LockEntry> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string id, cls, device, start, end;
    LockEntry e;
    fields >> id >> cls;
    if (cls == "->") {
      e.blocked = true;
      fields >> cls;
    }
    e.lock_class = cls;
    fields >> e.mode >> e.type >> e.pid >> device >> start >> end;
    unsigned maj = 0, min = 0;
    unsigned long long ino = 0;
    char tail = 0;
    if (!fields || id.empty() || id.back() != ':' ||
        std::sscanf(device.c_str(), "%x:%x:%llu%c", &maj, &min, &ino, &tail) != 3) {
      if (unparsed) ++*unparsed;
      continue;
    }
    e.major = maj;
    e.minor = min;
    e.ino = ino;
    e.range = start + " " + end;
    out.push_back(std::move(e));
  }
  return out;
}

std::string device_verdict(const DeviceScan& scan, size_t pins) {
  if (!scan.mounts.empty()) return "mounted";
  if (!scan.openers.empty()) return "opened";
  if (!scan.superblock_dirs.empty() || !scan.holders.empty() || pins > 0) return "detached";
  return "free";
}

std::string file_verdict(const FileScan& scan, size_t pins) {
  if (pins > 0) return "deferred_release";
  if (scan.locks.empty()) return "unlocked";
  if (!scan.holders.empty()) return "live_holder";
  return "unseen_holder";
}

}  // namespace fputrace
