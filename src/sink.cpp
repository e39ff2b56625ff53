#include "sink.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "fputrace/findings_out.hpp"

namespace fputrace {

std::unique_ptr<Sink> Sink::open(const std::string& path, bool json, std::string& error) {
  if (path.empty() || path == "-") return std::unique_ptr<Sink>(new Sink(stdout, false, json));
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return nullptr;
  }
  return std::unique_ptr<Sink>(new Sink(f, true, json));
}

Sink::~Sink() {
  std::fflush(out_);
  if (owned_) std::fclose(out_);
}

bool Sink::repeats_last_busy(const Finding& f) {
  if (f.kind != Finding::Kind::UmountBusy) return false;
  std::string key = fmt::format("{}|{}|{}", f.mount.id, f.verdict, f.live.is_null() ? "" : f.live.dump());
  for (const Pin& p : f.pins) key += fmt::format("|{}:{}", p.file.ptr, to_string(p.holder));
  bool same = key == last_busy_key_ && f.time_ns - last_busy_ns_ < 1'000'000'000;
  last_busy_key_ = key;
  last_busy_ns_ = f.time_ns;
  return same;
}

void Sink::write(const Finding& f) {
  if (json_) {
    write_json(finding_to_json(f));
    return;
  }
  if (repeats_last_busy(f)) {
    write_text(fmt::format("{:>14.6f} EBUSY     umount {} again, by {} ({}): same cause\n",
                           static_cast<double>(f.time_ns) / 1e9, f.mount.path, f.actor.comm, f.actor.tgid));
    return;
  }
  write_text(finding_to_text(f));
}

void Sink::write_json(const nlohmann::json& j) {
  std::string line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

void Sink::write_text(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), out_);
  std::fflush(out_);
}

}  // namespace fputrace
