// Live causes of a busy mount, on a fake procfs tree (so every source and the
// propagation rules are exercised without real processes or namespaces), and
// once on the real /proc with a tmpfs this test mounts.
#include "fputrace/holders.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "fputrace/diagnosis_out.hpp"

namespace fputrace {
namespace {

namespace fs = std::filesystem;

// A temporary directory under /tmp holding proc/ (the fake procfs), mnt/ (the
// mount point of the target) and other/ (a directory on no target).
class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fputrace-holders.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    top_ = tmpl;
    fs::permissions(top_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    proc_ = top_ + "/proc";
    mnt_ = top_ + "/mnt";
    for (auto d : {proc_ + "/self", mnt_ + "/dir", mnt_ + "/bin", top_ + "/other"}) fs::create_directories(d);
    write(mnt_ + "/f", "data");
    write(mnt_ + "/bin/dbd", "elf");
    write(mnt_ + "/lib.so", "so");
    write(top_ + "/other/g", "x");
    struct stat st {};
    ASSERT_EQ(::stat(mnt_.c_str(), &st), 0);
    target_ = MountTarget{MountRef{100, mnt_}, st.st_dev};
    opts_.proc_root = proc_;
    opts_.link_mnt_id = false;  // fake links resolve on the real filesystem: decide by st_dev + path
  }
  void TearDown() override { fs::remove_all(top_); }

  static void write(const std::string& path, const std::string& text) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
  }
  static void link(const std::string& target, const std::string& at) {
    fs::create_directories(fs::path(at).parent_path());
    fs::create_symlink(target, at);
  }
  std::string pid_dir(uint32_t pid) const { return proc_ + "/" + std::to_string(pid); }

  // A process with a comm and, optionally, nothing else yet.
  void process(uint32_t pid, const std::string& comm) {
    write(pid_dir(pid) + "/comm", comm + "\n");
    fs::create_directories(pid_dir(pid) + "/fd");
    fs::create_directories(pid_dir(pid) + "/fdinfo");
  }
  void fd(uint32_t pid, int n, const std::string& target, const std::string& fdinfo) {
    link(target, fmt::format("{}/fd/{}", pid_dir(pid), n));
    write(fmt::format("{}/fdinfo/{}", pid_dir(pid), n), fdinfo);
  }
  void mountinfo(const std::string& text, const std::string& whose = "self") {
    write(proc_ + "/" + whose + "/mountinfo", text);
  }
  // The target and its parent, both shared, as this namespace sees them.
  void our_mounts(const std::string& extra = "") {
    mountinfo(
        fmt::format("90 1 8:1 / / rw shared:1 - ext4 /dev/sda rw\n"
                    "100 90 {}:{} / {} rw shared:7 - tmpfs tmpfs rw\n{}",
                    major(target_.dev), minor(target_.dev), mnt_, extra));
  }
  std::string maps_dev() const { return fmt::format("{:02x}:{:02x}", major(target_.dev), minor(target_.dev)); }

  std::string top_, proc_, mnt_;
  MountTarget target_;
  ScanOptions opts_;
};

const LiveHolder* find(const std::vector<LiveHolder>& hs, HoldKind k, uint32_t tgid) {
  for (const auto& h : hs)
    if (h.source == k && h.tgid == tgid) return &h;
  return nullptr;
}

TEST_F(FakeProc, FdOnTheMountIsFoundByFdinfoMntId) {
  our_mounts();
  process(123, "dbd");
  fd(123, 5, mnt_ + "/f", "pos:\t0\nflags:\t02\nmnt_id:\t100\nino:\t77\n");
  // Same path, other mount id: a bind mount of the same filesystem; not ours.
  fd(123, 6, mnt_ + "/f", "pos:\t0\nflags:\t02\nmnt_id:\t55\nino:\t77\n");
  fd(123, 7, "socket:[4242]", "pos:\t0\nflags:\t02\nmnt_id:\t9\n");
  LiveCauses c = find_live_causes(target_, opts_);
  ASSERT_EQ(c.holders.size(), 1u);
  const LiveHolder& h = c.holders[0];
  EXPECT_EQ(h.source, HoldKind::Fd);
  EXPECT_EQ(h.tgid, 123u);
  EXPECT_EQ(h.comm, "dbd");
  EXPECT_EQ(h.fd, 5);
  EXPECT_EQ(h.ino, 77u);
  EXPECT_EQ(h.path, mnt_ + "/f");
  EXPECT_EQ(c.unreadable_pids, 0);
}

