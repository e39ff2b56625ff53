#include "fputrace/event_json.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "test_support.hpp"

namespace fputrace {
namespace {

TEST(EventJson, RoundTripsEveryField) {
  test::Seq seq;
  Event e = seq.uring_req(test::user(10, 11, "db"), 0xabc, 0xdef, test::file(0x1234, 44, "/a/b"));
  e.user_data = 99;
  e.ret = -5;
  e.detail = 3;
  e.file.path_truncated = true;
  Event back = event_from_json(event_to_json(e));
  EXPECT_EQ(back.type, e.type);
  EXPECT_EQ(back.backend, e.backend);
  EXPECT_EQ(back.time_ns, e.time_ns);
  EXPECT_EQ(back.task.tgid, 10u);
  EXPECT_EQ(back.task.tid, 11u);
  EXPECT_EQ(back.task.comm, "db");
  EXPECT_EQ(back.file.ptr, 0x1234u);
  EXPECT_EQ(back.file.path, "/a/b");
  EXPECT_TRUE(back.file.path_truncated);
  EXPECT_EQ(back.ring, 0xabcu);
  EXPECT_EQ(back.req, 0xdefu);
  EXPECT_EQ(back.user_data, 99u);
  EXPECT_EQ(back.ret, -5);
  EXPECT_EQ(back.detail, 3u);
}

TEST(EventJson, RoundTripsTheOwner) {
  test::Seq seq;
  Owner o = test::Seq::owner(test::user(20, 21, "helper"), OwnerKind::UringRegistered, 0xabc);
  o.since_ns = 77;
  o.found_at_exit = true;
  o.gone = true;
  o.no_completions = true;
  Event e = seq.deferred_owned(test::kworker(), test::file(0x1234), DeferReason::KernelThread, o);
  Event back = event_from_json(event_to_json(e));
  ASSERT_TRUE(back.owner.has_value());
  EXPECT_EQ(back.owner->kind, OwnerKind::UringRegistered);
  EXPECT_EQ(back.owner->task.tgid, 20u);
  EXPECT_EQ(back.owner->task.tid, 21u);
  EXPECT_EQ(back.owner->task.comm, "helper");
  EXPECT_EQ(back.owner->ring, 0xabcu);
  EXPECT_EQ(back.owner->since_ns, 77u);
  EXPECT_TRUE(back.owner->found_at_exit);
  EXPECT_TRUE(back.owner->gone);
  EXPECT_TRUE(back.owner->no_completions);
  EXPECT_FALSE(event_from_json(event_to_json(seq.exit(test::user(1)))).owner.has_value());
}

TEST(EventJson, RejectsUnknownTypeWithTheLineNumber) {
  std::istringstream in(
      "{\"type\":\"mount\",\"id\":4,\"path\":\"/x\"}\n"
      "{\"type\":\"bogus\",\"backend\":\"fentry\",\"time_ns\":1,\"task\":{\"tgid\":1,\"tid\":1}}\n");
  try {
    read_event_log(in);
    FAIL() << "accepted an unknown event type";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bogus"), std::string::npos) << e.what();
  }
}

TEST(EventJson, RejectsTruncatedJson) {
  std::istringstream in("{\"type\":\"umount\",\"backend\":\"fen");
  EXPECT_THROW(read_event_log(in), std::invalid_argument);
}

TEST(EventJson, RejectsMissingField) {
  std::istringstream in("{\"type\":\"umount\",\"backend\":\"fentry\",\"task\":{\"tgid\":1,\"tid\":1}}\n");
  EXPECT_THROW(read_event_log(in), std::invalid_argument);
}

TEST(EventJson, MountRecordsAreInterleaved) {
  std::istringstream in(
      "{\"type\":\"mount\",\"id\":4,\"path\":\"/x\"}\n"
      "{\"type\":\"umount\",\"backend\":\"fentry\",\"time_ns\":1,\"task\":{\"tgid\":1,\"tid\":1},\"path\":\"/"
      "x\",\"ret\":-16}\n");
  auto log = read_event_log(in);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(std::get<MountInfo>(log[0]).path, "/x");
  EXPECT_EQ(std::get<Event>(log[1]).ret, -16);
}

TEST(RecordingMounts, RecordsEachNameOnceAndAgainAfterForget) {
  StaticMounts inner;
  inner.add(MountInfo{4, 1, "/x", "tmpfs", "tmpfs"});
  std::vector<MountInfo> told;
  RecordingMounts rec(inner, [&](const MountInfo& m) { told.push_back(m); });
  rec.by_id(4);
  rec.by_path("/x");
  EXPECT_EQ(told.size(), 1u);
  rec.forget(4);
  inner.add(MountInfo{4, 1, "/y", "tmpfs", "tmpfs"});
  rec.by_id(4);
  ASSERT_EQ(told.size(), 2u);
  EXPECT_EQ(told[1].path, "/y");
}

// Found by fuzz_event_log (tests/fuzz/regressions/event_log): a number past
// 2^64 is parsed as a double, and was converted with undefined behaviour.
TEST(EventJson, IntegerFieldsMustBeIntegersInRange) {
  auto error = [](const std::string& time, const std::string& tgid) {
    std::istringstream in("{\"type\":\"umount\",\"backend\":\"fentry\",\"time_ns\":" + time +
                          ",\"task\":{\"tgid\":" + tgid + ",\"tid\":1}}\n");
    try {
      read_event_log(in);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(error("18446744073709551615", "4294967295"), "accepted");
  EXPECT_NE(error("18446744073709551616", "1").find("\"time_ns\" is not an integer in range"), std::string::npos);
  EXPECT_NE(error("1e300", "1").find("\"time_ns\""), std::string::npos);
  EXPECT_NE(error("1.5", "1").find("\"time_ns\""), std::string::npos);
  EXPECT_NE(error("-1", "1").find("\"time_ns\""), std::string::npos);
  EXPECT_NE(error("1", "4294967296").find("\"tgid\""), std::string::npos);
}

TEST(EventJson, RecordTypeThatIsNoStringIsRefused) {
  EXPECT_THROW(record_from_json(nlohmann::json::parse(R"({"type":1,"id":4,"path":"/x"})")), std::invalid_argument);
}

}  // namespace
}  // namespace fputrace
