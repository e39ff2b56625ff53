// Where findings go: text or JSON lines, to stdout or a file, flushed per
// finding so a pipe or a tail -f sees them at once; or the systemd journal,
// an entry per JSON object (journal_out.hpp), sent to journald or written in
// the journal's export format.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "fputrace/journal.hpp"
#include "fputrace/model.hpp"
#include "fputrace/output.hpp"

namespace fputrace {

enum class SinkFormat { Text, Json, Journal, JournalExport };

class Sink {
 public:
  // path "" or "-" is stdout (Journal: unused). nullptr with a reason if the
  // file can't be opened, or no journald listens.
  static std::unique_ptr<Sink> open(const std::string& path, SinkFormat format, std::string& error);
  static std::unique_ptr<Sink> open(const std::string& path, bool json, std::string& error) {
    return open(path, json ? SinkFormat::Json : SinkFormat::Text, error);
  }
  void write(const Finding& f);
  // Called with each finding written (metrics count what was reported).
  void on_write(std::function<void(const Finding&)> observer) { observer_ = std::move(observer); }
  void write_json(const nlohmann::json& j);  // JSON mode only; names escaped (escape.hpp)
  void write_text(const std::string& text);  // text mode only; names already printable()
  // Every format but text is built from the JSON objects.
  bool json() const { return format_ != SinkFormat::Text; }
  // False once a write or flush failed; error() says "cannot write PATH: REASON".
  bool ok() const { return journal_ ? journal_->ok() : out_->ok(); }
  std::string error() const { return journal_ ? journal_->error() : out_->error(); }
  // Flushes and closes; false (see error()) if anything written was lost.
  bool close() { return journal_ ? journal_->ok() : out_->close(); }

 private:
  Sink(std::unique_ptr<OutFile> out, std::unique_ptr<JournalSocket> journal, SinkFormat format)
      : out_(std::move(out)), journal_(std::move(journal)), format_(format) {}
  // Text mode: a retry loop's EBUSYs with nothing new to say get one line.
  bool repeats_last_busy(const Finding& f);

  std::unique_ptr<OutFile> out_;          // all but Journal
  std::unique_ptr<JournalSocket> journal_;  // Journal only
  SinkFormat format_;
  std::function<void(const Finding&)> observer_;
  size_t last_busy_key_ = 0;  // a hash: the key itself grows with the pins listed
  uint64_t last_busy_ns_ = 0;
};

}  // namespace fputrace
