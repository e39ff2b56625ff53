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

void Sink::write(const Finding& f) {
  if (json_)
    write_json(finding_to_json(f));
  else
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
