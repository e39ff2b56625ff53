// fputrace busy on a block device or a file: /proc/locks parsing, the scans
// against a fake /proc and /sys, the verdicts, the model's pins by device or
// inode, and the outputs.
#include "fputrace/busy_targets.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fputrace/busy_targets_out.hpp"
#include "test_support.hpp"

namespace fputrace {
namespace {

namespace fs = std::filesystem;

TEST(ProcLocks, ParsesHoldersAndWaitersAndSkipsWhatItCannotRead) {
  int unparsed = 0;
  auto locks = parse_proc_locks(
      "1: FLOCK  ADVISORY  WRITE 1234 07:00:12 0 EOF\n"
      "1: -> FLOCK  ADVISORY  WRITE 99 07:00:12 0 EOF\n"
      "2: OFDLCK ADVISORY  READ  -1 fe:01:131073 0 99\n"
      "3: POSIX  ADVISORY  WRITE 5 <none>:0 0 EOF\n"
      "garbage\n",
      &unparsed);
  ASSERT_EQ(locks.size(), 3u);
  EXPECT_EQ(locks[0].lock_class, "FLOCK");
  EXPECT_EQ(locks[0].pid, 1234);
  EXPECT_EQ(locks[0].major, 7u);
  EXPECT_EQ(locks[0].ino, 12u);
  EXPECT_FALSE(locks[0].blocked);
  EXPECT_TRUE(locks[1].blocked);
  EXPECT_EQ(locks[2].pid, -1);
  EXPECT_EQ(locks[2].major, 0xfeu);
  EXPECT_EQ(locks[2].range, "0 99");
  EXPECT_EQ(unparsed, 2);
}

class FakeRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::temp_directory_path() / ("fputrace-busy-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "proc/self");
    write("proc/self/mountinfo", "");
  }
  void TearDown() override { fs::remove_all(root); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  }
  std::string proc() const { return (root / "proc").string(); }
  std::string sys() const { return (root / "sys").string(); }
  fs::path root;
};

TEST_F(FakeRoot, AFileLockedByAnExitedProcessWithNobodyHoldingItIsAnUnseenHolder) {
  write("proc/locks", "1: FLOCK  ADVISORY  WRITE 4242 07:00:12 0 EOF\n2: FLOCK  ADVISORY  WRITE 7 07:00:13 0 EOF\n");
  FileScan scan = scan_file(makedev(7, 0), 12, 0, proc());
  ASSERT_EQ(scan.locks.size(), 1u);  // the other inode's lock is not ours
  EXPECT_FALSE(scan.locks[0].pid_alive);
  EXPECT_EQ(file_verdict(scan, 0), "unseen_holder");
  EXPECT_EQ(file_verdict(scan, 1), "deferred_release");
  write("proc/4242/comm", "db\n");
  scan = scan_file(makedev(7, 0), 12, 0, proc());
  EXPECT_TRUE(scan.locks[0].pid_alive);
  EXPECT_EQ(scan.locks[0].comm, "db");
  EXPECT_EQ(file_verdict(FileScan{}, 0), "unlocked");
}

TEST_F(FakeRoot, ADeviceWithALiveSuperblockAndNoMountIsDetached) {
  fs::create_directories(root / "sys/devices/virtual/block/loop0");
  fs::create_directories(root / "sys/dev/block");
  fs::create_symlink("../../devices/virtual/block/loop0", root / "sys/dev/block/7:0");
  DeviceScan scan = scan_block_device(makedev(7, 0), 0, proc(), sys());
  EXPECT_EQ(scan.kernel_name, "loop0");
  EXPECT_EQ(scan.kernel_dev, (7u << 20));
  EXPECT_TRUE(scan.superblock_dirs.empty());
  EXPECT_EQ(device_verdict(scan, 0), "free");
  EXPECT_EQ(device_verdict(scan, 1), "detached");  // a pin of it, no mount: detached
  fs::create_directories(root / "sys/fs/ext4/loop0");
  scan = scan_block_device(makedev(7, 0), 0, proc(), sys());
  ASSERT_EQ(scan.superblock_dirs.size(), 1u);
  EXPECT_EQ(device_verdict(scan, 0), "detached");
  write("proc/self/mountinfo", "44 1 7:0 / /mnt/x rw - ext4 /dev/loop0 rw\n");
  scan = scan_block_device(makedev(7, 0), 0, proc(), sys());
  ASSERT_EQ(scan.mounts.size(), 1u);
  EXPECT_EQ(scan.mounts[0].mount.path, "/mnt/x");
  EXPECT_EQ(device_verdict(scan, 0), "mounted");
}

TEST_F(FakeRoot, ALiveProcessHoldingAFileOnTheDeviceIsFound) {
  // This process, through the fake /proc: a link to a real file of ours.
  fs::path f = root / "held";
  std::ofstream(f) << "x";
  struct stat st {};
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  fs::create_directories(root / "proc/77/fd");
  fs::create_symlink(f, root / "proc/77/fd/3");
  write("proc/77/comm", "holder\n");
  DeviceScan dscan = scan_block_device(st.st_dev, 0, proc(), sys());
  ASSERT_EQ(dscan.holders.size(), 1u);
  EXPECT_EQ(dscan.holders[0].tgid, 77u);
  EXPECT_EQ(dscan.holders[0].fd, 3);
  EXPECT_EQ(dscan.holders[0].comm, "holder");
  FileScan fscan = scan_file(st.st_dev, st.st_ino, 0, proc());
  ASSERT_EQ(fscan.holders.size(), 1u);
  EXPECT_TRUE(scan_file(st.st_dev, st.st_ino + 1, 0, proc()).holders.empty());
  EXPECT_TRUE(scan_file(st.st_dev, st.st_ino, 77, proc()).holders.empty());  // fputrace itself is skipped
}

using test::file;
using test::kworker;
using test::Seq;
using test::user;

TEST(BusyPins, PinsByDeviceAndInodeIncludeDetachedMounts) {
  StaticMounts mounts;
  mounts.add(MountInfo{44, 1, "/mnt/x", "ext4", "/dev/loop0"});
  Model model(mounts);
  Seq seq;
  FileRef f = file(0xffff000011110000, 44, "/held");
  f.dev = 7u << 20;
  f.ino = 12;
  f.mount_path = "/";
  f.mount_detached = true;
  model.apply(seq.deferred_owned(kworker(), f, DeferReason::KernelThread,
                                 Seq::owner(user(100, 0, "db"), OwnerKind::UringRegistered, 0x5000)));
  ASSERT_EQ(model.pins_on_device(7u << 20).size(), 1u);
  EXPECT_EQ(model.pins_on_device(7u << 20, 12).size(), 1u);
  EXPECT_TRUE(model.pins_on_device(7u << 20, 13).empty());
  EXPECT_TRUE(model.pins_on_device(8u << 20).empty());

  DeviceScan scan;
  scan.kernel_dev = 7u << 20;
  scan.kernel_name = "loop0";
  BusyWatch w;
  w.pins = model.pins_on_device(7u << 20);
  w.watched_ms = 300;
  const std::string verdict = device_verdict(scan, w.pins.size());
  EXPECT_EQ(verdict, "detached");
  nlohmann::json j = device_busy_json("/dev/loop0", scan, w, verdict);
  EXPECT_EQ(j["target"]["kind"], "block_device");
  EXPECT_EQ(j["target"]["device"], "7:0");
  EXPECT_EQ(j["pins"].at(0)["origin"]["tgid"], 100);
  std::string text = device_busy_text("/dev/loop0", scan, w, verdict);
  EXPECT_NE(text.find("no mount in any namespace (umount -l): held by deferred releases"), std::string::npos) << text;
  EXPECT_NE(text.find("from db (pid 100)"), std::string::npos) << text;
}

}  // namespace
}  // namespace fputrace
