// File locks refused while a deferred release holds them (issue 14): the raw
// record decoded, the model's verdict, the JSON and text, the event log.
#include <gtest/gtest.h>

#include <cstring>

#include "fputrace/decode.hpp"
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

constexpr uint64_t kRing = 0xffff0000aaaa0000;
constexpr uint64_t kFile = 0xffff0000bbbb0000;
constexpr uint64_t kCallerFile = 0xffff0000cccc0000;

// The parent's refused flock(LOCK_EX) on the file the child's lock lives on.
Event refused(Seq& seq, uint64_t holder_file, uint32_t holder_pid, uint64_t holder_ino = 12) {
  Event e = seq.make(EventType::LockBusy, user(1, 0, "parent"));
  e.file = file(kCallerFile, 44, "/registered");
  e.file.mount_path = "/mnt/x";
  e.ret = -EAGAIN;
  LockInfo l;
  l.kind = LockKind::Flock;
  l.write = true;
  l.holders.push_back(LockHolder{holder_file, holder_ino, 44, holder_pid, LockKind::Flock, true, std::nullopt});
  l.nr_holders = 1;
  e.lock = l;
  return e;
}

class LockTest : public ::testing::Test {
 protected:
  void SetUp() override { mounts.add(MountInfo{44, 1, "/mnt/x", "tmpfs", "tmpfs"}); }
  std::vector<Finding> feed(const Event& e) { return model.apply(e); }

  StaticMounts mounts;
  Model model{mounts};
  Seq seq;
};

TEST_F(LockTest, ALockOnAPinnedFileIsTheDeferredRelease) {
  feed(seq.ring_file(user(100, 0, "child"), kRing, file(kFile, 44, "/registered")));
  feed(seq.exit(user(100, 0, "child")));
  auto out = feed(refused(seq, kFile, 100));
  ASSERT_EQ(out.size(), 1u);
  const Finding& f = out[0];
  EXPECT_EQ(f.kind, Finding::Kind::LockBusy);
  EXPECT_EQ(f.verdict, "deferred_release");
  ASSERT_EQ(f.pins.size(), 1u);
  EXPECT_EQ(f.pins[0].origin.tgid, 100u);
  EXPECT_EQ(f.pins[0].source, Source::IoUring);
  EXPECT_EQ(f.actor.tgid, 1u);
  EXPECT_EQ(f.mount.id, 44);

  nlohmann::json j = finding_to_json(f);
  EXPECT_EQ(j["event"], "lock_busy");
  EXPECT_EQ(j["lock"]["request"], "flock(LOCK_EX)");
  EXPECT_EQ(j["file"]["path"], "/mnt/x/registered");
  EXPECT_EQ(j["pins"][0]["origin"]["tgid"], 100);
  EXPECT_EQ(j["holders"][0]["pinned"], true);
  std::string text = finding_to_text(f);
  EXPECT_NE(text.find("LOCKED    flock(LOCK_EX) on /mnt/x/registered"), std::string::npos) << text;
  EXPECT_NE(text.find("from child (pid 100) via io_uring"), std::string::npos) << text;
}

TEST_F(LockTest, ALockOnAnUnpinnedFileIsAnotherHolder) {
  auto out = feed(refused(seq, kFile, 555));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].verdict, "other_holder");
  EXPECT_TRUE(out[0].pins.empty());
  std::string text = finding_to_text(out[0]);
  EXPECT_NE(text.find("taken by pid 555"), std::string::npos) << text;
}

TEST_F(LockTest, AReusedFileAddressIsNotThePin) {
  feed(seq.ring_file(user(100), kRing, file(kFile, 44, "/registered")));
  feed(seq.exit(user(100)));
  auto out = feed(refused(seq, kFile, 555, /*holder_ino=*/99));  // same address, another inode
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].verdict, "other_holder");
}

TEST_F(LockTest, ALockRefusedWhileThePinsFputRunsStillNamesIt) {
  seq.backend = Backend::Fentry;
  feed(seq.ring_file(user(100), kRing, file(kFile, 44, "/registered")));
  feed(seq.exit(user(100)));
  feed(seq.released(kworker(), file(kFile, 44, "/registered")));
  auto out = feed(refused(seq, kFile, 100));
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].pins.size(), 1u);
  EXPECT_EQ(out[0].pins[0].confidence, Confidence::Inferred);
  EXPECT_NE(out[0].pins[0].why.find("__fput"), std::string::npos) << out[0].pins[0].why;
  seq.now += 100'000'000;  // long after the release: not the pin any more
  EXPECT_EQ(feed(refused(seq, kFile, 100)).at(0).verdict, "other_holder");
}