TEST_F(FakeProc, FdWithoutMntIdFallsBackToDeviceAndPath) {
  our_mounts();
  process(124, "old");
  fd(124, 3, mnt_ + "/f", "pos:\t0\nflags:\t02\n");
  fd(124, 4, top_ + "/other/g", "pos:\t0\nflags:\t02\n");  // same device, not under the mount point
  write(mnt_ + "2/g", "x");
  fd(124, 5, mnt_ + "2/g", "pos:\t0\nflags:\t02\n");  // a sibling sharing the prefix "mnt"
  LiveCauses c = find_live_causes(target_, opts_);
  ASSERT_EQ(c.holders.size(), 1u);
  EXPECT_EQ(c.holders[0].fd, 3);
  struct stat st {};
  ASSERT_EQ(::stat((mnt_ + "/f").c_str(), &st), 0);
  EXPECT_EQ(c.holders[0].ino, st.st_ino) << "no ino in fdinfo: taken from stat";
}

TEST_F(FakeProc, CwdRootAndExeLinks) {
  our_mounts();
  process(200, "shell");
  link(mnt_ + "/dir", pid_dir(200) + "/cwd");
  link(mnt_, pid_dir(200) + "/root");
  link(mnt_ + "/bin/dbd", pid_dir(200) + "/exe");
  process(201, "elsewhere");
  link(top_ + "/other", pid_dir(201) + "/cwd");
  link("/", pid_dir(201) + "/root");
  LiveCauses c = find_live_causes(target_, opts_);
  ASSERT_EQ(c.holders.size(), 3u);
  EXPECT_EQ(find(c.holders, HoldKind::Cwd, 200)->path, mnt_ + "/dir");
  EXPECT_EQ(find(c.holders, HoldKind::Root, 200)->path, mnt_);
  EXPECT_EQ(find(c.holders, HoldKind::Exe, 200)->path, mnt_ + "/bin/dbd");
  EXPECT_EQ(find(c.holders, HoldKind::Cwd, 201), nullptr);
}

TEST_F(FakeProc, LinksUseTheKernelMountIdWhenAvailable) {
  // The fake links resolve on the real filesystem holding the temp dir, so
  // the target takes that mount's real id.
  struct statx sx {};
  ASSERT_EQ(::statx(AT_FDCWD, mnt_.c_str(), 0, STATX_MNT_ID, &sx), 0);
  ASSERT_TRUE(sx.stx_mask & STATX_MNT_ID) << "this kernel does not report STATX_MNT_ID (needs 5.8+)";
  target_.mount.id = static_cast<int32_t>(sx.stx_mnt_id);
  our_mounts();
  process(210, "shell");
  link(mnt_ + "/dir", pid_dir(210) + "/cwd");
  link("/proc", pid_dir(210) + "/root");  // procfs: another mount
  opts_.link_mnt_id = true;
  LiveCauses c = find_live_causes(target_, opts_);
  ASSERT_EQ(c.holders.size(), 1u);
  EXPECT_EQ(c.holders[0].source, HoldKind::Cwd);
}

TEST_F(FakeProc, MappedFilesOnTheDeviceUnderTheMountPoint) {
  our_mounts();
  process(300, "app");
  write(pid_dir(300) + "/maps", fmt::format("55d0a000-55d0b000 r--p 00000000 {0} 4242   {1}/lib.so\n"
                                            "55d0b000-55d0c000 r-xp 00001000 {0} 4242   {1}/lib.so\n"
                                            "55d0c000-55d0d000 rw-p 00000000 00:00 0      [heap]\n"
                                            "55d0d000-55d0e000 r--p 00000000 {0} 99     {2}/other/g\n"
                                            "7ffd0000-7ffd1000 rw-p 00000000 00:00 0\n",
                                            maps_dev(), mnt_, top_));
  LiveCauses c = find_live_causes(target_, opts_);
  ASSERT_EQ(c.holders.size(), 1u) << "one file, mapped twice; the other mapping is off the mount";
  EXPECT_EQ(c.holders[0].source, HoldKind::Mmap);
  EXPECT_EQ(c.holders[0].ino, 4242u);
  EXPECT_EQ(c.holders[0].path, mnt_ + "/lib.so");
}

