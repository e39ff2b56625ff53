// Where findings go: text or JSON lines, to stdout or a file, flushed per
// finding so a pipe or a tail -f sees them at once.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fputrace/model.hpp"
#include "fputrace/output.hpp"

namespace fputrace {

class Sink {
 public:
  // path "" or "-" is stdout. nullptr with a reason if the file can't be opened.
  static std::unique_ptr<Sink> open(const std::string& path, bool json, std::string& error);
  void write(const Finding& f);
  void write_json(const nlohmann::json& j);  // JSON mode only; names escaped (escape.hpp)
  void write_text(const std::string& text);  // text mode only; names already printable()
  bool json() const { return json_; }
  // False once a write or flush failed; error() says "cannot write PATH: REASON".
  bool ok() const { return out_->ok(); }
  std::string error() const { return out_->error(); }
  // Flushes and closes; false (see error()) if anything written was lost.
  bool close() { return out_->close(); }

 private:
  Sink(std::unique_ptr<OutFile> out, bool json) : out_(std::move(out)), json_(json) {}
  // Text mode: a retry loop's EBUSYs with nothing new to say get one line.
  bool repeats_last_busy(const Finding& f);

  std::unique_ptr<OutFile> out_;
  bool json_;
  size_t last_busy_key_ = 0;  // a hash: the key itself grows with the pins listed
  uint64_t last_busy_ns_ = 0;
};

}  // namespace fputrace
