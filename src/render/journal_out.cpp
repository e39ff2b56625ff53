#include "fputrace/journal_out.hpp"

#include <fmt/format.h>

#include "fputrace/escape.hpp"

namespace fputrace {

namespace {

int priority_of(const nlohmann::json& j) {
  constexpr int kWarning = 4, kInfo = 6;
  const std::string event = j.value("event", "");
  if (event == "umount_busy" || event == "lock_busy" || event == "bdev_busy" || event == "detached_pinned" || event == "loss" || event == "umount_timeout") return kWarning;
  if (event == "summary" && (j.value("ringbuf_drops", 0) || j.value("map_full", 0) || j.value("owner_evictions", 0)))
    return kWarning;
  return kInfo;
}

// A string or a number of the object, as journal text; "" when absent.
std::string text_of(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  return "";
}

// The task a finding is about: the pin's origin, else an EBUSY's first pin.
const nlohmann::json* origin_of(const nlohmann::json& j) {
  if (j.contains("origin") && j["origin"].is_object()) return &j["origin"];
  if (j.contains("pins") && j["pins"].is_array() && !j["pins"].empty() && j["pins"][0].contains("origin"))
    return &j["pins"][0]["origin"];
  return nullptr;
}

void add(std::vector<JournalField>& fields, const char* name, const std::string& value) {
  if (!value.empty()) fields.push_back({name, value});
}

void put_le64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

}  // namespace

std::vector<JournalField> journal_fields(const nlohmann::json& j) {
  std::vector<JournalField> fields{{"MESSAGE", dump_json(j)},
                                   {"PRIORITY", std::to_string(priority_of(j))},
                                   {"SYSLOG_IDENTIFIER", "fputrace"}};
  add(fields, "FPUTRACE_EVENT", text_of(j.value("event", nlohmann::json())));
  add(fields, "FPUTRACE_VERDICT", text_of(j.value("verdict", nlohmann::json())));
  if (j.contains("mount") && j["mount"].is_object()) {
    // Names are bytes: printable() keeps the fields text a terminal can show.
    add(fields, "FPUTRACE_MOUNT", printable(text_of(j["mount"].value("path", nlohmann::json()))));
    add(fields, "FPUTRACE_MOUNT_ID", text_of(j["mount"].value("id", nlohmann::json())));
  }
  if (const nlohmann::json* o = origin_of(j)) {
    add(fields, "FPUTRACE_ORIGIN_PID", text_of(o->value("tgid", nlohmann::json())));
    add(fields, "FPUTRACE_ORIGIN_COMM", printable(text_of(o->value("comm", nlohmann::json()))));
  }
  add(fields, "FPUTRACE_BACKEND", text_of(j.value("backend", nlohmann::json())));
  return fields;
}

std::string journal_serialize(const std::vector<JournalField>& fields) {
  std::string out;
  for (const JournalField& f : fields) {
    if (f.value.find('\n') == std::string::npos) {
      out += f.name + "=" + f.value + "\n";
      continue;
    }
    out += f.name + "\n";
    put_le64(out, f.value.size());
    out += f.value + "\n";
  }
  return out;
}

std::string journal_export_entry(std::vector<JournalField> fields, uint64_t realtime_us) {
  fields.insert(fields.begin(), {"__REALTIME_TIMESTAMP", std::to_string(realtime_us)});
  return journal_serialize(fields) + "\n";
}

}  // namespace fputrace
