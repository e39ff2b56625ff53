// The collector's side of containers (containers.hpp): every record's tasks
// get their cgroup path before the model sees them, and --cgroup/--container
// select the findings that are printed.
#pragma once

#include <string>

#include "fputrace/containers.hpp"
#include "fputrace/loader.hpp"

namespace fputrace {

// Wraps a tracer callback: names the cgroups of the record's task and of the
// file's owner first (one cache for the whole run).
Tracer::Callback naming_cgroups(Tracer::Callback cb);

// The filter as given on the command line, with --cgroup made a hierarchy
// path (a directory under the cgroup2 mount is accepted too).
TaskFilter resolve_filter(TaskFilter f);

// busy, and umount when it times out: one answer about one mount. When the
// filter leaves it out, prints a short answer saying so (event: "busy" or
// "umount_timeout") and returns true; else adds the filter to j, if active.
bool print_unmatched(const std::string& event, const Finding& busy, const TaskFilter& filter, bool json);
void note_filter(nlohmann::json& j, const TaskFilter& filter);

}  // namespace fputrace