TEST_F(FakeProc, SkipsTheCallerAndVanishedProcessesSilently) {
  our_mounts();
  process(400, "fputrace");
  fd(400, 3, mnt_ + "/f", "mnt_id:\t100\n");
  fs::create_directories(pid_dir(401));  // exited: its fd directory is gone
  process(402, "zombie");
  link(mnt_ + "/gone", pid_dir(402) + "/cwd");  // dangling: cannot be stat'ed
  opts_.skip_tgid = 400;
  LiveCauses c = find_live_causes(target_, opts_);
  EXPECT_TRUE(c.holders.empty());
  EXPECT_EQ(c.unreadable_pids, 0);
  opts_.skip_tgid.reset();
  EXPECT_EQ(find_live_causes(target_, opts_).holders.size(), 1u);
}

// Needs root (ctest label "root", not "unit"): it scans as another user.
class RootFakeProc : public FakeProc {};

TEST_F(RootFakeProc, CountsProcessesItMayNotRead) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to scan as another user (drops to nobody in a child)";
  our_mounts();
  process(500, "secret");
  fd(500, 3, mnt_ + "/f", "mnt_id:\t100\n");
  fs::permissions(pid_dir(500) + "/fd", fs::perms::owner_all);  // root only
  process(501, "open");
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(100);
    ::_exit(find_live_causes(target_, opts_).unreadable_pids);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1) << "100: could not drop privileges";
}

TEST_F(FakeProc, FindsTheTopmostMountAtAPath) {
  our_mounts(fmt::format("120 100 0:77 / {} rw - tmpfs over rw\n", mnt_));  // stacked on the target
  auto t = find_mount_target(mnt_, proc_);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->mount.id, 120);
  EXPECT_EQ(t->dev, makedev(0, 77));
  EXPECT_FALSE(find_mount_target(top_ + "/other", proc_).has_value());
}

TEST_F(FakeProc, ChildMounts) {
  our_mounts(
      fmt::format("101 100 0:60 / {}/dir rw - tmpfs tmpfs rw\n"
                  "102 90 0:61 / {}/other rw - tmpfs tmpfs rw\n",
                  mnt_, top_));
  LiveCauses c = find_live_causes(target_, opts_);
  ASSERT_EQ(c.submounts.size(), 1u);
  EXPECT_EQ(c.submounts[0].id, 101);
  EXPECT_EQ(c.submounts[0].path, mnt_ + "/dir");
  EXPECT_EQ(verdict_for(c, 3), "child_mounts");
}

TEST_F(FakeProc, PropagationFindsBusyCopiesUnderTheParentsPeersAndSlaves) {
  our_mounts();
  const std::string rel = mnt_.substr(4);  // the path below /tmp
  // pid 600: a peer of the parent; the copy of the target there is held.
  mountinfo(fmt::format("300 299 8:1 / / rw shared:1 - ext4 /dev/sda rw\n"
                        "301 300 0:50 / {} rw shared:7 - tmpfs tmpfs rw\n"
                        "310 300 0:51 / /elsewhere rw shared:9 - tmpfs tmpfs rw\n",
                        mnt_),
            "600");
  // pid 610: a slave; its copy has a submount, so umount would leave it alone.
  mountinfo(fmt::format("400 399 8:1 / / rw master:1 - ext4 /dev/sda rw\n"
                        "401 400 0:50 / {0} rw master:7 - tmpfs tmpfs rw\n"
                        "402 401 0:70 / {0}/dir rw - tmpfs tmpfs rw\n",
                        mnt_),
            "610");
  // pid 620: a container whose root is /tmp of a peer: same dentry, other path.
  mountinfo(fmt::format("500 499 8:1 /tmp / rw shared:1 - ext4 /dev/sda rw\n"
                        "501 500 0:50 / {} rw shared:7 - tmpfs tmpfs rw\n",
                        rel),
            "620");
  process(700, "worker");
  fd(700, 3, "/var/x", "mnt_id:\t301\n");
  process(701, "other");
  fd(701, 3, "/var/y", "mnt_id:\t401\n");
  process(702, "ct");
  fd(702, 4, rel + "/f", "mnt_id:\t501\n");
  fd(702, 5, "/elsewhere/z", "mnt_id:\t310\n");

  LiveCauses c = find_live_causes(target_, opts_);
  EXPECT_TRUE(c.holders.empty());
  ASSERT_EQ(c.propagation.size(), 2u);
  EXPECT_EQ(c.propagation[0].copy.id, 301);
  EXPECT_EQ(c.propagation[0].peer_group, 1);
  EXPECT_EQ(c.propagation[0].ns_pid, 600u);
  ASSERT_EQ(c.propagation[0].holders.size(), 1u);
  EXPECT_EQ(c.propagation[0].holders[0].tgid, 700u);
  EXPECT_EQ(c.propagation[1].copy.id, 501);
  EXPECT_EQ(c.propagation[1].copy.path, rel);
  EXPECT_EQ(verdict_for(c, 1), "propagation");
}

