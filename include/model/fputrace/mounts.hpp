// Naming mounts: mnt_id <-> mount point, from /proc/self/mountinfo.
#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fputrace {

// A mount as findings name it.
struct MountRef {
  int32_t id = 0;
  std::string path;    // "" when the mount could not be named
  uint64_t mntns = 0;  // the mount namespace path holds in, when the kernel named it; 0: fputrace's own
  bool detached = false;  // in no namespace any more (umount -l): path is where it was
};

struct MountInfo {
  int32_t id = 0;
  int32_t parent_id = 0;
  std::string path;  // mount point, unescaped
  std::string fstype;
  std::string source;
};

// mountinfo(5) escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string& s);

// Every field of one mountinfo(5) line, names unescaped: the one parser of
// mountinfo; each reader (the mount table, propagation, the cgroup2 mount)
// takes what it needs.
struct MountinfoLine {
  int32_t id = 0;
  int32_t parent_id = 0;
  bool dev_known = false;  // "major:minor" parsed
  unsigned major = 0, minor = 0;
  std::string root;    // the mount's root inside its filesystem
  std::string path;    // mount point, as the reading process sees it
  int32_t shared = 0;  // optional field shared:N, 0 if not shared
  int32_t master = 0;  // optional field master:N, 0 if not a slave
  std::string fstype;
  std::string source;
};
std::optional<MountinfoLine> parse_mountinfo_line(const std::string& line);

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

// A table filled by add(): for tests and for reports of recorded traces.
// Bounded: beyond `cap` mounts, the one added (or re-added) longest ago goes.
class StaticMounts : public MountNames {
 public:
  explicit StaticMounts(size_t cap = 16384) : cap_(cap ? cap : 1) {}
  void add(MountInfo m);
  std::optional<MountInfo> by_id(int32_t id) override;
  std::optional<MountInfo> by_path(const std::string& path) override;
  void forget(int32_t id) override;
  size_t size() const { return by_id_.size(); }
  uint64_t evictions() const { return evictions_; }

 private:
  struct Entry {
    MountInfo info;
    uint64_t seq = 0;
  };
  size_t cap_;
  uint64_t next_ = 0;
  uint64_t evictions_ = 0;
  std::map<int32_t, Entry> by_id_;
  std::map<uint64_t, int32_t> order_;  // by when it was last added
  std::map<std::string, int32_t> latest_at_path_;
};

}  // namespace fputrace
