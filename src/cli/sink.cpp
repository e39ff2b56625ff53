#include "fputrace/sink.hpp"

#include <fmt/format.h>

#include <functional>

#include "fputrace/diagnosis_out.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/journal_out.hpp"

namespace fputrace {


std::unique_ptr<Sink> Sink::open(const std::string& path, SinkFormat format, std::string& error) {
  if (format == SinkFormat::Journal) {
    auto journal = JournalSocket::open(error);
    if (!journal) return nullptr;
    return std::unique_ptr<Sink>(new Sink(nullptr, std::move(journal), format));
  }
  auto out = OutFile::open(path, error);
  if (!out) return nullptr;
  return std::unique_ptr<Sink>(new Sink(std::move(out), nullptr, format));
}

bool Sink::repeats_last_busy(const Finding& f) {
  if (f.kind != Finding::Kind::UmountBusy && f.kind != Finding::Kind::LockBusy && f.kind != Finding::Kind::BdevBusy)
    return false;
  // The causes, not when they were looked at: the scan's delay and the hold
  // times change from one attempt to the next.
  std::string key = fmt::format("{}|{}|{}", f.mount.id, f.verdict, f.live ? dump_json(live_causes_to_json(f.live->causes)) : "");
  if (f.lock) {
    key += fmt::format("|lock {}:{}:{}", f.target_file.ino, to_string(f.lock->kind), f.lock->write);
    for (const LockHolder& h : f.lock->holders) key += fmt::format("|{}:{}", h.file, h.pid);
  }
  if (f.bdev) key += fmt::format("|bdev {}", f.bdev->rdev);
  for (const Pin& p : f.pins) key += fmt::format("|{}:{}", p.file.ptr, to_string(p.holder));
  size_t hash = std::hash<std::string>{}(key);
  bool same = hash == last_busy_key_ && f.time_ns - last_busy_ns_ < 1'000'000'000;
  last_busy_key_ = hash;
  last_busy_ns_ = f.time_ns;
  return same;
}

void Sink::write(const Finding& f) {
  if (observer_) observer_(f);
  if (json()) {
    write_json(finding_to_json(f));
    return;
  }
  if (repeats_last_busy(f)) {
    write_text(busy_repeat_text(f));
    return;
  }
  write_text(finding_to_text(f));
}

void Sink::write_json(const nlohmann::json& j) {
  switch (format_) {
    case SinkFormat::Journal:
      journal_->send(journal_serialize(journal_fields(j)));
      return;
    case SinkFormat::JournalExport:
      out_->write(journal_export_entry(journal_fields(j), realtime_us()));
      break;
    case SinkFormat::Json:
    case SinkFormat::Text:
      out_->write(dump_json(j) + "\n");
      break;
  }
  out_->flush();
}

void Sink::write_text(const std::string& text) {
  out_->write(text);
  out_->flush();
}

}  // namespace fputrace
