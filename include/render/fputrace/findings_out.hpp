// Rendering findings: JSON objects (the documented contract, docs/json-schema.md)
// and human-readable text.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "fputrace/model.hpp"

namespace fputrace {

nlohmann::json finding_to_json(const Finding& f);
// {"tgid","tid","comm"} and where it ran (cgroup, mntns, container): every
// task in every JSON output.
nlohmann::json task_to_json(const Task& t);
nlohmann::json pin_to_json(const Pin& p);

// One or more lines of text, ending with a newline.
std::string finding_to_text(const Finding& f);
// The finding without its "incomplete" note.
std::string finding_body_text(const Finding& f);

// One line for an EBUSY with the same cause as the one just before it.
std::string busy_repeat_text(const Finding& f);

}  // namespace fputrace
