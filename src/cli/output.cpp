#include "fputrace/output.hpp"

#include <fmt/format.h>

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
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) {
    error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return false;
  }
  std::unique_ptr<OutFile> out(new OutFile(f, true, path));
  out->write(content);
  if (!out->close()) {
    error = out->error();
    ::unlink(tmp.c_str());
    return false;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace fputrace
