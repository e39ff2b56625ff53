// Where findings go: text or JSON lines, to stdout or a file, flushed per
// finding so a pipe or a tail -f sees them at once.
#pragma once

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fputrace/model.hpp"

namespace fputrace {

class Sink {
 public:
  // path "" or "-" is stdout. nullptr with a reason if the file can't be opened.
  static std::unique_ptr<Sink> open(const std::string& path, bool json, std::string& error);
  ~Sink();
  void write(const Finding& f);
  void write_json(const nlohmann::json& j);  // JSON mode only
  void write_text(const std::string& text);  // text mode only
  bool json() const { return json_; }

 private:
  Sink(FILE* out, bool owned, bool json) : out_(out), owned_(owned), json_(json) {}
  // Text mode: a retry loop's EBUSYs with nothing new to say get one line.
  bool repeats_last_busy(const Finding& f);

  FILE* out_;
  bool owned_;
  bool json_;
  std::string last_busy_key_;
  uint64_t last_busy_ns_ = 0;
};

}  // namespace fputrace
