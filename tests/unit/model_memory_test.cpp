// The model's memory (issue 9): state goes away with what it describes, the
// rest is capped, and what the caps force out is counted.
#include <gtest/gtest.h>

#include <fstream>

#include "fputrace/event_json.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/model.hpp"
#include "test_support.hpp"

namespace fputrace {
namespace {

using test::file;
using test::kworker;
using test::Seq;
using test::user;

constexpr uint64_t kSecond = 1'000'000'000;

class ModelMemory : public ::testing::Test {
 protected:
  void SetUp() override { mounts.add(MountInfo{44, 1, "/mnt/x", "tmpfs", "tmpfs"}); }
  std::vector<Finding> feed(Model& m, const Event& e) { return m.apply(e); }
  // Something later, for the model's clock to move on.
  Event later(uint64_t by) {
    seq.now += by;
    return seq.make(EventType::DelayedRun, kworker(5));
  }
  static uint64_t ptr(uint64_t i) { return 0xffff000000100000ULL + i * 0x100; }

  StaticMounts mounts;
  Seq seq;
};

// The load: processes whose io_uring reads complete, then exit. What
// they used is dropped once they are gone (after the grace time).
TEST_F(ModelMemory, FilesOfExitedProcessesAreDropped) {
  Model model(mounts);
  for (uint32_t p = 0; p < 4; ++p)
    for (uint64_t i = 0; i < 500; ++i) {
      uint64_t f = ptr(p * 1000 + i), req = 0x9000 + i;
      model.apply(seq.uring_req(user(100 + p), 0x7000 + p, req, file(f)));
      model.apply(seq.uring_done(user(100 + p), 0x7000 + p, req, f));
    }
  EXPECT_EQ(model.size().files, 2000u);
  for (uint32_t p = 0; p < 4; ++p) EXPECT_TRUE(model.apply(seq.exit(user(100 + p))).empty());
  EXPECT_EQ(model.size().files, 2000u);  // kept for the grace time
  model.apply(later(2 * kSecond));
  ModelSize left = model.size();
  EXPECT_EQ(left.files, 0u);
  EXPECT_EQ(left.rings, 0u);
  EXPECT_EQ(left.requests, 0u);
  EXPECT_EQ(model.evictions().retired, 2000u);
  EXPECT_EQ(model.evictions().state(), 0u);  // nothing had to be evicted
}

// A deferral shortly after the exit still finds who owned the file.
TEST_F(ModelMemory, DeferralWithinTheGraceTimeKeepsItsOrigin) {
  seq.backend = Backend::Fentry;
  Model model(mounts);
  model.apply(seq.uring_req(user(300), 0x7000, 0x1, file(ptr(1))));
  model.apply(seq.uring_done(user(300), 0x7000, 0x1, ptr(1)));
  model.apply(seq.exit(user(300)));
  auto d = model.apply(seq.deferred(kworker(), file(ptr(1)), DeferReason::KernelThread));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].pins[0].origin.tgid, 300u);
  EXPECT_EQ(d[0].pins[0].source, Source::IoUring);
  model.apply(later(5 * kSecond));
  EXPECT_EQ(model.pin_count(), 1u);  // a pin is never retired
  model.apply(seq.released(kworker(), file(ptr(1))));
  EXPECT_EQ(model.size().files, 0u);
  EXPECT_EQ(model.pin_count(), 0u);
}

TEST_F(ModelMemory, ReleasedFilesAndTornDownRingsAreDropped) {
  Model model(mounts);
  for (uint64_t i = 0; i < 100; ++i) model.apply(seq.ring_file(user(200), 0x7000, file(ptr(i))));
  model.apply(seq.uring_req(user(200), 0x7000, 0x55, file(ptr(500))));  // never completes
  EXPECT_EQ(model.apply(seq.exit(user(200))).size(), 101u);
  EXPECT_EQ(model.size().rings, 1u);
  EXPECT_EQ(model.size().requests, 1u);
  model.apply(seq.ring_exit(0x7000, false));
  model.apply(seq.ring_exit(0x7000, true));
  EXPECT_EQ(model.size().rings, 0u);  // freed with its exit work
  EXPECT_EQ(model.size().requests, 0u);
  model.apply(seq.delayed_run(false));
  EXPECT_EQ(model.apply(seq.delayed_run(true)).size(), 101u);
  ModelSize left = model.size();
  EXPECT_EQ(left.files, 0u);
  EXPECT_EQ(left.pins, 0u);
}

// Rounds of processes registering files, exiting, their rings torn down and
// the files released: the model ends each round empty.
TEST_F(ModelMemory, RoundsLeaveNothingBehind) {
  Model model(mounts);
  for (uint64_t round = 0; round < 4; ++round) {
    for (uint32_t p = 0; p < 4; ++p) {
      uint64_t ring = 0x7000 + p;
      for (uint64_t i = 0; i < 300; ++i) model.apply(seq.ring_file(user(1000 + p), ring, file(ptr(p * 1000 + i))));
      model.apply(seq.exit(user(1000 + p)));
    }
    EXPECT_EQ(model.apply(seq.umount(user(1), "/mnt/x", -EBUSY))[0].pins.size(), 1200u);
    for (uint32_t p = 0; p < 4; ++p) {
      model.apply(seq.ring_exit(0x7000 + p, false));
      model.apply(seq.ring_exit(0x7000 + p, true));
    }
    model.apply(seq.delayed_run(false));
    EXPECT_EQ(model.apply(seq.delayed_run(true)).size(), 1200u);
    ModelSize left = model.size();
    EXPECT_EQ(left.files + left.pins + left.rings + left.requests, 0u) << round;
  }
  EXPECT_EQ(model.evictions().state() + model.evictions().pins, 0u);
}

