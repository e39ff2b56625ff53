// Subcommands. Each returns the process exit status.
#pragma once

#include <string>
#include <vector>

namespace fputrace {

struct WatchOptions {
  bool json = false;
  std::string output;               // "" = stdout
  std::vector<std::string> mounts;  // --mount PATH...
  std::string backend = "auto";
  std::vector<std::string> command; // after --
  std::string events_path;          // also write the raw event log here
};
int run_watch(const WatchOptions& o);

struct DoctorOptions {
  bool json = false;
};
int run_doctor(const DoctorOptions& o);

// One line on stderr: "fputrace: <msg>".
void complain(const std::string& msg);

}  // namespace fputrace