TEST_F(FakeProc, NoPropagationWhenTheParentIsPrivate) {
  mountinfo(
      fmt::format("90 1 8:1 / / rw - ext4 /dev/sda rw\n"
                  "100 90 0:50 / {} rw - tmpfs tmpfs rw\n",
                  mnt_));
  mountinfo(fmt::format("300 299 8:1 / / rw - ext4 /dev/sda rw\n301 300 0:50 / {} rw - tmpfs tmpfs rw\n", mnt_), "600");
  process(700, "worker");
  fd(700, 3, "/var/x", "mnt_id:\t301\n");
  EXPECT_TRUE(find_live_causes(target_, opts_).propagation.empty());
}

// ---------------------------------------------------------------- verdicts

LiveHolder holder(HoldKind k = HoldKind::Fd) {
  return LiveHolder{k, 123, "dbd", "/mnt/x/f", 5, 77};
}

TEST(Verdict, PrecedenceMostCertainFirst) {
  LiveCauses c;
  EXPECT_EQ(verdict_for(c, 0), "unknown");
  EXPECT_EQ(verdict_for(c, 2), "deferred_release");
  c.propagation.push_back({MountRef{301, "/x"}, 1, 600, {holder()}});
  EXPECT_EQ(verdict_for(c, 2), "propagation");
  c.holders.push_back(holder());
  EXPECT_EQ(verdict_for(c, 2), "live_holder");
  c.submounts.push_back(MountRef{101, "/mnt/x/sub"});
  EXPECT_EQ(verdict_for(c, 2), "child_mounts");
}

TEST(LiveCausesJson, HoldersArePinShaped) {
  LiveCauses c;
  c.holders = {holder(), holder(HoldKind::Cwd)};
  c.submounts = {MountRef{101, "/mnt/x/sub"}};
  c.propagation.push_back({MountRef{301, "/x"}, 1, 600, {holder()}});
  auto j = live_causes_to_json(c);
  const auto& p = j["holders"][0];
  EXPECT_EQ(p["origin"], (nlohmann::json{{"tgid", 123},
                                         {"tid", 123},
                                         {"comm", "dbd"},
                                         {"cgroup", nullptr},
                                         {"mntns", nullptr},
                                         {"container", nullptr}}));
  EXPECT_EQ(p["source"], "fd");
  EXPECT_EQ(p["holder"], "process");
  EXPECT_EQ(p["file"], (nlohmann::json{{"ino", 77}, {"path", "/mnt/x/f"}}));
  EXPECT_EQ(p["confidence"], "observed");
  EXPECT_EQ(p["fd"], 5);
  EXPECT_FALSE(p["why"].get<std::string>().empty());
  EXPECT_EQ(j["holders"][1]["source"], "cwd");
  EXPECT_FALSE(j["holders"][1].contains("fd"));
  EXPECT_EQ(j["submounts"][0], (nlohmann::json{{"path", "/mnt/x/sub"}, {"id", 101}}));
  EXPECT_EQ(j["propagation"][0]["id"], 301);
  EXPECT_EQ(j["propagation"][0]["peer_group"], 1);
  EXPECT_EQ(j["propagation"][0]["holders"].size(), 1u);
  EXPECT_EQ(j["unreadable_pids"], 0);
}

TEST(References, ExplainedCountsEachReferenceOnce) {
  LiveCauses c;
  c.holders = {holder(), holder(HoldKind::Cwd), holder(HoldKind::Mmap)};  // the mapping is fd 5's file
  c.holders.push_back(LiveHolder{HoldKind::Mmap, 123, "dbd", "/mnt/x/lib.so", -1, 88});
  c.submounts = {MountRef{101, "/mnt/x/sub"}};
  EXPECT_EQ(references_explained(c, 2), 2 + 1 + 1 + 2);
}

