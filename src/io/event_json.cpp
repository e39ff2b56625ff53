#include "fputrace/event_json.hpp"

#include <fmt/format.h>

#include <string>
#include <type_traits>
#include <utility>

#include "fputrace/escape.hpp"

namespace fputrace {

using nlohmann::json;

namespace {

// Where a task ran, when known: "cgroup":{"id":N,"path":...} and "mntns".
// Logs from before these fields read back as unknown.
void put_place(json& j, const Task& t) {
  if (t.cgroup_id || !t.cgroup_path.empty()) {
    j["cgroup"] = {{"id", t.cgroup_id}};
    if (!t.cgroup_path.empty()) j["cgroup"]["path"] = t.cgroup_path;
  }
  if (t.mntns) j["mntns"] = t.mntns;
}

json task_to_json(const Task& t) {
  json j{{"tgid", t.tgid}, {"tid", t.tid}, {"flags", t.flags}, {"comm", t.comm}};
  put_place(j, t);
  return j;
}

// An integer field must be a JSON integer that fits: nlohmann converts any
// number, and a float out of the type's range (18446744073709551616 is
// parsed as one) would be undefined behaviour, not an error.
template <typename T>
bool fits(const json& v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (v.is_number_unsigned()) return std::in_range<T>(v.get<uint64_t>());
    return v.is_number_integer() && std::in_range<T>(v.get<int64_t>());
  }
  return true;
}

template <typename T>
T field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) throw std::invalid_argument(fmt::format("missing field \"{}\"", name));
  if (!fits<T>(*it)) throw std::invalid_argument(fmt::format("field \"{}\" is not an integer in range", name));
  try {
    // Strings were written by dump_json(): names come back as the bytes they were.
    if constexpr (std::is_same_v<T, std::string>) return unescape_bytes(it->get_ref<const std::string&>());
    return it->get<T>();
  } catch (const json::exception&) {
    throw std::invalid_argument(fmt::format("field \"{}\" has the wrong type", name));
  }
}

template <typename T>
T optional_field(const json& j, const char* name, T fallback) {
  return j.contains(name) ? field<T>(j, name) : fallback;
}

void read_place(const json& j, Task& t) {
  if (j.contains("cgroup") && !j["cgroup"].is_null()) {
    const json& c = j["cgroup"];
    if (!c.is_object()) throw std::invalid_argument("cgroup is not an object");
    t.cgroup_id = optional_field<uint64_t>(c, "id", 0);
    t.cgroup_path = optional_field<std::string>(c, "path", "");
  }
  t.mntns = optional_field<uint64_t>(j, "mntns", 0);
}

Task task_from_json(const json& j) {
  if (!j.is_object()) throw std::invalid_argument("task is not an object");
  Task t;
  t.tgid = field<uint32_t>(j, "tgid");
  t.tid = field<uint32_t>(j, "tid");
  t.flags = optional_field<uint32_t>(j, "flags", 0);
  t.comm = optional_field<std::string>(j, "comm", "");
  read_place(j, t);
  return t;
}

json owner_to_json(const Owner& o) {
  json j{{"kind", to_string(o.kind)},
         {"tgid", o.task.tgid},
         {"tid", o.task.tid},
         {"comm", o.task.comm},
         {"since_ns", o.since_ns}};
  put_place(j, o.task);
  if (o.ring) j["ring"] = o.ring;
  if (o.found_at_exit) j["found_at_exit"] = true;
  if (o.gone) j["gone"] = true;
  if (o.no_completions) j["no_completions"] = true;
  return j;
}

Owner owner_from_json(const json& j) {
  if (!j.is_object()) throw std::invalid_argument("owner is not an object");
  Owner o;
  auto kind_name = field<std::string>(j, "kind");
  auto kind = owner_kind_from_string(kind_name);
  if (!kind) throw std::invalid_argument(fmt::format("unknown owner kind \"{}\"", kind_name));
  o.kind = *kind;
  o.task.tgid = field<uint32_t>(j, "tgid");
  o.task.tid = field<uint32_t>(j, "tid");
  o.task.comm = optional_field<std::string>(j, "comm", "");
  read_place(j, o.task);
  o.since_ns = optional_field<uint64_t>(j, "since_ns", 0);
  o.ring = optional_field<uint64_t>(j, "ring", 0);
  o.found_at_exit = optional_field<bool>(j, "found_at_exit", false);
  o.gone = optional_field<bool>(j, "gone", false);
  o.no_completions = optional_field<bool>(j, "no_completions", false);
  return o;
}

json umount_to_json(const UmountInfo& u) {
  json j = json::object();
  if (u.mount_known)
    j["mount"] = {{"id", u.mnt_id},
                  {"unique", u.mnt_unique},
                  {"mntns", u.mnt_ns},
                  {"path", u.mount_path},
                  {"path_truncated", u.mount_path_truncated}};
  if (u.refs) j["refs"] = *u.refs;
  if (u.nr_children) {
    json kids = json::array();
    for (const ChildMount& c : u.children) kids.push_back({{"id", c.id}, {"name", c.name}});
    j["children"] = kids;
    j["nr_children"] = u.nr_children;
  }
  if (!u.cwd.empty()) j["cwd"] = {{"path", u.cwd}, {"truncated", u.cwd_truncated}};
  j["flags"] = u.flags;
  if (u.resolved_mnt_id) j["resolved"] = {{"id", *u.resolved_mnt_id}, {"path", u.resolved_path}};
  return j;
}

