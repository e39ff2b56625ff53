#include <gtest/gtest.h>

#include "fputrace/findings_out.hpp"

namespace fputrace {
namespace {

Pin sample_pin() {
  Pin p;
  p.file = FileRef{0x1, 12, 39, 44, "/dir/data", false};
  p.mount = MountRef{44, "/mnt/x"};
  p.origin = Task{100, 101, 0, "db"};
  p.source = Source::IoUring;
  p.holder = Holder::DelayedFput;
  p.confidence = Confidence::Observed;
  p.since_ns = 5000;
  p.ring = 0xabc;
  p.why = "last fput on kernel thread";
  return p;
}

TEST(FindingJson, UmountBusyFollowsTheContract) {
  Finding f;
  f.kind = Finding::Kind::UmountBusy;
  f.time_ns = 9000;
  f.mount = MountRef{44, "/mnt/x"};
  f.pins = {sample_pin()};
  f.actor = Task{1, 1, 0, "umount"};
  auto j = finding_to_json(f);
  EXPECT_EQ(j["event"], "umount_busy");
  EXPECT_EQ(j["time_ns"], 9000);
  EXPECT_EQ(j["mount"]["path"], "/mnt/x");
  EXPECT_EQ(j["mount"]["id"], 44);
  ASSERT_EQ(j["pins"].size(), 1u);
  const auto& p = j["pins"][0];
  EXPECT_EQ(p["origin"]["tgid"], 100);
  EXPECT_EQ(p["origin"]["tid"], 101);
  EXPECT_EQ(p["origin"]["comm"], "db");
  EXPECT_EQ(p["source"], "io_uring");
  EXPECT_EQ(p["holder"], "delayed_fput");
  EXPECT_EQ(p["file"]["ino"], 12);
  EXPECT_EQ(p["file"]["path"], "/mnt/x/dir/data");
  EXPECT_EQ(p["since_ns"], 5000);
  EXPECT_EQ(p["confidence"], "observed");
}

TEST(FindingJson, PinReleasedSaysHowLongAfterTheBusy) {
  Finding f;
  f.kind = Finding::Kind::PinReleased;
  f.pins = {sample_pin()};
  f.held_ns = 300;
  f.after_busy_ns = 120;
  auto j = finding_to_json(f);
  EXPECT_EQ(j["event"], "pin_released");
  EXPECT_EQ(j["after_busy_ns"], 120);
  EXPECT_EQ(j["held_ns"], 300);
  f.after_busy_ns.reset();
  EXPECT_TRUE(finding_to_json(f)["after_busy_ns"].is_null());
}

TEST(FindingText, NamesTheOriginAndTheFile) {
  Finding f;
  f.kind = Finding::Kind::UmountBusy;
  f.mount = MountRef{44, "/mnt/x"};
  f.pins = {sample_pin()};
  f.actor = Task{1, 1, 0, "umount"};
  std::string text = finding_to_text(f);
  EXPECT_NE(text.find("/mnt/x/dir/data"), std::string::npos) << text;
  EXPECT_NE(text.find("pid 100"), std::string::npos) << text;
  EXPECT_NE(text.find("observed"), std::string::npos) << text;
}

TEST(FullPath, HandlesRootMountsTruncationAndUnknownNames) {
  FileRef f{0x1, 1, 1, 1, "/a", false};
  EXPECT_EQ(full_path(MountRef{1, "/"}, f), "/a");
  f.path_truncated = true;
  EXPECT_EQ(full_path(MountRef{1, "/m"}, f), "/m/.../a");
  f.path = "";
  f.path_truncated = false;
  EXPECT_EQ(full_path(MountRef{1, "/m"}, f), "/m/?");
}


TEST(FindingJson, LossAndIncompleteness) {
  Finding loss;
  loss.kind = Finding::Kind::Loss;
  loss.time_ns = 7;
  loss.lost_records = 3;
  loss.lost_items = 1;
  auto j = finding_to_json(loss);
  EXPECT_EQ(j["event"], "loss");
  EXPECT_EQ(j["records_dropped"], 3);
  EXPECT_EQ(j["items_untracked"], 1);
  EXPECT_FALSE(j.contains("complete"));
  EXPECT_NE(finding_to_text(loss).find("LOST"), std::string::npos);

  Finding f;
  f.kind = Finding::Kind::Deferred;
  f.pins = {sample_pin()};
  EXPECT_EQ(finding_to_json(f)["complete"], true);
  EXPECT_EQ(finding_to_text(f).find("incomplete"), std::string::npos);
  f.complete = false;
  EXPECT_EQ(finding_to_json(f)["complete"], false);
  EXPECT_NE(finding_to_text(f).find("incomplete"), std::string::npos);
}

}  // namespace
}  // namespace fputrace
