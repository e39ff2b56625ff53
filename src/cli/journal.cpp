#include "fputrace/journal.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace fputrace {

namespace {

constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

sockaddr_un address_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  return a;
}

}  // namespace

std::unique_ptr<JournalSocket> JournalSocket::open(std::string& error) {
  const char* env = std::getenv("FPUTRACE_JOURNAL_SOCKET");
  std::string path = env && *env ? env : kJournalSocket;
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    error = fmt::format("journal socket path too long: {}", path);
    return nullptr;
  }
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = fmt::format("cannot create a socket for the journal: {}", std::strerror(errno));
    return nullptr;
  }
  // connect() tells at once whether journald listens, before any tracing.
  sockaddr_un a = address_of(path);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    error = fmt::format("--journal: no systemd journal at {} ({}); use --journal-export to write the entries to a file",
                        path, std::strerror(errno));
    ::close(fd);
    return nullptr;
  }
  return std::unique_ptr<JournalSocket>(new JournalSocket(fd, path));
}

JournalSocket::~JournalSocket() {
  ::close(fd_);
}

bool JournalSocket::send(std::string_view entry) {
  if (err_) return false;
  if (::send(fd_, entry.data(), entry.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(entry.size())) return true;
  // Bigger than a datagram may be: journald takes the entry from a memfd.
  if (errno == EMSGSIZE || errno == ENOBUFS) return send_as_memfd(entry);
  err_ = errno;
  return false;
}

bool JournalSocket::send_as_memfd(std::string_view entry) {
  int mfd = ::memfd_create("fputrace-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  bool ok = mfd >= 0 && ::write(mfd, entry.data(), entry.size()) == static_cast<ssize_t>(entry.size()) &&
            ::fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0;
  if (ok) {
    char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &mfd, sizeof(int));
    ok = ::sendmsg(fd_, &msg, MSG_NOSIGNAL) >= 0;
  }
  if (!ok) err_ = errno ? errno : EIO;
  if (mfd >= 0) ::close(mfd);
  return ok;
}

std::string JournalSocket::error() const {
  return fmt::format("cannot write to the journal ({}): {}", path_, std::strerror(err_));
}

}  // namespace fputrace