// Lost exits (a full ring buffer) must not grow the model forever: past the
// cap the oldest file states go, counted.
TEST_F(ModelMemory, FileStatesAreCappedOldestFirst) {
  ModelLimits limits;
  limits.files = 100;
  Model model(mounts, limits);
  for (uint64_t i = 0; i < 250; ++i) model.apply(seq.ring_file(user(static_cast<uint32_t>(500 + i)), 0x8000 + i,
                                                               file(ptr(i))));
  EXPECT_EQ(model.size().files, 100u);
  EXPECT_EQ(model.size().rings, 100u);  // a ring whose files are all gone goes too
  EXPECT_EQ(model.evictions().files, 150u);
  // The newest are kept: the last process's exit still pins its file.
  auto d = model.apply(seq.exit(user(500 + 249)));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].pins[0].file.ptr, ptr(249));
  EXPECT_TRUE(model.apply(seq.exit(user(500))).empty());  // evicted long ago
}

// Pins are evicted only past their own cap, oldest first, and counted apart.
TEST_F(ModelMemory, PinsOverTheirCapAreCountedApart) {
  ModelLimits limits;
  limits.pins = 5;
  Model model(mounts, limits);
  for (uint64_t i = 0; i < 8; ++i) model.apply(seq.ring_file(user(600), 0x7000, file(ptr(i))));
  EXPECT_EQ(model.apply(seq.exit(user(600))).size(), 8u);  // each was reported when it began
  EXPECT_EQ(model.pin_count(), 5u);
  ModelEvictions ev = model.evictions();
  EXPECT_EQ(ev.pins, 3u);
  EXPECT_EQ(ev.files, 0u);
  auto pins = model.pins_on(44);
  ASSERT_EQ(pins.size(), 5u);
  for (size_t i = 0; i < pins.size(); ++i) EXPECT_EQ(pins[i].file.ptr, ptr(3 + i));
}

TEST_F(ModelMemory, RequestsAndMountNamesAreCapped) {
  ModelLimits limits;
  limits.requests = 10;
  limits.mounts = 4;
  Model model(mounts, limits);
  for (uint64_t i = 0; i < 30; ++i) model.apply(seq.uring_req(user(700), 0x7000, 0x100 + i, file(ptr(i))));
  EXPECT_EQ(model.size().requests, 10u);
  EXPECT_EQ(model.evictions().requests, 20u);
  for (int32_t m = 0; m < 10; ++m) {
    FileRef f = file(ptr(100 + m), 1000 + m);
    f.mount_path = "/mnt/m" + std::to_string(m);
    model.apply(seq.ring_file(user(701), 0x7100, f));
  }
  EXPECT_LE(model.size().mounts, 4u);
  EXPECT_EQ(model.evictions().mounts, 6u);
}

// Dropping state never changes what is explained: every recorded log gives
// the same findings with and without retirement.
TEST_F(ModelMemory, RecordedLogsExplainTheSameWithoutRetirement) {
  for (const char* name : {"tracepoint-uring-registered.events.jsonl", "tracepoint-uring-pending.events.jsonl",
                           "tracepoint-uring-pending-thread.events.jsonl", "bookworm-fentry.aio-direct.events.jsonl",
                           "bookworm-kprobe.uring-pending.events.jsonl", "bullseye-fentry.uring-registered.events.jsonl",
                           "sid-fentry.aio-direct.events.jsonl", "trixie-fentry.uring-pending-thread.events.jsonl",
                           "sid-kprobe.plain-exit.events.jsonl", "tracepoint-plain-exit.events.jsonl"}) {
    std::ifstream in(std::string(FPUTRACE_TEST_DATA) + "/" + name);
    auto log = read_event_log(in);
    auto run = [&](ModelLimits limits) {
      StaticMounts names;
      Model model(names, limits);
      std::vector<std::string> out;
      for (const auto& r : log) {
        if (const auto* m = std::get_if<MountInfo>(&r)) {
          names.add(*m);
          continue;
        }
        for (const Finding& f : model.apply(std::get<Event>(r))) out.push_back(finding_to_json(f).dump());
      }
      return out;
    };
    ModelLimits keep_all;
    keep_all.retire_after_ns = 1'000'000 * kSecond;
    ModelLimits eager;
    eager.retire_after_ns = 0;
    auto expected = run(keep_all);
    EXPECT_EQ(run(ModelLimits{}), expected) << name;
    EXPECT_EQ(run(eager), expected) << name;
  }
}

}  // namespace
}  // namespace fputrace
