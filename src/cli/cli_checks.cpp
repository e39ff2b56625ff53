#include "fputrace/cli_checks.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>

namespace fputrace {

std::string check_number(const std::string& text, double lo, bool lo_open, double hi) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(begin, &end);
  std::string range = lo_open ? fmt::format("more than {} and at most {}", lo, hi) : fmt::format("{} to {}", lo, hi);
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0])) || end == begin || *end != '\0' ||
      errno == ERANGE || !std::isfinite(v))
    return fmt::format("'{}' is not a number (expected {})", text, range);
  if (v > hi || v < lo || (lo_open && v == lo)) return fmt::format("{} is out of range (expected {})", text, range);
  return "";
}

namespace {

std::filesystem::path normalized(const std::string& p) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(p, ec);
  if (ec) return std::filesystem::path(p).lexically_normal();
  // Resolves symlinks in the part that exists and normalizes the rest.
  std::filesystem::path canon = std::filesystem::weakly_canonical(abs, ec);
  return ec ? abs.lexically_normal() : canon;
}

}  // namespace

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {};
  struct stat sb {};
  bool ea = ::stat(a.c_str(), &sa) == 0, eb = ::stat(b.c_str(), &sb) == 0;
  if (ea && eb) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino && !S_ISCHR(sa.st_mode);
  return normalized(a) == normalized(b);
}

std::string check_distinct_files(const std::vector<std::pair<std::string, std::string>>& files) {
  auto skip = [](const std::string& p) { return p.empty() || p == "-"; };
  for (size_t i = 0; i < files.size(); ++i)
    for (size_t k = i + 1; k < files.size(); ++k) {
      const auto& [flag_a, a] = files[i];
      const auto& [flag_b, b] = files[k];
      if (skip(a) || skip(b) || !same_file(a, b)) continue;
      return fmt::format("{} {} and {} {} are the same file: refusing to overwrite it", flag_a, a, flag_b, b);
    }
  return "";
}

}  // namespace fputrace
