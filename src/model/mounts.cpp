#include "fputrace/mounts.hpp"

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string_view>

namespace fputrace {

std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct = s.substr(i + 1, 3);
      if (oct.size() == 3 && oct.find_first_not_of("01234567") == std::string::npos) {
        out.push_back(static_cast<char>(std::stoi(oct, nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

namespace {

void parse_optional_field(const std::string& word, MountinfoLine& m) {
  auto number_after = [&](std::string_view tag) {
    return static_cast<int32_t>(std::strtol(word.c_str() + tag.size(), nullptr, 10));
  };
  if (word.rfind("shared:", 0) == 0) m.shared = number_after("shared:");
  if (word.rfind("master:", 0) == 0) m.master = number_after("master:");
}

}  // namespace

std::optional<MountinfoLine> parse_mountinfo_line(const std::string& line) {
  std::istringstream in(line);
  MountinfoLine m;
  std::string devno, root, mount_point, options, word;
  if (!(in >> m.id >> m.parent_id >> devno >> root >> mount_point >> options)) return std::nullopt;
  m.dev_known = std::sscanf(devno.c_str(), "%u:%u", &m.major, &m.minor) == 2;
  while (in >> word && word != "-") parse_optional_field(word, m);
  if (word != "-" || !(in >> m.fstype >> m.source)) return std::nullopt;
  m.root = unescape_mountinfo(root);
  m.path = unescape_mountinfo(mount_point);
  m.source = unescape_mountinfo(m.source);
  return m;
}

std::vector<MountInfo> parse_mountinfo(std::istream& in) {
  std::vector<MountInfo> mounts;
  std::string line;
  while (std::getline(in, line))
    if (auto m = parse_mountinfo_line(line))
      mounts.push_back(MountInfo{m->id, m->parent_id, m->path, m->fstype, m->source});
  return mounts;
}

void StaticMounts::add(MountInfo m) {
  auto it = by_id_.find(m.id);
  if (it != by_id_.end()) {
    order_.erase(it->second.seq);
    auto at = latest_at_path_.find(it->second.info.path);  // the id was reused elsewhere
    if (at != latest_at_path_.end() && at->second == m.id && it->second.info.path != m.path) latest_at_path_.erase(at);
  } else if (by_id_.size() >= cap_) {
    forget(order_.begin()->second);
    ++evictions_;
  }
  uint64_t seq = ++next_;
  order_.emplace(seq, m.id);
  latest_at_path_[m.path] = m.id;
  int32_t id = m.id;
  by_id_[id] = Entry{std::move(m), seq};
}

std::optional<MountInfo> StaticMounts::by_id(int32_t id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second.info;
}

void StaticMounts::forget(int32_t id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  auto at = latest_at_path_.find(it->second.info.path);
  if (at != latest_at_path_.end() && at->second == id) latest_at_path_.erase(at);
  order_.erase(it->second.seq);
  by_id_.erase(it);
}

std::optional<MountInfo> StaticMounts::by_path(const std::string& path) {
  auto it = latest_at_path_.find(path);
  if (it == latest_at_path_.end()) return std::nullopt;
  return by_id(it->second);
}

}  // namespace fputrace
