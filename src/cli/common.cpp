// What every subcommand shares: the error line, the checks before tracing,
// and naming mounts from the paths a user gives.
#include <fmt/format.h>
#include <stdlib.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "fputrace/cli.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/kernel_features.hpp"

namespace fputrace {

void complain(const std::string& msg) {
  // Messages quote paths and names, which may be any bytes.
  fmt::print(stderr, "fputrace: {}\n", printable(msg));
}

bool preflight(std::string& error) {
  Capability priv = bpf_privileges();
  if (!priv.available) {
    error = priv.reason;
    return false;
  }
  if (!read_kernel_info().btf) {
    error = "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): it needs CONFIG_DEBUG_INFO_BTF=y";
    return false;
  }
  return true;
}

std::optional<MountInfo> resolve_mount_point(const std::string& path, ProcMounts& mounts, std::string& error) {
  char real[PATH_MAX];
  if (!::realpath(path.c_str(), real)) {
    error = fmt::format("{}: {}", path, std::strerror(errno));
    return std::nullopt;
  }
  auto m = mounts.mounted_at(real);
  if (!m) error = fmt::format("{}: not a mount point (see findmnt)", path);
  return m;
}

std::optional<std::vector<int32_t>> resolve_mounts(const std::vector<std::string>& paths, ProcMounts& mounts,
                                                   std::string& error) {
  std::vector<int32_t> ids;
  for (const auto& p : paths) {
    auto m = resolve_mount_point(p, mounts, error);
    if (!m) {
      error = "--mount " + error;
      return std::nullopt;
    }
    ids.push_back(m->id);
  }
  return ids;
}

}  // namespace fputrace
