// Driving the model from log records: what `report`, the tests and the
// benchmarks do with a recorded event log.
#pragma once

#include <functional>
#include <vector>

#include "fputrace/log_record.hpp"
#include "fputrace/model.hpp"
#include "fputrace/mounts.hpp"

namespace fputrace {

// Rebuilds the model from a log and hands every finding to on_finding.
void replay(const std::vector<LogRecord>& log, const std::function<void(const Finding&)>& on_finding);

// The same, one record at a time: `report` streams a trace through this, so
// it holds the model's (bounded) state, never the whole log.
class Replay {
 public:
  explicit Replay(ModelLimits limits = {}) : model_(mounts_, limits) {}
  Replay(const Replay&) = delete;
  Replay& operator=(const Replay&) = delete;
  // The findings this record adds (none for a mount record).
  std::vector<Finding> add(const LogRecord& r);
  // After the last record: what waited for a later one (Model::finish).
  std::vector<Finding> finish() { return model_.finish(); }
  const Model& model() const { return model_; }

 private:
  StaticMounts mounts_;
  Model model_;
};

}  // namespace fputrace
