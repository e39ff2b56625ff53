#include "fputrace/mounts.hpp"
#include "fputrace/proc_mounts.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace fputrace {
namespace {

TEST(Mountinfo, ParsesFieldsAndUnescapesPaths) {
  std::istringstream in(
      "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
      "garbage line\n"
      "44 22 0:39 / /tmp/x rw,relatime - tmpfs tmpfs rw,size=16384k\n");
  auto mounts = parse_mountinfo(in);
  ASSERT_EQ(mounts.size(), 2u);
  EXPECT_EQ(mounts[0].id, 36);
  EXPECT_EQ(mounts[0].parent_id, 35);
  EXPECT_EQ(mounts[0].path, "/mnt/with space");
  EXPECT_EQ(mounts[0].fstype, "ext3");
  EXPECT_EQ(mounts[0].source, "/dev/root");
  EXPECT_EQ(mounts[1].path, "/tmp/x");
  EXPECT_EQ(mounts[1].fstype, "tmpfs");
}

TEST(StaticMounts, PathLooksUpTheLatestMountThere) {
  StaticMounts m;
  m.add(MountInfo{10, 1, "/a", "tmpfs", ""});
  m.add(MountInfo{11, 1, "/a", "ext4", ""});
  EXPECT_EQ(m.by_path("/a")->id, 11);
  m.forget(11);
  EXPECT_FALSE(m.by_path("/a").has_value());
  EXPECT_EQ(m.by_id(10)->path, "/a");
}

TEST(ProcMounts, ReadsThisProcessTable) {
  ProcMounts m;
  auto root = m.mounted_at("/");
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(m.by_id(root->id)->path, "/");
  EXPECT_FALSE(m.mounted_at("/definitely/not/a/mount").has_value());
}

}  // namespace
}  // namespace fputrace
