// Journal entries from findings (render/journal_out) and the native-protocol
// transport (cli/journal), against a socket standing in for journald.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include "fputrace/escape.hpp"
#include "fputrace/journal.hpp"
#include "fputrace/journal_out.hpp"

namespace fputrace {
namespace {

std::map<std::string, std::string> as_map(const std::vector<JournalField>& fields) {
  std::map<std::string, std::string> m;
  for (const auto& f : fields) EXPECT_TRUE(m.emplace(f.name, f.value).second) << "field twice: " << f.name;
  return m;
}

nlohmann::json busy_json() {
  return {{"event", "umount_busy"},
          {"verdict", "deferred_release"},
          {"mount", {{"id", 42}, {"path", "/mnt/data"}}},
          {"pins", {{{"origin", {{"tgid", 1234}, {"comm", "db\xff"}}}}}},
          {"backend", "tracepoint"}};
}

TEST(Journal, AnEbusyGetsTheFieldsAFleetFiltersOn) {
  auto m = as_map(journal_fields(busy_json()));
  EXPECT_EQ(m["MESSAGE"], dump_json(busy_json()));
  EXPECT_EQ(m["PRIORITY"], "4");
  EXPECT_EQ(m["SYSLOG_IDENTIFIER"], "fputrace");
  EXPECT_EQ(m["FPUTRACE_EVENT"], "umount_busy");
  EXPECT_EQ(m["FPUTRACE_VERDICT"], "deferred_release");
  EXPECT_EQ(m["FPUTRACE_MOUNT"], "/mnt/data");
  EXPECT_EQ(m["FPUTRACE_MOUNT_ID"], "42");
  EXPECT_EQ(m["FPUTRACE_ORIGIN_PID"], "1234");
  EXPECT_EQ(m["FPUTRACE_ORIGIN_COMM"], printable("db\xff"));  // names are bytes: shown printable
  EXPECT_EQ(m["FPUTRACE_BACKEND"], "tracepoint");
}

TEST(Journal, ARoutineFindingIsInfoAndAbsentFieldsAreLeftOut) {
  nlohmann::json j{{"event", "pin_released"}, {"origin", {{"tgid", 7}, {"comm", "x"}}}};
  auto m = as_map(journal_fields(j));
  EXPECT_EQ(m["PRIORITY"], "6");
  EXPECT_EQ(m["FPUTRACE_ORIGIN_PID"], "7");
  EXPECT_EQ(m.count("FPUTRACE_VERDICT"), 0u);
  EXPECT_EQ(m.count("FPUTRACE_MOUNT"), 0u);
  EXPECT_EQ(as_map(journal_fields({{"event", "summary"}, {"ringbuf_drops", 3}}))["PRIORITY"], "4");
  EXPECT_EQ(as_map(journal_fields({{"event", "summary"}, {"ringbuf_drops", 0}}))["PRIORITY"], "6");
}

TEST(Journal, AValueWithANewlineIsFramedByItsLength) {
  std::string out = journal_serialize({{"A", "plain"}, {"B", "two\nlines"}});
  std::string expect = "A=plain\nB\n";
  expect += std::string("\x09\0\0\0\0\0\0\0", 8) + "two\nlines\n";
  EXPECT_EQ(out, expect);
}

TEST(Journal, AnExportEntryHasItsTimeAndEndsWithABlankLine) {
  std::string e = journal_export_entry({{"MESSAGE", "m"}}, 1700000000123456);
  EXPECT_EQ(e, "__REALTIME_TIMESTAMP=1700000000123456\nMESSAGE=m\n\n");
}

// A datagram socket standing in for journald.
class FakeJournald : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "fputrace-journal-" + std::to_string(::getpid());
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    ::setenv("FPUTRACE_JOURNAL_SOCKET", path_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("FPUTRACE_JOURNAL_SOCKET");
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  // The next entry: the datagram itself, or the memfd it carries.
  std::string receive() {
    std::string buf(1 << 16, '\0');
    char control[CMSG_SPACE(sizeof(int))] = {};
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) return "<nothing: " + std::string(std::strerror(errno)) + ">";
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS) return buf.substr(0, static_cast<size_t>(n));
    int mfd;
    std::memcpy(&mfd, CMSG_DATA(c), sizeof mfd);
    std::string content;
    char chunk[65536];
    ssize_t r;
    while ((r = ::pread(mfd, chunk, sizeof chunk, static_cast<off_t>(content.size()))) > 0)
      content.append(chunk, static_cast<size_t>(r));
    ::close(mfd);
    return content;
  }
  std::string path_;
  int fd_ = -1;
};

TEST_F(FakeJournald, AnEntryIsOneDatagram) {
  std::string error;
  auto journal = JournalSocket::open(error);
  ASSERT_TRUE(journal) << error;
  std::string entry = journal_serialize(journal_fields(busy_json()));
  ASSERT_TRUE(journal->send(entry)) << journal->error();
  EXPECT_EQ(receive(), entry);
}

TEST_F(FakeJournald, AnEntryTooBigForADatagramGoesAsAMemfd) {
  std::string error;
  auto journal = JournalSocket::open(error);
  ASSERT_TRUE(journal) << error;
  std::string entry = journal_serialize({{"MESSAGE", std::string(8 << 20, 'x')}});
  ASSERT_TRUE(journal->send(entry)) << journal->error();
  EXPECT_EQ(receive(), entry);
}

TEST(Journal, NoJournaldIsOneClearError) {
  ::setenv("FPUTRACE_JOURNAL_SOCKET", "/nonexistent/fputrace/journal.socket", 1);
  std::string error;
  EXPECT_FALSE(JournalSocket::open(error));
  ::unsetenv("FPUTRACE_JOURNAL_SOCKET");
  EXPECT_NE(error.find("--journal-export"), std::string::npos) << error;
}

}  // namespace
}  // namespace fputrace