TEST(References, UnknownWithoutAKernelCount) {
  auto j = references_json(3)["references"];
  EXPECT_EQ(j["explained"], 3);
  EXPECT_TRUE(j["unexplained"].is_null());
  EXPECT_NE(j["note"].get<std::string>().find("cannot be read"), std::string::npos);
  EXPECT_EQ(references_json(3, 7)["references"]["unexplained"], 2);  // 7 - 2 expected - 3
  EXPECT_EQ(references_json(6, 7)["references"]["unexplained"], 0);  // over-counted
}

TEST(DiagnosisText, LeadingCauseFirstWithWhatToDo) {
  LiveCauses c;
  c.holders = {holder()};
  c.submounts = {MountRef{101, "/mnt/x/sub"}};
  MountRef m{44, "/mnt/x"};
  std::string text = diagnosis_text(m, verdict_for(c, 1), c, {"/mnt/x/g ino 12 from db via io_uring"});
  EXPECT_EQ(text.find("Submounts:"), 0u) << text;
  EXPECT_NE(text.find("umount the submount /mnt/x/sub first"), std::string::npos) << text;
  EXPECT_NE(text.find("kill PID 123 (dbd) or close /mnt/x/f"), std::string::npos) << text;
  EXPECT_LT(text.find("Live holders:"), text.find("Deferred releases:")) << text;
  EXPECT_NE(text.find("finishes within a few ms"), std::string::npos) << text;

  std::string only_pins = diagnosis_text(m, "deferred_release", LiveCauses{}, {"pin line"});
  EXPECT_EQ(only_pins.find("Deferred releases:"), 0u) << only_pins;
  std::string nothing = diagnosis_text(m, "unknown", LiveCauses{}, {});
  EXPECT_EQ(nothing.find("Unknown:"), 0u) << nothing;
}

// ---------------------------------------------------------------- real /proc

// Mounts a tmpfs for the test's lifetime.
struct TmpfsMount {
  std::string path;
  bool mounted = false;
  int fd = -1;  // a file held open on it; closed before the umount, even when an assertion fails
  TmpfsMount() {
    char tmpl[] = "/tmp/fputrace-holders-mnt.XXXXXX";
    if (::mkdtemp(tmpl)) path = tmpl;
    mounted = !path.empty() && ::mount("tmpfs", path.c_str(), "tmpfs", 0, "size=1m") == 0;
  }
  ~TmpfsMount() {
    if (fd >= 0) ::close(fd);
    if (mounted) ::umount2(path.c_str(), 0);
    if (!path.empty()) ::rmdir(path.c_str());
  }
};

// Needs root (ctest label "root", not "unit"): it mounts a tmpfs.
TEST(RootRealProc, FindsThisProcessHoldingAFileOnATmpfs) {
  ASSERT_EQ(::geteuid(), 0u) << "this test mounts a tmpfs: run unit_tests as root";
  TmpfsMount m;
  ASSERT_TRUE(m.mounted) << "mount tmpfs on " << m.path << ": " << std::strerror(errno);
  const std::string file = m.path + "/held";
  m.fd = ::open(file.c_str(), O_CREAT | O_RDWR, 0600);
  ASSERT_GE(m.fd, 0);
  const int fd = m.fd;
  auto target = find_mount_target(m.path);
  ASSERT_TRUE(target.has_value());

  LiveCauses c = find_live_causes(*target);
  const LiveHolder* me = find(c.holders, HoldKind::Fd, static_cast<uint32_t>(::getpid()));
  ASSERT_NE(me, nullptr) << live_causes_to_json(c).dump();
  EXPECT_EQ(me->fd, fd);
  EXPECT_EQ(me->path, file);
  EXPECT_EQ(verdict_for(c, 0), "live_holder");
  EXPECT_EQ(::umount2(m.path.c_str(), 0), -1);
  EXPECT_EQ(errno, EBUSY);

  ScanOptions skip_me;
  skip_me.skip_tgid = static_cast<uint32_t>(::getpid());
  EXPECT_EQ(find(find_live_causes(*target, skip_me).holders, HoldKind::Fd, static_cast<uint32_t>(::getpid())), nullptr);
}

}  // namespace
}  // namespace fputrace
