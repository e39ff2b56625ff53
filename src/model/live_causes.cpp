#include "fputrace/live_causes.hpp"

#include <set>
#include <utility>

namespace fputrace {

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

Task holder_task(const LiveHolder& h) {
  Task t{h.tgid, h.tgid, 0, h.comm};
  t.cgroup_id = h.cgroup_id;
  t.cgroup_path = h.cgroup_path;
  t.mntns = h.mntns;
  return t;
}

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

}  // namespace fputrace
