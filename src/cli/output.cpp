#include "fputrace/output.hpp"

#include <fmt/format.h>

#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace fputrace {

std::unique_ptr<OutFile> OutFile::open(const std::string& path, std::string& error) {
  if (path.empty() || path == "-") return std::unique_ptr<OutFile>(new OutFile(stdout, false, "standard output"));
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return nullptr;
  }
  return std::unique_ptr<OutFile>(new OutFile(f, true, path));
}

OutFile::~OutFile() {
  if (owned_ && f_) std::fclose(f_);
}

bool OutFile::fail(int err) {
  if (err_ == 0) err_ = err ? err : EIO;
  return false;
}

bool OutFile::write(std::string_view data) {
  if (!ok() || !f_) return false;
  errno = 0;
  if (std::fwrite(data.data(), 1, data.size(), f_) != data.size()) return fail(errno);
  return true;
}

bool OutFile::flush() {
  if (!ok() || !f_) return false;
  errno = 0;
  if (std::fflush(f_) != 0 || std::ferror(f_)) return fail(errno);
  return true;
}

bool OutFile::close() {
  bool flushed = flush();
  if (!owned_ || !f_) return flushed;
  errno = 0;
  int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0 && flushed) return fail(errno);
  return flushed;
}

std::string OutFile::error() const {
  return fmt::format("cannot write {}: {}", name_, std::strerror(err_ ? err_ : EIO));
}

bool replace_file(const std::string& path, std::string_view content, std::string& error) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  auto fail = [&](int err) {
    error = fmt::format("cannot write {}: {}", path, std::strerror(err ? err : EIO));
    ::unlink(tmp.c_str());
    return false;
  };
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return fail(errno);
  errno = 0;
  bool written = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  int err = errno;
  if (std::fclose(f) != 0 && written) {  // buffered data failed at the flush
    written = false;
    err = errno;
  }
  if (!written) return fail(err);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(errno);
  return true;
}

uint64_t realtime_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

}  // namespace fputrace
