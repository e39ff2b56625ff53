#include "fputrace/procfs.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>

namespace fputrace::procfs {

Access classify(int err) {
  return (err == EACCES || err == EPERM) ? Access::Denied : Access::Gone;
}

Access read_link(const std::string& path, std::string& out) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  if (n < 0) return classify(errno);
  out.assign(buf, static_cast<size_t>(n));
  return Access::Ok;
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> list_dir(const std::string& path, Access& access) {
  std::vector<std::string> names;
  DIR* d = ::opendir(path.c_str());
  access = d ? Access::Ok : classify(errno);
  if (!d) return names;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  ::closedir(d);
  return names;
}

std::optional<uint32_t> parse_pid(const std::string& name) {
  if (name.empty() || name.size() > 10 || name.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return static_cast<uint32_t>(std::strtoul(name.c_str(), nullptr, 10));
}

bool under(const std::string& path, const std::string& mount_point) {
  if (mount_point == "/") return !path.empty() && path[0] == '/';
  if (path.compare(0, mount_point.size(), mount_point) != 0) return false;
  const std::string_view rest = std::string_view(path).substr(mount_point.size());
  return rest.empty() || rest[0] == '/' || rest == " (deleted)";  // the mount point itself, unlinked
}

}  // namespace fputrace::procfs
