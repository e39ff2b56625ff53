// `fputrace busy` on a block device or a file: the procfs/sysfs scan
// (live/busy_targets.hpp) and the deferred releases the model holds, as JSON
// (docs/json-schema.md, "busy on a device or a file") and as text.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fputrace/busy_targets.hpp"
#include "fputrace/model.hpp"

namespace fputrace {

// What tracing for the watch showed about the target.
struct BusyWatch {
  std::vector<Pin> pins;          // deferred releases on it still in flight at the end
  std::vector<Finding> released;  // PinReleased findings on it during the watch
  size_t deferred_seen = 0;       // deferrals seen anywhere during the watch
  int watched_ms = 0;
  bool complete = true;  // false: records were lost during the watch
  uint64_t now_ns = 0;   // when the watch ended (pins' hold times)
};

nlohmann::json device_busy_json(const std::string& path, const DeviceScan& scan, const BusyWatch& w,
                                const std::string& verdict);
std::string device_busy_text(const std::string& path, const DeviceScan& scan, const BusyWatch& w,
                             const std::string& verdict);
nlohmann::json file_busy_json(const std::string& path, const FileScan& scan, const BusyWatch& w,
                              const std::string& verdict);
std::string file_busy_text(const std::string& path, const FileScan& scan, const BusyWatch& w,
                           const std::string& verdict);

}  // namespace fputrace
