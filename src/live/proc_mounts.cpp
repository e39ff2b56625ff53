#include "fputrace/proc_mounts.hpp"

#include <fstream>

namespace fputrace {

ProcMounts::ProcMounts(std::string mountinfo_path) : source_(std::move(mountinfo_path)) {
  refresh();
}

void ProcMounts::refresh() {
  std::ifstream in(source_);
  current_ = parse_mountinfo(in);
  for (const auto& m : current_) seen_.add(m);
}

std::optional<MountInfo> ProcMounts::by_id(int32_t id) {
  if (auto m = seen_.by_id(id)) return m;
  refresh();
  return seen_.by_id(id);
}

std::optional<MountInfo> ProcMounts::by_path(const std::string& path) {
  if (auto m = seen_.by_path(path)) return m;
  refresh();
  return seen_.by_path(path);
}

std::optional<MountInfo> ProcMounts::mounted_at(const std::string& path) {
  refresh();
  std::optional<MountInfo> top;
  for (const auto& m : current_)
    if (m.path == path) top = m;  // the last one listed is the visible one
  return top;
}

}  // namespace fputrace