TEST_F(LockTest, AHolderGoneBeforeTheListWasReadIsTheReleaseOfTheSameInode) {
  seq.backend = Backend::Kprobe;
  feed(seq.ring_file(user(100), kRing, file(kFile, 44, "/registered")));
  feed(seq.exit(user(100)));
  feed(seq.released(kworker(), file(kFile, 44, "/registered")));  // locks_remove_file ran meanwhile
  Event e = refused(seq, kFile, 100);
  e.lock->holders.clear();
  e.lock->nr_holders = 0;
  auto out = feed(e);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].verdict, "deferred_release");
  ASSERT_EQ(out[0].pins.size(), 1u);
  EXPECT_EQ(out[0].pins[0].origin.tgid, 100u);
  EXPECT_EQ(out[0].pins[0].confidence, Confidence::Inferred);
  EXPECT_NE(out[0].pins[0].why.find("gone when fputrace read the list"), std::string::npos);

  Event other = refused(seq, kFile, 100);
  other.lock->holders.clear();
  other.lock->nr_holders = 0;
  other.file.ino = 99;  // another inode: not that release
  EXPECT_EQ(feed(other).at(0).verdict, "unknown");
}

TEST_F(LockTest, NoHolderReadIsUnknownAndALossBeforeMakesItIncomplete) {
  feed(seq.loss(3));
  Event e = refused(seq, kFile, 1);
  e.lock->holders.clear();
  e.lock->nr_holders = 0;
  e.lock->layout_unknown = true;
  auto out = feed(e);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].verdict, "unknown");
  EXPECT_FALSE(out[0].complete) << "a lost record may have been the deferral";
  EXPECT_NE(finding_to_text(out[0]).find("lock layout is not known"), std::string::npos);
}

TEST(LockEvents, TheEventLogKeepsTheLock) {
  Seq seq;
  Event e = refused(seq, kFile, 100);
  e.lock->holders[0].owner = Seq::owner(user(100, 0, "child"), OwnerKind::UringRegistered, kRing);
  Event back = event_from_json(event_to_json(e));
  ASSERT_TRUE(back.lock);
  EXPECT_EQ(back.type, EventType::LockBusy);
  EXPECT_EQ(back.lock->kind, LockKind::Flock);
  EXPECT_TRUE(back.lock->write);
  ASSERT_EQ(back.lock->holders.size(), 1u);
  EXPECT_EQ(back.lock->holders[0].file, kFile);
  EXPECT_EQ(back.lock->holders[0].pid, 100u);
  ASSERT_TRUE(back.lock->holders[0].owner);
  EXPECT_EQ(back.lock->holders[0].owner->task.tgid, 100u);
  nlohmann::json bad = event_to_json(e);
  bad["lock"]["kind"] = "fcntl";
  EXPECT_THROW(event_from_json(bad), std::invalid_argument);
}

