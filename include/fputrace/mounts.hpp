// Naming mounts: mnt_id <-> mount point, from /proc/self/mountinfo.
#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fputrace {

struct MountInfo {
  int32_t id = 0;
  int32_t parent_id = 0;
  std::string path;  // mount point, unescaped
  std::string fstype;
  std::string source;
};

// mountinfo(5) escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string& s);

// Parses mountinfo(5) text; lines that do not parse are skipped.
std::vector<MountInfo> parse_mountinfo(std::istream& in);

// What the model needs to name mounts. Lookups may be answered from history:
// a mount that is gone keeps the name it had.
class MountNames {
 public:
  virtual ~MountNames() = default;
  virtual std::optional<MountInfo> by_id(int32_t id) = 0;
  virtual std::optional<MountInfo> by_path(const std::string& path) = 0;
  // The mount is gone: its id may be reused by a new mount.
  virtual void forget(int32_t id) = 0;
};

// A fixed table: for tests and for reports of recorded traces.
class StaticMounts : public MountNames {
 public:
  void add(MountInfo m);
  std::optional<MountInfo> by_id(int32_t id) override;
  std::optional<MountInfo> by_path(const std::string& path) override;
  void forget(int32_t id) override;
  const std::map<int32_t, MountInfo>& all() const { return by_id_; }

 private:
  std::map<int32_t, MountInfo> by_id_;
  std::map<std::string, int32_t> latest_at_path_;
};

// The live table of this process's mount namespace, re-read when a lookup
// misses, and remembering mounts that have since gone away.
class ProcMounts : public MountNames {
 public:
  explicit ProcMounts(std::string mountinfo_path = "/proc/self/mountinfo");
  void refresh();
  std::optional<MountInfo> by_id(int32_t id) override;
  std::optional<MountInfo> by_path(const std::string& path) override;
  void forget(int32_t id) override { seen_.forget(id); }
  // Mounted now (re-reads the table): for validating --mount arguments.
  std::optional<MountInfo> mounted_at(const std::string& path);
  const std::map<int32_t, MountInfo>& known() const { return seen_.all(); }

 private:
  std::string source_;
  StaticMounts seen_;
  std::vector<MountInfo> current_;
};

}  // namespace fputrace
