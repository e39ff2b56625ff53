#include <fmt/format.h>

#include "fputrace/containers.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/holders.hpp"

namespace fputrace {

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

}  // namespace fputrace
