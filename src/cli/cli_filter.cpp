#include "fputrace/cli_filter.hpp"

#include <fmt/format.h>

#include <memory>

#include "fputrace/escape.hpp"

namespace fputrace {

Tracer::Callback naming_cgroups(Tracer::Callback cb) {
  auto paths = std::make_shared<CgroupPaths>(find_cgroup2_mount());
  return [paths, cb = std::move(cb)](const Event& raw) {
    // Records are few (only what a finding needs): a copy each is cheap.
    Event e = raw;
    paths->name(e);
    cb(e);
  };
}

TaskFilter resolve_filter(TaskFilter f) {
  if (!f.cgroup.empty()) f.cgroup = CgroupPaths(find_cgroup2_mount()).hierarchy_path(f.cgroup);
  return f;
}

namespace {

size_t holders_in(const Finding& f) {
  size_t n = f.pins.size();
  if (f.live) n += f.live->causes.holders.size();
  return n;
}

}  // namespace

void note_filter(nlohmann::json& j, const TaskFilter& filter) {
  if (!filter.active()) return;
  j["filter"] = filter.to_json();
  j["filter"]["matched"] = true;
}

bool print_unmatched(const std::string& event, const Finding& busy, const TaskFilter& filter, bool json) {
  if (filter.matches(busy)) return false;
  size_t others = holders_in(busy);
  if (json) {
    nlohmann::json j{{"event", event},
                     {"mount", {{"id", busy.mount.id}, {"path", busy.mount.path}}},
                     {"verdict", busy.verdict.empty() ? "unknown" : busy.verdict},
                     {"filter", filter.to_json()}};
    j["filter"]["matched"] = false;
    j["filter"]["left_out"] = others;
    fmt::print("{}\n", dump_json(std::move(j)));
    return true;
  }
  fmt::print("{} (mount {}): nothing in {} holds it{}\n", printable(busy.mount.path), busy.mount.id,
             printable(filter.describe()),
             others ? fmt::format("; {} other holder(s) do (run without the filter to see them)", others) : "");
  return true;
}

}  // namespace fputrace