TEST(LockEvents, TheRawRecordDecodes) {
  ft_lock_event raw{};
  raw.type = FT_EV_LOCK_BUSY;
  raw.backend = FT_BACKEND_KPROBE;
  raw.time_ns = 5;
  raw.task.tgid = 1;
  raw.task.tid = 1;
  std::memcpy(raw.task.comm, "parent", 6);
  raw.file.ptr = kCallerFile;
  raw.file.ino = 12;
  raw.file.mnt_id = 44;
  raw.file.flags = FT_FILE_DESCRIBED;
  std::memcpy(raw.file.names[0], "registered", 10);
  std::memcpy(raw.file.mnt_names[0], "x", 1);
  std::memcpy(raw.file.mnt_names[1], "mnt", 3);
  raw.ret = -EAGAIN;
  raw.kind = FT_LOCK_OFD;
  raw.lock_type = 1;
  raw.nr_holders = 5;  // more than the record holds
  raw.info = FT_LOCK_HOLDERS_TRUNCATED;
  for (uint32_t i = 0; i < FT_LOCK_HOLDERS; ++i) {
    raw.holders[i].file = kFile + i;
    raw.holders[i].pid = 100 + i;
    raw.holders[i].kind = FT_LOCK_OFD;
  }
  raw.holders[0].has_origin = 1;
  raw.holders[0].origin.source = FT_SRC_URING_REG;
  raw.holders[0].origin.tgid = 100;
  auto e = decode(&raw, sizeof(raw));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, EventType::LockBusy);
  EXPECT_EQ(e->file.path, "/registered");
  EXPECT_EQ(e->file.mount_path, "/mnt/x");
  ASSERT_TRUE(e->lock);
  EXPECT_EQ(e->lock->kind, LockKind::Ofd);
  EXPECT_TRUE(e->lock->write);
  EXPECT_EQ(e->lock->nr_holders, 5u);
  ASSERT_EQ(e->lock->holders.size(), size_t{FT_LOCK_HOLDERS});
  EXPECT_EQ(e->lock->holders[3].pid, 103u);
  ASSERT_TRUE(e->lock->holders[0].owner);
  EXPECT_EQ(e->lock->holders[0].owner->kind, OwnerKind::UringRegistered);
  EXPECT_FALSE(e->lock->holders[1].owner);
  EXPECT_FALSE(decode(&raw, sizeof(raw) - 1)) << "a short record is refused";
}

}  // namespace
}  // namespace fputrace

namespace fputrace {
namespace {

using test::file;
using test::kworker;
using test::Seq;
using test::user;

// umount -l while a pin holds the mount (issue 14).
class DetachedTest : public ::testing::Test {
 protected:
  void SetUp() override { mounts.add(MountInfo{44, 1, "/mnt/x", "tmpfs", "tmpfs"}); }
  std::vector<Finding> feed(const Event& e) { return model.apply(e); }
  Event lazy_umount(int32_t mnt_id, const std::string& walked) {
    Event e = seq.umount(user(1), "", 0);
    UmountInfo u;
    u.mount_known = true;
    u.mnt_id = mnt_id;
    u.mount_path = walked;
    u.flags = 2;  // MNT_DETACH
    e.umount = u;
    return e;
  }

