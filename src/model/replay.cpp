#include "fputrace/replay.hpp"

#include <variant>

namespace fputrace {

std::vector<Finding> Replay::add(const LogRecord& r) {
  if (const auto* m = std::get_if<MountInfo>(&r)) {
    mounts_.add(*m);
    return {};
  }
  return model_.apply(std::get<Event>(r));
}

void replay(const std::vector<LogRecord>& log, const std::function<void(const Finding&)>& on_finding) {
  Replay replay;
  for (const LogRecord& r : log)
    for (const Finding& f : replay.add(r)) on_finding(f);
  for (const Finding& f : replay.finish()) on_finding(f);
}

}  // namespace fputrace
