// One record of an event log: a mount's name, or an event.
#pragma once

#include <variant>

#include "fputrace/event.hpp"
#include "fputrace/mounts.hpp"

namespace fputrace {

using LogRecord = std::variant<Event, MountInfo>;

}  // namespace fputrace
