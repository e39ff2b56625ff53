// Containers: the cgroup and mount namespace a task ran in, and the container
// (or systemd unit) its cgroup path names.
//
// The BPF side sends each task's cgroup2 id (bpf_get_current_cgroup_id) and
// mount namespace inode. The collector names the cgroup: a cgroup2 id is the
// inode number of the cgroup's directory, so the hierarchy's mount is walked
// on a cache miss. Live holders (procfs) read /proc/PID/cgroup instead.
// Cgroup paths are bytes like every other name (escape.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "fputrace/event.hpp"
#include "fputrace/model.hpp"

namespace fputrace {

struct Container {
  std::string runtime;  // "docker", "containerd", "crio", "podman", or "systemd"
  std::string id;       // the container id; for "systemd" the unit ("nginx.service")
};

// The innermost container a cgroup path names: docker-<id>.scope or
// /docker/<id>, cri-containerd-<id>.scope, crio-<id>.scope, libpod-<id>.scope
// (ids: 12 to 64 lowercase hex digits); failing that the innermost systemd
// unit (*.service, *.scope); nullopt when neither.
std::optional<Container> container_of(std::string_view cgroup_path);

// "container docker:3f2a1b4c5d6e" (ids cut to 12 digits, as docker ps does),
// "unit nginx.service". Raw bytes: printable() before a terminal.
std::string container_label(const Container& c);

// Where the cgroup2 hierarchy is mounted here, and which of its directories
// is the mount's root (not "/" inside a cgroup namespace).
struct Cgroup2Mount {
  std::string mount_point;
  std::string root = "/";
};
std::optional<Cgroup2Mount> find_cgroup2_mount(const std::string& proc_root = "/proc");

// cgroup2 id -> path in the hierarchy ("/system.slice/docker-<id>.scope"),
// cached. A miss walks the mounted hierarchy (each directory's d_ino is its
// id) and caches what it finds while there is room; ids it does not find are
// remembered as gone (an id is never reused), so a removed cgroup costs one
// walk. Both caches hold at most `capacity` entries.
class CgroupPaths {
 public:
  explicit CgroupPaths(std::optional<Cgroup2Mount> mount, size_t capacity = 4096);

  std::optional<std::string> path_of(uint64_t id);
  // The id of a cgroup that exists now (stat of its directory).
  std::optional<uint64_t> id_of(const std::string& path) const;
  // A --cgroup argument as a hierarchy path: either one already
  // ("/system.slice/x.scope") or a directory under the mount
  // ("/sys/fs/cgroup/unified/system.slice/x.scope"); trailing '/' dropped.
  std::string hierarchy_path(std::string arg) const;
  // Fills cgroup_path from cgroup_id where it is unknown.
  void name(Task& t);
  void name(Event& e);

  size_t walks() const { return walks_; }
  size_t cached() const { return paths_.size(); }

 private:
  void walk(uint64_t wanted);
  void remember(uint64_t id, std::string path, bool evict);

  std::optional<Cgroup2Mount> mount_;
  size_t capacity_;
  std::unordered_map<uint64_t, std::string> paths_;
  std::deque<uint64_t> order_;  // insertion order, for eviction
  std::unordered_set<uint64_t> gone_;
  size_t walks_ = 0;
};

// A live process's place: the "0::" line of /proc/PID/cgroup (a path from
// the root of the reader's cgroup namespace) and /proc/PID/ns/mnt's inode.
struct ProcPlace {
  std::string cgroup_path;  // "" when unreadable or no cgroup2 line
  uint64_t mntns = 0;
};
ProcPlace read_proc_place(const std::string& pid_dir);

// Adds a task's place to its JSON object: "cgroup": {"id": N, "path": S|null}
// (null when nothing is known), "mntns": N|null and "container":
// {"runtime", "id"}|null.
void put_task_place(nlohmann::json& j, const Task& t);

// ", container docker:3f2a1b4c5d6e" for text output ("" when none), raw bytes.
std::string place_suffix(const Task& t);

// --cgroup PATH / --container ID: which tasks a user asks about. A task
// matches when it is in the cgroup or below it, and (both given) its
// container id starts with ID (any runtime; a systemd unit's name counts as
// its id). A task whose cgroup is unknown matches no active filter.
struct TaskFilter {
  std::string cgroup;     // hierarchy path; "" = any
  std::string container;  // id prefix; "" = any

  bool active() const { return !cgroup.empty() || !container.empty(); }
  bool matches(std::string_view cgroup_path) const;
  bool matches(const Task& t) const { return matches(t.cgroup_path); }
  // A finding is kept when one of its tasks matches: a pin's origin, the
  // umount caller (umount_busy), a live holder (also of a propagated copy).
  // Losses always are: they concern every finding.
  bool matches(const Finding& f) const;
  // A record of the raw log is kept when a finding it produced matches, when
  // its task or the file's owner matches, or when it is a kernel thread's
  // record that ends pins (delayed_fput runs, ring teardown, releases) or a
  // loss: replaying the kept records gives the kept findings.
  bool keeps(const Event& e, const std::vector<Finding>& findings) const;
  // {"cgroup": S|null, "container": S|null}
  nlohmann::json to_json() const;
  // "cgroup /x and container abc"
  std::string describe() const;
};

}  // namespace fputrace
