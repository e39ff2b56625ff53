// Running the traced COMMAND: started held back until the probes are
// attached, so nothing it does is missed.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace fputrace {

class Command {
 public:
  // Forks the child, which waits; nullopt with a reason if fork fails.
  static std::optional<Command> prepare(const std::vector<std::string>& argv, std::string& error);
  // Lets the child exec; false with a reason if the exec failed.
  bool start(std::string& error);
  // True once the child has exited (reaps it without blocking).
  bool finished();
  // Blocks until the child has exited and is reaped.
  void wait();
  int exit_status() const { return status_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int go_fd_ = -1;   // parent writes one byte: exec now
  int err_fd_ = -1;  // child writes errno if exec fails (CLOEXEC: EOF on success)
  int status_ = 0;
  bool reaped_ = false;
  std::string name_;
};

}  // namespace fputrace
