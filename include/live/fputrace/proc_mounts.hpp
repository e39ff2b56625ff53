// The mount table of the running system, read from procfs (live layer: the
// model's MountNames, backed by /proc/self/mountinfo).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fputrace/mounts.hpp"

namespace fputrace {

// The live table of this process's mount namespace, re-read when a lookup
// misses, and remembering mounts that have since gone away (every re-read
// renews the mounts still there, so the history that is dropped first is of
// mounts gone longest).
class ProcMounts : public MountNames {
 public:
  explicit ProcMounts(std::string mountinfo_path = "/proc/self/mountinfo");
  void refresh();
  std::optional<MountInfo> by_id(int32_t id) override;
  std::optional<MountInfo> by_path(const std::string& path) override;
  void forget(int32_t id) override { seen_.forget(id); }
  // Mounted now (re-reads the table): for validating --mount arguments.
  std::optional<MountInfo> mounted_at(const std::string& path);
  size_t size() const { return seen_.size(); }

 private:
  std::string source_;
  StaticMounts seen_;
  std::vector<MountInfo> current_;
};

}  // namespace fputrace
