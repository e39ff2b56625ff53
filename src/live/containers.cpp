#include "fputrace/containers.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "fputrace/mounts.hpp"

namespace fputrace {

// ---------------------------------------------------------------- container ids

namespace {

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Container ids are lowercase hex: a full 64-digit id, or a short one.
bool hex_id(std::string_view s) {
  return s.size() >= 12 && s.size() <= 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// "<prefix><id><suffix>" -> id, if it is one.
std::optional<std::string_view> id_between(std::string_view name, std::string_view prefix, std::string_view suffix) {
  if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix))
    return std::nullopt;
  std::string_view id = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (!hex_id(id)) return std::nullopt;
  return id;
}

struct Pattern {
  std::string_view prefix, suffix, runtime;
};

// Systemd's cgroup driver names scopes so; podman's cgroupfs driver leaves
// out ".scope". crio-conmon-<id> and libpod-conmon-<id> hold the monitor,
// not the container: "conmon-<id>" is not hex, so they do not match.
constexpr Pattern kPatterns[] = {
    {"docker-", ".scope", "docker"}, {"cri-containerd-", ".scope", "containerd"},
    {"crio-", ".scope", "crio"},     {"libpod-", ".scope", "podman"},
    {"libpod-", "", "podman"},
};

std::optional<Container> container_at(const std::vector<std::string_view>& parts, size_t i) {
  for (const Pattern& p : kPatterns)
    if (auto id = id_between(parts[i], p.prefix, p.suffix)) return Container{std::string(p.runtime), std::string(*id)};
  // docker's cgroupfs driver: /docker/<id>
  if (i > 0 && parts[i - 1] == "docker" && hex_id(parts[i])) return Container{"docker", std::string(parts[i])};
  return std::nullopt;
}

bool systemd_unit(std::string_view name) {
  for (std::string_view suffix : {".service", ".scope"})
    if (name.size() > suffix.size() && name.ends_with(suffix)) return true;
  return false;
}

}  // namespace

std::optional<Container> container_of(std::string_view cgroup_path) {
  auto parts = components(cgroup_path);
  // Innermost first: a container's own cgroups (systemd inside it) lie below it.
  for (size_t i = parts.size(); i-- > 0;)
    if (auto c = container_at(parts, i)) return c;
  for (size_t i = parts.size(); i-- > 0;)
    if (systemd_unit(parts[i])) return Container{"systemd", std::string(parts[i])};
  return std::nullopt;
}

std::string container_label(const Container& c) {
  if (c.runtime == "systemd") return "unit " + c.id;
  return fmt::format("container {}:{}", c.runtime, c.id.substr(0, 12));
}

// ---------------------------------------------------------------- the hierarchy

std::optional<Cgroup2Mount> find_cgroup2_mount(const std::string& proc_root) {
  std::ifstream in(proc_root + "/self/mountinfo");
  std::string line;
  while (std::getline(in, line))
    if (auto m = parse_mountinfo_line(line); m && m->fstype == "cgroup2") return Cgroup2Mount{m->path, m->root};
  return std::nullopt;
}

CgroupPaths::CgroupPaths(std::optional<Cgroup2Mount> mount, size_t capacity)
    : mount_(std::move(mount)), capacity_(capacity ? capacity : 1) {}

std::optional<std::string> CgroupPaths::path_of(uint64_t id) {
  if (!mount_ || id == 0) return std::nullopt;
  if (auto it = paths_.find(id); it != paths_.end()) return it->second;
  if (gone_.count(id)) return std::nullopt;
  walk(id);
  if (auto it = paths_.find(id); it != paths_.end()) return it->second;
  if (gone_.size() >= capacity_) gone_.clear();
  gone_.insert(id);
  return std::nullopt;
}

void CgroupPaths::remember(uint64_t id, std::string path, bool evict) {
  if (paths_.count(id)) return;
  if (paths_.size() >= capacity_) {
    if (!evict) return;
    paths_.erase(order_.front());
    order_.pop_front();
  }
  paths_.emplace(id, std::move(path));
  order_.push_back(id);
}

