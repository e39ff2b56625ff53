// Raw ring-buffer records (events.h) -> decoded events (event.hpp).
#pragma once

#include <cstddef>
#include <optional>

#include "fputrace/event.hpp"

struct ft_event;

namespace fputrace {

// nullopt for a record of the wrong size or an unknown type.
std::optional<Event> decode(const void* data, size_t size);

}  // namespace fputrace
