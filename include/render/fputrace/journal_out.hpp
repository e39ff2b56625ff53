// Findings as systemd journal entries: the JSON object as MESSAGE, plus fields
// a fleet can filter on (journalctl FPUTRACE_EVENT=umount_busy). The journal's
// native protocol (a datagram per entry) and its export format (entries
// separated by a blank line, for systemd-journal-remote) lay fields out alike.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fputrace {

struct JournalField {
  std::string name;  // upper case, digits and '_', as the journal requires
  std::string value;
};

// MESSAGE (the JSON line), PRIORITY (4 for an EBUSY, a loss or a summary that
// reports lost data; 6 otherwise), SYSLOG_IDENTIFIER=fputrace, and from the
// object: FPUTRACE_EVENT, FPUTRACE_VERDICT, FPUTRACE_MOUNT, FPUTRACE_MOUNT_ID,
// FPUTRACE_ORIGIN_PID, FPUTRACE_ORIGIN_COMM, FPUTRACE_BACKEND (each when present).
std::vector<JournalField> journal_fields(const nlohmann::json& j);

// The fields in the journal's layout: NAME=value\n, or, for a value holding a
// newline, NAME\n, its length as 64-bit little endian, the value, \n. A
// datagram of the native protocol as is; an export-format entry once a blank
// line follows.
std::string journal_serialize(const std::vector<JournalField>& fields);

// One export-format entry: the fields, __REALTIME_TIMESTAMP (microseconds
// since the epoch), then the blank line that ends it.
std::string journal_export_entry(std::vector<JournalField> fields, uint64_t realtime_us);

}  // namespace fputrace