  StaticMounts mounts;
  Model model{mounts};
  Seq seq;
};

TEST_F(DetachedTest, ALazyUmountKeepsThePinsAndTheLastReleaseEndsIt) {
  seq.backend = Backend::Fentry;
  feed(seq.ring_file(user(100), kRing, file(kFile, 44, "/registered")));
  feed(seq.exit(user(100)));
  auto detached = feed(lazy_umount(44, "/"));  // walked at return: the mount's own root
  ASSERT_EQ(detached.size(), 1u);
  EXPECT_EQ(detached[0].kind, Finding::Kind::DetachedPinned);
  EXPECT_EQ(detached[0].mount.path, "/mnt/x") << "the name it had, not the detached root";
  EXPECT_TRUE(detached[0].mount.detached);
  ASSERT_EQ(detached[0].pins.size(), 1u);
  EXPECT_EQ(detached[0].pins[0].origin.tgid, 100u);
  EXPECT_EQ(model.pins_on(44).size(), 1u) << "the pin stays";

  auto released = feed(seq.released(kworker(), file(kFile, 44, "/registered")));
  ASSERT_EQ(released.size(), 2u);
  EXPECT_EQ(released[0].kind, Finding::Kind::PinReleased);
  EXPECT_EQ(released[1].kind, Finding::Kind::DetachedReleased);
  EXPECT_EQ(released[1].mount.path, "/mnt/x");
  EXPECT_GT(released[1].held_ns, 0u);
  nlohmann::json j = finding_to_json(released[1]);
  EXPECT_EQ(j["event"], "detached_released");
  EXPECT_EQ(j["since"], "umount");
  EXPECT_NE(finding_to_text(detached[0]).find("DETACHED  umount -l /mnt/x (mount 44, detached)"), std::string::npos)
      << finding_to_text(detached[0]);
}

TEST_F(DetachedTest, ADeferralOnADetachedMountIsNotTakenForAnInternalOne) {
  FileRef f = file(kFile, 57, "/data");
  f.mount_path = "/";  // the walk of a detached mount ends at itself
  f.mount_detached = true;
  Event e = seq.deferred_owned(kworker(), f, DeferReason::KernelThread, Seq::owner(user(100), OwnerKind::Aio, 0x5000));
  auto out = feed(e);
  ASSERT_EQ(out.size(), 1u) << "dropped as a kernel-internal mount";
  EXPECT_EQ(out[0].kind, Finding::Kind::Deferred);
  EXPECT_TRUE(out[0].mount.detached);
  auto gone = feed(seq.released(kworker(), f));
  ASSERT_EQ(gone.size(), 2u);
  EXPECT_EQ(gone[1].kind, Finding::Kind::DetachedReleased);
  EXPECT_EQ(finding_to_json(gone[1])["since"], "first_seen");

  FileRef internal = file(kFile + 1, 58, "/pipe");
  internal.mount_path = "/";  // not detached: an internal mount (old logs)
  EXPECT_TRUE(feed(seq.deferred(kworker(), internal, DeferReason::KernelThread)).empty());
}

// Seen in a sid guest: a loop of aio O_DIRECT attempts, each on a new ext4
// mount that reuses id 34. The umount -l of the first was recorded at its
// return, after its only deferral had gone; the second mount's deferral then
// got the first one's name.
TEST_F(DetachedTest, AUmountRecordAfterItsMountWentDoesNotNameTheNextMountWithItsId) {
  seq.backend = Backend::Fentry;
  auto detached_file = [](uint64_t ptr) {
    FileRef f = file(ptr, 34, "/repro.dat");
    f.mount_path = "/";
    f.mount_detached = true;
    return f;
  };
  Owner first = Seq::owner(user(244), OwnerKind::Aio, 0x5000);
  feed(seq.deferred_owned(kworker(), detached_file(kFile), DeferReason::KernelThread, first));
  auto gone = feed(seq.released(kworker(), detached_file(kFile)));
  ASSERT_EQ(gone.size(), 2u);
  ASSERT_EQ(gone[1].kind, Finding::Kind::DetachedReleased);
  Event late = lazy_umount(34, "/");
  late.path = "/tmp/first";
  late.umount->mnt_ns = 4026531840;  // read at entry, when it was still attached
  EXPECT_TRUE(feed(late).empty());

  Owner second = Seq::owner(user(248), OwnerKind::Aio, 0x5000);
  auto deferred = feed(seq.deferred_owned(kworker(), detached_file(kFile + 1), DeferReason::KernelThread, second));
  ASSERT_EQ(deferred.size(), 1u);
  EXPECT_EQ(deferred[0].mount.path, "") << "the gone mount's name was given to the next one with its id";
  Event own = lazy_umount(34, "/");
  own.path = "/tmp/second";
  own.umount->mnt_ns = 4026531840;
  auto pinned = feed(own);
  ASSERT_EQ(pinned.size(), 1u);
  EXPECT_EQ(pinned[0].kind, Finding::Kind::DetachedPinned);
  ASSERT_EQ(pinned[0].pins.size(), 1u);
  EXPECT_EQ(full_path(pinned[0].pins[0].mount, pinned[0].pins[0].file), "/tmp/second/repro.dat");

  // The same id's next umount -l with nothing held: a new mount, its name kept.
  feed(seq.released(kworker(), detached_file(kFile + 1)));
  Event third = lazy_umount(34, "/");
  third.path = "/tmp/third";
  third.umount->mnt_ns = 4026531840;
  EXPECT_TRUE(feed(third).empty());
  feed(seq.deferred_owned(kworker(), detached_file(kFile + 2), DeferReason::KernelThread,
                          Seq::owner(user(252), OwnerKind::Aio, 0x5000)));
  EXPECT_EQ(model.pins_on(34).at(0).mount.path, "/tmp/third");
}

TEST_F(DetachedTest, AnIdTheKernelNamesInANamespaceAgainIsANewMount) {
  seq.backend = Backend::Fentry;
  EXPECT_TRUE(feed(lazy_umount(44, "/mnt/x")).empty()) << "nothing held it";
  Event busy = seq.umount(user(1), "", -EBUSY);
  UmountInfo u;
  u.mount_known = true;
  u.mnt_id = 44;  // reused by a new mount
  u.mnt_ns = 4026531840;
  u.mount_path = "/mnt/y";
  busy.umount = u;
  auto out = feed(busy);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].mount.path, "/mnt/y");
  EXPECT_FALSE(out[0].mount.detached) << "the old detached mount's mark stayed on its id";
}

