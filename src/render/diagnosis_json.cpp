#include <fmt/format.h>

#include <algorithm>

#include "fputrace/diagnosis_out.hpp"
#include "fputrace/findings_out.hpp"

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
  nlohmann::json j{{"origin", task_to_json(holder_task(h))},         {"source", to_string(h.source)},
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

nlohmann::json references_json(int64_t explained, std::optional<int64_t> kernel_count) {
  nlohmann::json r{{"explained", explained}};
  if (!kernel_count) {
    r["unexplained"] = nullptr;
    r["note"] =
        "the kernel's reference count on the mount cannot be read from user space; these are the references "
        "fputrace can name (a file shared by several processes counts once per process)";
  } else {
    int64_t extra = references_beyond(*kernel_count, explained);
    r["unexplained"] = std::max<int64_t>(extra, 0);
    r["note"] = extra >= 0
                    ? fmt::format("the kernel counted {} references, {} of them expected", *kernel_count, kUmountOwnReferences)
                    : fmt::format(
                          "the kernel counted {} references; fputrace over-counts files shared "
                          "between processes",
                          *kernel_count);
  }
  return {{"references", r}};
}

nlohmann::json live_diagnosis_to_json(const LiveDiagnosis& d) {
  nlohmann::json j = live_causes_to_json(d.causes);
  j["references"] = references_json(d.references_explained, d.kernel_count)["references"];
  j["scanned"] = d.scanned;
  j["scan_after_ms"] = d.scan_after_ms;
  return j;
}

}  // namespace fputrace