// Depth first through the mounted hierarchy. Kernfs gives each directory's
// id as d_ino, so no stat is needed. Bounded: cgroup2 nests at most a few
// dozen levels in practice; a deeper tree is cut at kMaxDepth.
void CgroupPaths::walk(uint64_t wanted) {
  constexpr size_t kMaxDepth = 64;
  ++walks_;
  const std::string& base = mount_->mount_point;
  const std::string prefix = mount_->root == "/" ? "" : mount_->root;
  struct stat st {};
  if (::stat(base.c_str(), &st) == 0) remember(st.st_ino, mount_->root, st.st_ino == wanted);
  std::vector<std::pair<std::string, size_t>> todo{{"", 0}};  // path under the mount, depth
  while (!todo.empty()) {
    auto [rel, depth] = std::move(todo.back());
    todo.pop_back();
    DIR* d = ::opendir((base + rel).c_str());
    if (!d) continue;  // removed meanwhile
    while (const dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == ".." || (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)) continue;
      std::string child = rel + "/" + std::string(name);
      if (e->d_type == DT_UNKNOWN && (::stat((base + child).c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) continue;
      remember(e->d_ino, prefix + child, e->d_ino == wanted);
      if (depth + 1 < kMaxDepth) todo.emplace_back(std::move(child), depth + 1);
    }
    ::closedir(d);
  }
}

std::optional<uint64_t> CgroupPaths::id_of(const std::string& path) const {
  if (!mount_) return std::nullopt;
  std::string rel = path;
  if (mount_->root != "/") {
    if (!path.starts_with(mount_->root)) return std::nullopt;
    rel = path.substr(mount_->root.size());
  }
  struct stat st {};
  if (::stat((mount_->mount_point + rel).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  return st.st_ino;
}

std::string CgroupPaths::hierarchy_path(std::string arg) const {
  while (arg.size() > 1 && arg.back() == '/') arg.pop_back();
  if (mount_) {
    const std::string& mp = mount_->mount_point;
    bool under = arg == mp || (arg.starts_with(mp) && arg[mp.size()] == '/');
    if (under) {
      std::string rest = arg.substr(mp.size());
      std::string root = mount_->root == "/" ? "" : mount_->root;
      arg = rest.empty() ? mount_->root : root + rest;
    }
  }
  if (arg.empty() || arg[0] != '/') arg.insert(0, 1, '/');
  return arg;
}

void CgroupPaths::name(Task& t) {
  if (t.cgroup_path.empty() && t.cgroup_id)
    if (auto p = path_of(t.cgroup_id)) t.cgroup_path = *p;
}

void CgroupPaths::name(Event& e) {
  name(e.task);
  if (e.owner) name(e.owner->task);
}

// ---------------------------------------------------------------- procfs

ProcPlace read_proc_place(const std::string& pid_dir) {
  ProcPlace place;
  std::ifstream in(pid_dir + "/cgroup");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("0::")) place.cgroup_path = line.substr(3);
  struct stat st {};
  if (::stat((pid_dir + "/ns/mnt").c_str(), &st) == 0) place.mntns = st.st_ino;
  return place;
}

// ---------------------------------------------------------------- output

void put_task_place(nlohmann::json& j, const Task& t) {
  using nlohmann::json;
  if (t.cgroup_id || !t.cgroup_path.empty())
    j["cgroup"] = {{"id", t.cgroup_id}, {"path", t.cgroup_path.empty() ? json(nullptr) : json(t.cgroup_path)}};
  else
    j["cgroup"] = nullptr;
  j["mntns"] = t.mntns ? json(t.mntns) : json(nullptr);
  auto c = container_of(t.cgroup_path);
  j["container"] = c ? json{{"runtime", c->runtime}, {"id", c->id}} : json(nullptr);
}

std::string place_suffix(const Task& t) {
  auto c = container_of(t.cgroup_path);
  return c ? ", " + container_label(*c) : "";
}

// ---------------------------------------------------------------- filters

bool TaskFilter::matches(std::string_view cgroup_path) const {
  if (!active()) return true;
  if (cgroup_path.empty()) return false;
  if (!cgroup.empty() && cgroup != "/") {
    bool below =
        cgroup_path.starts_with(cgroup) && (cgroup_path.size() == cgroup.size() || cgroup_path[cgroup.size()] == '/');
    if (!below) return false;
  }
  if (!container.empty()) {
    auto c = container_of(cgroup_path);
    if (!c || !c->id.starts_with(container)) return false;
  }
  return true;
}

namespace {

bool any_holder_matches(const TaskFilter& filter, const std::vector<LiveHolder>& holders) {
  for (const LiveHolder& h : holders)
    if (filter.matches(h.cgroup_path)) return true;
  return false;
}

}  // namespace

bool TaskFilter::matches(const Finding& f) const {
  if (!active() || f.kind == Finding::Kind::Loss) return true;
  for (const Pin& p : f.pins)
    if (p.origin_known && matches(p.origin)) return true;
  if (f.kind != Finding::Kind::UmountBusy) return false;
  if (matches(f.actor)) return true;
  if (!f.live) return false;
  if (any_holder_matches(*this, f.live->causes.holders)) return true;
  for (const PropagationCause& copy : f.live->causes.propagation)
    if (any_holder_matches(*this, copy.holders)) return true;
  return false;
}

bool TaskFilter::keeps(const Event& e, const std::vector<Finding>& findings) const {
  if (!active() || e.type == EventType::Loss) return true;
  for (const Finding& f : findings)
    if (f.kind != Finding::Kind::Loss && matches(f)) return true;
  if (matches(e.task) || (e.owner && matches(e.owner->task))) return true;
  if (e.owner || !e.task.kernel_thread()) return false;
  switch (e.type) {
    case EventType::DelayedRun:
    case EventType::DelayedRunEnd:
    case EventType::RingExit:
    case EventType::RingExitEnd:
    case EventType::Released:
      return true;
    default:
      return false;
  }
}

nlohmann::json TaskFilter::to_json() const {
  using nlohmann::json;
  return {{"cgroup", cgroup.empty() ? json(nullptr) : json(cgroup)},
          {"container", container.empty() ? json(nullptr) : json(container)}};
}

std::string TaskFilter::describe() const {
  std::string out;
  if (!cgroup.empty()) out = "cgroup " + cgroup;
  if (!container.empty()) out += (out.empty() ? "" : " and ") + std::string("container ") + container;
  return out;
}

}  // namespace fputrace