TEST_F(DetachedTest, APlainUmountStillForgetsTheMount) {
  feed(seq.ring_file(user(100), kRing, file(kFile, 44, "/registered")));
  feed(seq.exit(user(100)));
  Event e = lazy_umount(44, "/mnt/x");
  e.umount->flags = 0;
  auto out = feed(e);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Finding::Kind::PinReleased);
  EXPECT_TRUE(model.pins_on(44).empty());
}

}  // namespace
}  // namespace fputrace

namespace fputrace {
namespace {

using test::file;
using test::kworker;
using test::Seq;
using test::user;

constexpr uint32_t kLoop0 = (7u << 20) | 0;  // kernel dev_t of /dev/loop0

class BdevTest : public ::testing::Test {
 protected:
  void SetUp() override { mounts.add(MountInfo{44, 1, "/mnt/x", "ext4", "/dev/loop0"}); }
  std::vector<Finding> feed(const Event& e) { return model.apply(e); }
  FileRef on_loop(bool detached) {
    FileRef f = file(kFile, 44, "/fputrace-repro.dat");
    f.dev = kLoop0;
    f.mount_path = detached ? "/" : "/mnt/x";
    f.mount_detached = detached;
    return f;
  }
  Event exclusive_open() {
    Event e = seq.make(EventType::BdevBusy, user(1, 0, "mkfs"));
    e.file = file(0xffff0000dddd0000, 2, "/loop0");
    e.file.mount_path = "/dev";
    e.ret = -EBUSY;
    e.bdev = BlockDevInfo{kLoop0, 0200 /* O_EXCL */};
    return e;
  }
  Event aio_deferral(bool detached) {
    return seq.deferred_owned(kworker(), on_loop(detached), DeferReason::KernelThread,
                              Seq::owner(user(100, 0, "child"), OwnerKind::Aio, 0x5000));
  }

  StaticMounts mounts;
  Model model{mounts};
  Seq seq;
};

TEST_F(BdevTest, ADeferredReleaseOnADetachedMountHoldsTheDevice) {
  seq.backend = Backend::Fentry;
  feed(aio_deferral(true));
  auto out = feed(exclusive_open());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Finding::Kind::BdevBusy);
  EXPECT_EQ(out[0].verdict, "deferred_release");
  ASSERT_EQ(out[0].pins.size(), 1u);
  EXPECT_EQ(out[0].pins[0].origin.tgid, 100u);
  nlohmann::json j = finding_to_json(out[0]);
  EXPECT_EQ(j["event"], "bdev_busy");
  EXPECT_EQ(j["device"]["dev"], "7:0");
  EXPECT_EQ(j["device"]["exclusive"], true);
  EXPECT_NE(finding_to_text(out[0]).find("exclusive open of /dev/loop0 (block device 7:0) by mkfs"), std::string::npos)
      << finding_to_text(out[0]);
}

TEST_F(BdevTest, AfterTheLastPinTheTeardownStillHoldsItForAWhile) {
  seq.backend = Backend::Fentry;
  feed(aio_deferral(true));
  feed(seq.released(kworker(), on_loop(true)));
  auto soon = feed(exclusive_open());
  ASSERT_EQ(soon.size(), 1u);
  EXPECT_EQ(soon[0].verdict, "detached_teardown");
  ASSERT_EQ(soon[0].pins.size(), 1u);
  EXPECT_EQ(soon[0].pins[0].confidence, Confidence::Inferred);
  seq.now += 3'000'000'000;  // long after: something else
  EXPECT_EQ(feed(exclusive_open()).at(0).verdict, "unknown");
}

TEST_F(BdevTest, PinsOnAnAttachedMountMeanItIsMounted) {
  feed(aio_deferral(false));
  EXPECT_EQ(feed(exclusive_open()).at(0).verdict, "mounted");
}

TEST_F(BdevTest, AReusedMountIdIsNotDetachedAnyMore) {
  feed(aio_deferral(true));
  feed(seq.released(kworker(), on_loop(true)));
  FileRef again = on_loop(false);
  again.ptr = kFile + 8;
  auto out = feed(
      seq.deferred_owned(kworker(), again, DeferReason::KernelThread, Seq::owner(user(101), OwnerKind::Aio, 0x5000)));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].mount.detached);
  EXPECT_EQ(out[0].mount.path, "/mnt/x");
}

}  // namespace
}  // namespace fputrace
