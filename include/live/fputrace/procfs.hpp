// Reading procfs the way the live scans need: a vanished process is normal,
// a denied one is counted, names are bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fputrace::procfs {

// How a procfs read went: vanished processes are normal, denials are counted.
enum class Access { Ok, Gone, Denied };

Access classify(int err);
Access read_link(const std::string& path, std::string& out);
std::optional<std::string> read_text(const std::string& path);
std::vector<std::string> list_dir(const std::string& path, Access& access);
std::optional<uint32_t> parse_pid(const std::string& name);
// True when path (as procfs prints it) lies on or below mount_point.
bool under(const std::string& path, const std::string& mount_point);

}  // namespace fputrace::procfs
