#include "fputrace/command.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fputrace {

namespace {

[[noreturn]] void run_child(const std::vector<std::string>& argv, int go_fd, int err_fd) {
  char go = 0;
  if (::read(go_fd, &go, 1) != 1) ::_exit(127);  // the tracer went away
  ::close(go_fd);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  int err = errno;
  [[maybe_unused]] auto n = ::write(err_fd, &err, sizeof(err));
  ::_exit(127);
}

}  // namespace

std::optional<Command> Command::prepare(const std::vector<std::string>& argv, std::string& error) {
  int go[2], err[2];
  if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    error = fmt::format("cannot create pipes: {}", std::strerror(errno));
    return std::nullopt;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    error = fmt::format("cannot fork: {}", std::strerror(errno));
    return std::nullopt;
  }
  if (pid == 0) {
    ::close(go[1]);
    ::close(err[0]);
    run_child(argv, go[0], err[1]);
  }
  ::close(go[0]);
  ::close(err[1]);
  Command c;
  c.pid_ = pid;
  c.go_fd_ = go[1];
  c.err_fd_ = err[0];
  c.name_ = argv.at(0);
  return c;
}

bool Command::start(std::string& error) {
  char go = 1;
  bool sent = ::write(go_fd_, &go, 1) == 1;
  ::close(go_fd_);
  int child_errno = 0;
  ssize_t n = sent ? ::read(err_fd_, &child_errno, sizeof(child_errno)) : 0;
  ::close(err_fd_);
  if (!sent || n > 0) {
    error = fmt::format("cannot start '{}': {}", name_, sent ? std::strerror(child_errno) : "child vanished");
    int status;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    return false;
  }
  return true;
}

void Command::wait() {
  if (reaped_) return;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool Command::finished() {
  if (reaped_) return true;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    reaped_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return reaped_;
}

}  // namespace fputrace