UmountInfo umount_from_json(const json& j) {
  if (!j.is_object()) throw std::invalid_argument("umount is not an object");
  UmountInfo u;
  if (j.contains("mount")) {
    const json& m = j["mount"];
    u.mount_known = true;
    u.mnt_id = field<int32_t>(m, "id");
    u.mnt_unique = optional_field<uint64_t>(m, "unique", 0);
    u.mnt_ns = optional_field<uint32_t>(m, "mntns", 0);
    u.mount_path = optional_field<std::string>(m, "path", "");
    u.mount_path_truncated = optional_field<bool>(m, "path_truncated", false);
  }
  if (j.contains("refs")) u.refs = field<int64_t>(j, "refs");
  if (j.contains("children")) {
    const json& kids = j["children"];
    if (!kids.is_array()) throw std::invalid_argument("umount.children is not an array");
    for (const json& c : kids)
      u.children.push_back(ChildMount{field<int32_t>(c, "id"), optional_field<std::string>(c, "name", "")});
  }
  u.nr_children = optional_field<uint32_t>(j, "nr_children", static_cast<uint32_t>(u.children.size()));
  if (j.contains("cwd")) {
    u.cwd = field<std::string>(j["cwd"], "path");
    u.cwd_truncated = optional_field<bool>(j["cwd"], "truncated", false);
  }
  u.flags = optional_field<uint32_t>(j, "flags", 0);
  if (j.contains("resolved")) {
    u.resolved_mnt_id = field<int32_t>(j["resolved"], "id");
    u.resolved_path = optional_field<std::string>(j["resolved"], "path", "");
  }
  return u;
}

json lock_to_json(const LockInfo& l) {
  json holders = json::array();
  for (const LockHolder& h : l.holders) {
    json j{{"file", h.file},      {"ino", h.ino},   {"mnt_id", h.mnt_id},
           {"pid", h.pid},        {"kind", to_string(h.kind)}, {"write", h.write}};
    if (h.owner) j["owner"] = owner_to_json(*h.owner);
    holders.push_back(std::move(j));
  }
  json j{{"kind", to_string(l.kind)}, {"write", l.write}, {"holders", holders}, {"nr_holders", l.nr_holders}};
  if (l.layout_unknown) j["layout_unknown"] = true;
  return j;
}

LockKind lock_kind_field(const json& j, const char* name) {
  auto kind_name = field<std::string>(j, name);
  auto kind = lock_kind_from_string(kind_name);
  if (!kind) throw std::invalid_argument(fmt::format("unknown lock kind \"{}\"", kind_name));
  return *kind;
}

LockInfo lock_from_json(const json& j) {
  if (!j.is_object()) throw std::invalid_argument("lock is not an object");
  LockInfo l;
  l.kind = lock_kind_field(j, "kind");
  l.write = optional_field<bool>(j, "write", false);
  l.layout_unknown = optional_field<bool>(j, "layout_unknown", false);
  if (j.contains("holders")) {
    const json& hs = j["holders"];
    if (!hs.is_array()) throw std::invalid_argument("lock.holders is not an array");
    for (const json& h : hs) {
      if (!h.is_object()) throw std::invalid_argument("lock holder is not an object");
      LockHolder holder;
      holder.file = field<uint64_t>(h, "file");
      holder.ino = optional_field<uint64_t>(h, "ino", 0);
      holder.mnt_id = optional_field<int32_t>(h, "mnt_id", 0);
      holder.pid = optional_field<uint32_t>(h, "pid", 0);
      holder.kind = lock_kind_field(h, "kind");
      holder.write = optional_field<bool>(h, "write", false);
      if (h.contains("owner")) holder.owner = owner_from_json(h["owner"]);
      l.holders.push_back(std::move(holder));
    }
  }
  l.nr_holders = optional_field<uint32_t>(j, "nr_holders", static_cast<uint32_t>(l.holders.size()));
  return l;
}

}  // namespace

json event_to_json(const Event& e) {
  json j{{"type", to_string(e.type)},
         {"backend", to_string(e.backend)},
         {"time_ns", e.time_ns},
         {"task", task_to_json(e.task)}};
  if (e.file.ptr) {
    j["file"] = {{"ptr", e.file.ptr},       {"ino", e.file.ino},   {"dev", e.file.dev},
                 {"mnt_id", e.file.mnt_id}, {"path", e.file.path}, {"path_truncated", e.file.path_truncated}};
    if (!e.file.mount_path.empty()) j["file"]["mount_path"] = e.file.mount_path;
    if (e.file.mount_ns) j["file"]["mount_ns"] = e.file.mount_ns;
    if (e.file.mount_detached) j["file"]["mount_detached"] = true;
  }
  if (e.ring) j["ring"] = e.ring;
  if (e.req) j["req"] = e.req;
  if (e.user_data) j["user_data"] = e.user_data;
  j["ret"] = e.ret;
  if (e.detail) j["detail"] = e.detail;
  if (!e.path.empty()) j["path"] = e.path;
  if (e.owner) j["owner"] = owner_to_json(*e.owner);
  if (e.umount) j["umount"] = umount_to_json(*e.umount);
  if (e.lock) j["lock"] = lock_to_json(*e.lock);
  if (e.bdev) j["bdev"] = {{"rdev", e.bdev->rdev}, {"flags", e.bdev->flags}};
  return j;
}

