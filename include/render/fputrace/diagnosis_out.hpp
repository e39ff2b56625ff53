// Drawing an EBUSY's live diagnosis (model/live_causes.hpp): JSON in the shape
// of pins (docs/json-schema.md), and paragraphs of text that say what to do.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fputrace/live_causes.hpp"
#include "fputrace/model.hpp"

namespace fputrace {

// A live holder in the shape of a pin, holder "process".
nlohmann::json live_holder_to_json(const LiveHolder& h);
// {"holders":[pin-shaped...], "submounts":[{"path","id"}],
//  "propagation":[{"path","id","peer_group","ns_pid","holders":[...]}], "unreadable_pids":N}
nlohmann::json live_causes_to_json(const LiveCauses& causes);
// live_causes_to_json plus "references", "scanned" and "scan_after_ms".
nlohmann::json live_diagnosis_to_json(const LiveDiagnosis& d);

// {"references":{"explained":N,"unexplained":M|null,"note":"..."}}. Without
// the kernel's count (kernel_count) "unexplained" is null.
nlohmann::json references_json(int64_t explained, std::optional<int64_t> kernel_count = std::nullopt);

// One short paragraph per cause, the leading cause (verdict) first, naming
// processes and files and saying what to do. deferred_pin_lines: one line per
// pin (pin_lines).
std::string diagnosis_text(const MountRef& mount, std::string_view verdict, const LiveCauses& causes,
                           const std::vector<std::string>& deferred_pin_lines);
std::vector<std::string> pin_lines(const std::vector<Pin>& pins, uint64_t now_ns);
// "db (pid 7) has /mnt/x/f open as fd 3: kill PID 7 (db) or close /mnt/x/f."
std::string holder_line(const LiveHolder& h);

// An EBUSY finding's whole diagnosis: the paragraphs, what the kernel's count
// says, and when processes were looked at. "" when no diagnosis was made.
std::string busy_diagnosis_text(const Finding& busy);
// What `busy` and `umount` print for a busy mount: the diagnosis when one was
// made, else the finding's text.
std::string busy_report_text(const Finding& busy);

}  // namespace fputrace
