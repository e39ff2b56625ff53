// Sending entries to the systemd journal over its native protocol: one
// datagram per entry on /run/systemd/journal/socket; an entry too big for a
// datagram goes as a sealed memfd, as sd_journal_send does. No libsystemd.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace fputrace {

class JournalSocket {
 public:
  // The journal's socket, or $FPUTRACE_JOURNAL_SOCKET (tests). nullptr with a
  // reason when no journald listens there.
  static std::unique_ptr<JournalSocket> open(std::string& error);
  ~JournalSocket();
  // Sends one serialized entry (journal_serialize); false with errno-based
  // reason in error() from then on.
  bool send(std::string_view entry);
  bool ok() const { return err_ == 0; }
  std::string error() const;

 private:
  JournalSocket(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  bool send_as_memfd(std::string_view entry);
  int fd_;
  std::string path_;
  int err_ = 0;
};

}  // namespace fputrace