Event event_from_json(const json& j) {
  if (!j.is_object()) throw std::invalid_argument("event is not a JSON object");
  Event e;
  auto type_name = field<std::string>(j, "type");
  auto type = event_type_from_string(type_name);
  if (!type) throw std::invalid_argument(fmt::format("unknown event type \"{}\"", type_name));
  e.type = *type;
  auto backend_name = field<std::string>(j, "backend");
  auto backend = backend_from_string(backend_name);
  if (!backend) throw std::invalid_argument(fmt::format("unknown backend \"{}\"", backend_name));
  e.backend = *backend;
  e.time_ns = field<uint64_t>(j, "time_ns");
  e.task = task_from_json(field<json>(j, "task"));
  if (j.contains("file")) {
    const json& f = j["file"];
    e.file.ptr = field<uint64_t>(f, "ptr");
    e.file.ino = optional_field<uint64_t>(f, "ino", 0);
    e.file.dev = optional_field<uint32_t>(f, "dev", 0);
    e.file.mnt_id = optional_field<int32_t>(f, "mnt_id", 0);
    e.file.path = optional_field<std::string>(f, "path", "");
    e.file.path_truncated = optional_field<bool>(f, "path_truncated", false);
    e.file.mount_path = optional_field<std::string>(f, "mount_path", "");
    e.file.mount_ns = optional_field<uint64_t>(f, "mount_ns", 0);
    e.file.mount_detached = optional_field<bool>(f, "mount_detached", false);
  }
  e.ring = optional_field<uint64_t>(j, "ring", 0);
  e.req = optional_field<uint64_t>(j, "req", 0);
  e.user_data = optional_field<uint64_t>(j, "user_data", 0);
  e.ret = optional_field<int64_t>(j, "ret", 0);
  e.detail = optional_field<uint32_t>(j, "detail", 0);
  e.path = optional_field<std::string>(j, "path", "");
  if (j.contains("owner")) e.owner = owner_from_json(j["owner"]);
  if (j.contains("umount")) e.umount = umount_from_json(j["umount"]);
  if (j.contains("lock")) e.lock = lock_from_json(j["lock"]);
  if (j.contains("bdev")) {
    if (!j["bdev"].is_object()) throw std::invalid_argument("bdev is not an object");
    e.bdev = BlockDevInfo{field<uint32_t>(j["bdev"], "rdev"), optional_field<uint32_t>(j["bdev"], "flags", 0)};
  }
  return e;
}

json mount_to_json(const MountInfo& m) {
  return {{"type", "mount"}, {"id", m.id}, {"path", m.path}, {"fstype", m.fstype}, {"source", m.source}};
}

namespace {

MountInfo mount_from_json(const json& j) {
  MountInfo m;
  m.id = field<int32_t>(j, "id");
  m.path = field<std::string>(j, "path");
  m.fstype = optional_field<std::string>(j, "fstype", "");
  m.source = optional_field<std::string>(j, "source", "");
  return m;
}

}  // namespace

LogRecord record_from_json(const json& j) {
  // Not j.value("type", ""): it throws json::type_error when "type" is no string.
  if (auto type = j.find("type"); type != j.end() && *type == "mount") return mount_from_json(j);
  return event_from_json(j);
}

void check_json_depth(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // whatever is escaped cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        throw std::invalid_argument(fmt::format("JSON nested deeper than {} levels at byte {}", max_depth, i));
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

void read_event_log(std::istream& in, const std::function<void(LogRecord&&)>& on_record) {
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    LogRecord record;
    try {
      check_json_depth(line);
      record = record_from_json(json::parse(line));
    } catch (const json::exception& ex) {
      throw std::invalid_argument(fmt::format("line {}: not valid JSON ({})", n, ex.what()));
    } catch (const std::invalid_argument& ex) {
      throw std::invalid_argument(fmt::format("line {}: {}", n, ex.what()));
    }
    on_record(std::move(record));
  }
}

std::vector<LogRecord> read_event_log(std::istream& in) {
  std::vector<LogRecord> records;
  read_event_log(in, [&](LogRecord&& r) { records.push_back(std::move(r)); });
  return records;
}

std::optional<MountInfo> RecordingMounts::note(std::optional<MountInfo> m) {
  if (!m) return m;
  const std::string* told = told_.find(m->id);
  if (!told || *told != m->path) {
    told_[m->id] = m->path;
    record_(*m);
  }
  return m;
}

}  // namespace fputrace
