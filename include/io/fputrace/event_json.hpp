// The raw event log: one JSON object per decoded event. Used by
// `record --format jsonl`, by `report`, and by the model's tests.
#pragma once

#include <functional>
#include <istream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <variant>
#include <vector>

#include "fputrace/capped_map.hpp"
#include "fputrace/event.hpp"
#include "fputrace/log_record.hpp"
#include "fputrace/model.hpp"
#include "fputrace/mounts.hpp"

namespace fputrace {

nlohmann::json event_to_json(const Event& e);

// Throws std::invalid_argument naming the missing or malformed field.
Event event_from_json(const nlohmann::json& j);

// The log interleaves events with the names of mounts, in the order the
// collector learned them (mount ids are reused once a mount is gone).

nlohmann::json mount_to_json(const MountInfo& m);

// One record of a log: a mount line or an event; throws std::invalid_argument.
LogRecord record_from_json(const nlohmann::json& j);

// Throws std::invalid_argument when JSON text nests deeper than max_depth:
// nlohmann recurses when it copies or prints a value, so a few hundred
// thousand nested arrays would overflow the stack. fputrace's own files nest
// less than ten levels deep. Runs before parsing, in one pass over the bytes.
constexpr size_t kMaxJsonDepth = 64;
void check_json_depth(std::string_view text, size_t max_depth = kMaxJsonDepth);

// Reads a JSON-lines event log; throws std::invalid_argument("line N: ...").
// String fields are decoded (unescape_bytes): names come back as raw bytes.
std::vector<LogRecord> read_event_log(std::istream& in);
// The same, one record at a time (constant memory).
void read_event_log(std::istream& in, const std::function<void(LogRecord&&)>& on_record);

// Names mounts through another MountNames and tells `record` about each new
// name, so a log carries the names it needs.
class RecordingMounts : public MountNames {
 public:
  RecordingMounts(MountNames& inner, std::function<void(const MountInfo&)> record)
      : inner_(inner), record_(std::move(record)) {}
  std::optional<MountInfo> by_id(int32_t id) override { return note(inner_.by_id(id)); }
  std::optional<MountInfo> by_path(const std::string& path) override { return note(inner_.by_path(path)); }
  void forget(int32_t id) override {
    inner_.forget(id);
    told_.erase(id);
  }

 private:
  std::optional<MountInfo> note(std::optional<MountInfo> m);
  MountNames& inner_;
  std::function<void(const MountInfo&)> record_;
  CappedMap<int32_t, std::string> told_{4096};  // a name evicted is only told again
};

}  // namespace fputrace
