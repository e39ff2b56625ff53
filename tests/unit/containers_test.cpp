// Containers: container ids from cgroup paths, the cgroup id -> path cache on
// a fake hierarchy (a temp directory: inode numbers stand in for cgroup ids),
// the task fields in every output, and the --cgroup/--container filters.
#include "fputrace/containers.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fputrace/diagnosis_out.hpp"

#include "fputrace/escape.hpp"
#include "fputrace/event_json.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/holders.hpp"
#include "test_support.hpp"

namespace fputrace {
namespace {

namespace fs = std::filesystem;

const std::string kId = "3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708";

Container parsed(std::string_view path) {
  auto c = container_of(path);
  return c ? *c : Container{"none", ""};
}

TEST(ContainerOf, EveryRuntime) {
  EXPECT_EQ(parsed("/system.slice/docker-" + kId + ".scope").runtime, "docker");
  EXPECT_EQ(parsed("/system.slice/docker-" + kId + ".scope").id, kId);
  EXPECT_EQ(parsed("/docker/" + kId).runtime, "docker");
  EXPECT_EQ(parsed("/docker/" + kId).id, kId);
  auto k8s =
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-" + kId + ".scope";
  EXPECT_EQ(parsed(k8s).runtime, "containerd");
  EXPECT_EQ(parsed(k8s).id, kId);
  EXPECT_EQ(parsed("/kubepods.slice/crio-" + kId + ".scope").runtime, "crio");
  EXPECT_EQ(parsed("/machine.slice/libpod-" + kId + ".scope").runtime, "podman");
  EXPECT_EQ(parsed("/libpod_parent/libpod-" + kId).runtime, "podman");
  EXPECT_EQ(parsed("/libpod_parent/libpod-" + kId).id, kId);
}

TEST(ContainerOf, InnermostContainerThenUnit) {
  // systemd inside a container: the container, not its init.scope.
  EXPECT_EQ(parsed("/system.slice/docker-" + kId + ".scope/init.scope").runtime, "docker");
  // cri-o's "container" sub-cgroup.
  EXPECT_EQ(parsed("/kubepods.slice/crio-" + kId + ".scope/container").runtime, "crio");
  // Nested: docker in a podman container names the inner one.
  auto nested = "/machine.slice/libpod-" + kId + ".scope/docker/aaaaaaaaaaaaaaaa";
  EXPECT_EQ(parsed(nested).runtime, "docker");
  EXPECT_EQ(parsed(nested).id, "aaaaaaaaaaaaaaaa");
  EXPECT_EQ(parsed("/system.slice/nginx.service").runtime, "systemd");
  EXPECT_EQ(parsed("/system.slice/nginx.service").id, "nginx.service");
  EXPECT_EQ(parsed("/user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope").id, "app-x.scope");
  EXPECT_EQ(parsed("/user.slice/user-1000.slice/user@1000.service/app.slice").id, "user@1000.service");
}

TEST(ContainerOf, OddPaths) {
  EXPECT_FALSE(container_of(""));
  EXPECT_FALSE(container_of("/"));
  EXPECT_FALSE(container_of("//"));
  EXPECT_FALSE(container_of("/user.slice"));
  EXPECT_FALSE(container_of("/.service"));  // no unit name
  EXPECT_EQ(parsed("//system.slice///docker-" + kId + ".scope/").id, kId);
  // Not container ids: the monitors, upper case, too short, not hex.
  EXPECT_EQ(parsed("/machine.slice/libpod-conmon-" + kId + ".scope").runtime, "systemd");
  EXPECT_EQ(parsed("/system.slice/crio-conmon-" + kId + ".scope").runtime, "systemd");
  EXPECT_EQ(parsed("/system.slice/docker-3F2A1B4C5D6E7F80.scope").runtime, "systemd");
  EXPECT_EQ(parsed("/system.slice/docker-3f2a1b.scope").runtime, "systemd");
  EXPECT_EQ(parsed("/system.slice/docker-compose.scope").runtime, "systemd");
  EXPECT_EQ(parsed("/system.slice/docker.service").id, "docker.service");
  EXPECT_FALSE(container_of("/docker"));
  EXPECT_FALSE(container_of("/docker/not-an-id"));
  EXPECT_FALSE(container_of("/docker-" + kId));  // no ".scope": only podman's cgroupfs form lacks it
}

TEST(ContainerOf, NamesAreBytes) {
  // A stray byte in an id is no id; a unit keeps its bytes, escaped when written.
  EXPECT_EQ(parsed("/system.slice/docker-" + kId.substr(0, 20) + "\xff.scope").runtime, "systemd");
  std::string unit = "caf\xc3\xa9-\xff\x1b[2J.service";
  auto c = container_of("/system.slice/" + unit);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, unit);
  Task t{7, 7, 0, "db"};
  t.cgroup_path = "/system.slice/" + unit;
  nlohmann::json j = nlohmann::json::object();
  put_task_place(j, t);
  std::string text = dump_json(j);
  EXPECT_NE(text.find("caf\xc3\xa9-\\\\xff"), std::string::npos) << text;
  EXPECT_TRUE(valid_utf8(text));
  EXPECT_EQ(printable(place_suffix(t)), ", unit caf\xc3\xa9-\\xff\\x1b[2J.service");
}

TEST(ContainerOf, Labels) {
  EXPECT_EQ(container_label(Container{"docker", kId}), "container docker:3f2a1b4c5d6e");
  EXPECT_EQ(container_label(Container{"systemd", "nginx.service"}), "unit nginx.service");
}

// A fake cgroup2 hierarchy: directories in a temp dir, ids = inode numbers.
class FakeCgroups : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fputrace-cgroups.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    top_ = tmpl;
    for (auto d : {"/system.slice/docker-a.scope", "/system.slice/b.service", "/user.slice/u/v/w"})
      fs::create_directories(top_ + d);
    std::ofstream(top_ + "/system.slice/cgroup.procs") << "1\n";  // files are no cgroups
  }
  void TearDown() override { fs::remove_all(top_); }
  uint64_t ino(const std::string& rel) const {
    struct stat st {};
    EXPECT_EQ(::stat((top_ + rel).c_str(), &st), 0) << rel;
    return st.st_ino;
  }
  std::string top_;
};

TEST_F(FakeCgroups, WalksOnAMissThenAnswersFromTheCache) {
  CgroupPaths paths(Cgroup2Mount{top_, "/"});
  EXPECT_EQ(paths.path_of(ino("/system.slice/docker-a.scope")), "/system.slice/docker-a.scope");
  EXPECT_EQ(paths.walks(), 1u);
  EXPECT_EQ(paths.path_of(ino("/user.slice/u/v/w")), "/user.slice/u/v/w");
  EXPECT_EQ(paths.path_of(ino("")), "/");
  EXPECT_EQ(paths.walks(), 1u);  // the first walk cached the whole tree
  EXPECT_EQ(paths.cached(), 8u);
  EXPECT_FALSE(paths.path_of(ino("/system.slice/cgroup.procs")));
  EXPECT_EQ(paths.walks(), 2u);
  EXPECT_FALSE(paths.path_of(ino("/system.slice/cgroup.procs")));
  EXPECT_EQ(paths.walks(), 2u);  // remembered as gone
  EXPECT_FALSE(paths.path_of(0));
}

TEST_F(FakeCgroups, NewCgroupsAreFoundByTheNextWalk) {
  CgroupPaths paths(Cgroup2Mount{top_, "/"});
  EXPECT_TRUE(paths.path_of(ino("/system.slice")));
  fs::create_directories(top_ + "/system.slice/docker-new.scope");
  EXPECT_EQ(paths.path_of(ino("/system.slice/docker-new.scope")), "/system.slice/docker-new.scope");
  EXPECT_EQ(paths.walks(), 2u);
}

TEST_F(FakeCgroups, TheCacheIsBounded) {
  CgroupPaths paths(Cgroup2Mount{top_, "/"}, 2);
  for (std::string rel : {"/user.slice/u/v/w", "/system.slice/b.service", "/user.slice", "/system.slice"}) {
    EXPECT_EQ(paths.path_of(ino(rel)), rel);
    EXPECT_LE(paths.cached(), 2u);
  }
}

TEST_F(FakeCgroups, AMountInsideACgroupNamespacePrefixesItsRoot) {
  CgroupPaths paths(Cgroup2Mount{top_, "/outer"});
  EXPECT_EQ(paths.path_of(ino("/user.slice/u")), "/outer/user.slice/u");
  EXPECT_EQ(paths.path_of(ino("")), "/outer");
  EXPECT_EQ(paths.id_of("/outer/user.slice/u"), ino("/user.slice/u"));
  EXPECT_FALSE(paths.id_of("/elsewhere/user.slice/u"));
}

TEST_F(FakeCgroups, FilterArgumentsBecomeHierarchyPaths) {
  CgroupPaths paths(Cgroup2Mount{top_, "/"});
  EXPECT_EQ(paths.hierarchy_path(top_ + "/system.slice/"), "/system.slice");
  EXPECT_EQ(paths.hierarchy_path(top_), "/");
  EXPECT_EQ(paths.hierarchy_path("/system.slice/x.scope//"), "/system.slice/x.scope");
  EXPECT_EQ(paths.hierarchy_path("system.slice"), "/system.slice");
  EXPECT_EQ(paths.hierarchy_path(top_ + "x/y"), "/" + top_.substr(1) + "x/y");  // a sibling, not under it
  EXPECT_EQ(paths.id_of("/system.slice/b.service"), ino("/system.slice/b.service"));
  EXPECT_FALSE(paths.id_of("/system.slice/cgroup.procs"));
}

TEST_F(FakeCgroups, NamesEventsTasksAndOwners) {
  CgroupPaths paths(Cgroup2Mount{top_, "/"});
  test::Seq seq;
  Task by = test::kworker();
  by.cgroup_id = ino("");
  Task owner = test::user(10);
  owner.cgroup_id = ino("/system.slice/docker-a.scope");
  Event e = seq.deferred_owned(by, test::file(1), DeferReason::KernelThread,
                               test::Seq::owner(owner, OwnerKind::UringRegistered));
  paths.name(e);
  EXPECT_EQ(e.task.cgroup_path, "/");
  EXPECT_EQ(e.owner->task.cgroup_path, "/system.slice/docker-a.scope");
  CgroupPaths none(std::nullopt);
  Event f = seq.exit(owner);
  none.name(f);
  EXPECT_EQ(f.task.cgroup_path, "");
}

TEST_F(FakeCgroups, FindsTheCgroup2MountAndReadsProcPlaces) {
  fs::create_directories(top_ + "/proc/self");
  fs::create_directories(top_ + "/proc/42/ns");
  std::ofstream(top_ + "/proc/self/mountinfo")
      << "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n"
         "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"
         "41 31 0:38 /inner /sys/fs/cgroup/uni\\040fied rw,relatime - cgroup2 cgroup2 rw\n";
  auto m = find_cgroup2_mount(top_ + "/proc");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/sys/fs/cgroup/uni fied");
  EXPECT_EQ(m->root, "/inner");
  std::ofstream(top_ + "/proc/self/mountinfo") << "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n";
  EXPECT_FALSE(find_cgroup2_mount(top_ + "/proc"));

  std::ofstream(top_ + "/proc/42/cgroup")
      << "9:name=systemd:/\n4:memory:/x\n0::/system.slice/docker-" << kId << ".scope\n";
  fs::create_directories(top_ + "/proc/42/ns/mnt");  // stands in for the nsfs inode
  ProcPlace p = read_proc_place(top_ + "/proc/42");
  EXPECT_EQ(p.cgroup_path, "/system.slice/docker-" + kId + ".scope");
  EXPECT_EQ(p.mntns, ino("/proc/42/ns/mnt"));
  ProcPlace gone = read_proc_place(top_ + "/proc/43");
  EXPECT_EQ(gone.cgroup_path, "");
  EXPECT_EQ(gone.mntns, 0u);
}

TEST(ContainersLive, TheRealHierarchyNamesOurOwnCgroup) {
  auto mount = find_cgroup2_mount();
  if (!mount) GTEST_SKIP() << "no cgroup2 mount here";
  ProcPlace self = read_proc_place("/proc/self");
  CgroupPaths paths(mount);
  auto id = paths.id_of(self.cgroup_path);
  ASSERT_TRUE(id) << self.cgroup_path;
  EXPECT_EQ(paths.path_of(*id), self.cgroup_path);
  struct stat st {};
  ASSERT_EQ(::stat("/proc/self/ns/mnt", &st), 0);
  EXPECT_EQ(self.mntns, st.st_ino);
}

// ---- outputs ----

Task in_docker(uint32_t pid) {
  Task t{pid, pid, FT_TASK_LEADER, "db"};
  t.cgroup_id = 4242;
  t.cgroup_path = "/system.slice/docker-" + kId + ".scope";
  t.mntns = 4026532100;
  return t;
}

Pin pin_from(const Task& origin) {
  Pin p;
  p.file = FileRef{0x1, 12, 39, 44, "/data", false};
  p.mount = MountRef{44, "/mnt/x", 4026531841};
  p.origin = origin;
  p.source = Source::IoUring;
  return p;
}

TEST(ContainerOutput, EveryTaskInJsonCarriesItsPlace) {
  Finding f;
  f.kind = Finding::Kind::UmountBusy;
  f.mount = MountRef{44, "/mnt/x", 4026531841};
  f.pins = {pin_from(in_docker(7))};
  f.actor = Task{1, 1, 0, "umount"};
  auto j = finding_to_json(f);
  const auto& o = j["pins"][0]["origin"];
  EXPECT_EQ(o["cgroup"]["id"], 4242);
  EXPECT_EQ(o["cgroup"]["path"], "/system.slice/docker-" + kId + ".scope");
  EXPECT_EQ(o["mntns"], 4026532100u);
  EXPECT_EQ(o["container"]["runtime"], "docker");
  EXPECT_EQ(o["container"]["id"], kId);
  EXPECT_EQ(j["mount"]["mntns"], 4026531841u);
  EXPECT_TRUE(j["caller"]["cgroup"].is_null());
  EXPECT_TRUE(j["caller"]["mntns"].is_null());
  EXPECT_TRUE(j["caller"]["container"].is_null());
  Task gone{1, 1, 0, "x"};
  gone.cgroup_id = 99;  // removed before it was named
  f.actor = gone;
  j = finding_to_json(f);
  EXPECT_EQ(j["caller"]["cgroup"]["id"], 99);
  EXPECT_TRUE(j["caller"]["cgroup"]["path"].is_null());
}

TEST(ContainerOutput, TextNamesTheContainerBriefly) {
  Finding f;
  f.kind = Finding::Kind::UmountBusy;
  f.mount = MountRef{44, "/mnt/x"};
  f.pins = {pin_from(in_docker(7))};
  f.actor = in_docker(8);
  std::string text = finding_to_text(f);
  EXPECT_NE(text.find("db (pid 7, container docker:3f2a1b4c5d6e)"), std::string::npos) << text;
  EXPECT_NE(text.find("by db (8, container docker:3f2a1b4c5d6e)"), std::string::npos) << text;
}

TEST(ContainerOutput, LiveHoldersCarryTheirPlace) {
  LiveHolder h{HoldKind::Fd, 9, "sleep", "/mnt/x/f", 3, 12};
  h.cgroup_path = "/system.slice/nginx.service";
  h.cgroup_id = 77;
  h.mntns = 5;
  auto j = live_holder_to_json(h);
  EXPECT_EQ(j["origin"]["cgroup"]["path"], "/system.slice/nginx.service");
  EXPECT_EQ(j["origin"]["container"]["runtime"], "systemd");
  EXPECT_EQ(j["origin"]["container"]["id"], "nginx.service");
  EXPECT_EQ(j["origin"]["mntns"], 5);
}

TEST(ContainerOutput, TheEventLogKeepsPlacesAndReadsOldLogs) {
  test::Seq seq;
  Event e = seq.deferred_owned(test::kworker(), test::file(1), DeferReason::KernelThread,
                               test::Seq::owner(in_docker(7), OwnerKind::UringRegistered));
  e.task.cgroup_id = 1;
  e.task.cgroup_path = "/";
  e.task.mntns = 4026531841;
  e.file.mount_path = "/mnt/x";
  e.file.mount_ns = 4026532100;
  Event back = event_from_json(event_to_json(e));
  EXPECT_EQ(back.task.cgroup_id, 1u);
  EXPECT_EQ(back.task.cgroup_path, "/");
  EXPECT_EQ(back.task.mntns, 4026531841u);
  EXPECT_EQ(back.owner->task.cgroup_id, 4242u);
  EXPECT_EQ(back.owner->task.cgroup_path, in_docker(7).cgroup_path);
  EXPECT_EQ(back.owner->task.mntns, 4026532100u);
  EXPECT_EQ(back.file.mount_ns, 4026532100u);
  // Before containers: no cgroup, no mntns.
  Event old = event_from_json(nlohmann::json::parse(
      R"({"type":"task_exit","backend":"fentry","time_ns":5,"task":{"tgid":3,"tid":3,"comm":"x"}})"));
  EXPECT_EQ(old.task.cgroup_id, 0u);
  EXPECT_EQ(old.task.cgroup_path, "");
  EXPECT_EQ(old.task.mntns, 0u);
  // Cgroup paths are bytes, like every name in the log.
  e.owner->task.cgroup_path = "/system.slice/\xff\\.service";
  std::string line = dump_json(event_to_json(e));
  EXPECT_TRUE(valid_utf8(line));
  EXPECT_EQ(event_from_json(nlohmann::json::parse(line)).owner->task.cgroup_path, "/system.slice/\xff\\.service");
  EXPECT_THROW(event_from_json(nlohmann::json::parse(
                   R"({"type":"task_exit","backend":"fentry","time_ns":5,"task":{"tgid":3,"tid":3,"cgroup":7}})")),
               std::invalid_argument);
}

TEST(ContainerModel, PinsNameTheNamespaceOfTheirMountPath) {
  StaticMounts mounts;
  Model model(mounts);
  test::Seq seq;
  FileRef f = test::file(0x10);
  f.mount_path = "/mnt/x";
  f.mount_ns = 4026532100;
  Task db = in_docker(7);
  model.apply(seq.ring_file(db, 0xa1, f));
  auto out = model.apply(seq.exit(db));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].mount.mntns, 4026532100u);
  EXPECT_EQ(out[0].pins[0].origin.cgroup_path, db.cgroup_path);
  auto busy = model.apply(seq.umount(in_docker(8), "/mnt/x", -EBUSY));
  ASSERT_EQ(busy.size(), 1u);
  EXPECT_EQ(busy[0].mount.mntns, 4026532100u);
  EXPECT_EQ(busy[0].actor.cgroup_path, db.cgroup_path);
}

// ---- filters ----

TEST(TaskFilter, CgroupsMatchThemselvesAndBelow) {
  TaskFilter f{"/system.slice", ""};
  EXPECT_TRUE(f.matches("/system.slice"));
  EXPECT_TRUE(f.matches("/system.slice/docker-" + kId + ".scope"));
  EXPECT_FALSE(f.matches("/system.slicer"));
  EXPECT_FALSE(f.matches("/user.slice"));
  EXPECT_FALSE(f.matches(""));  // unknown: no match
  EXPECT_TRUE((TaskFilter{"/", ""}).matches("/user.slice"));
  EXPECT_FALSE((TaskFilter{"/", ""}).matches(""));
  EXPECT_TRUE(TaskFilter{}.matches(""));  // no filter
}

TEST(TaskFilter, ContainersMatchByIdPrefix) {
  std::string path = "/system.slice/docker-" + kId + ".scope/init.scope";
  EXPECT_TRUE((TaskFilter{"", "3f2a"}).matches(path));
  EXPECT_TRUE((TaskFilter{"", kId}).matches(path));
  EXPECT_FALSE((TaskFilter{"", "3f2b"}).matches(path));
  EXPECT_TRUE((TaskFilter{"", "nginx"}).matches("/system.slice/nginx.service"));
  EXPECT_TRUE((TaskFilter{"/system.slice", "3f2a"}).matches(path));
  EXPECT_FALSE((TaskFilter{"/user.slice", "3f2a"}).matches(path));  // both must hold
  EXPECT_EQ((TaskFilter{"/a", "b"}).describe(), "cgroup /a and container b");
}

TEST(TaskFilter, FindingsAreKeptWhenAnyOfTheirTasksMatches) {
  TaskFilter f{"", "3f2a"};
  Task host{1, 1, 0, "umount"};
  host.cgroup_path = "/user.slice";
  Finding busy;
  busy.kind = Finding::Kind::UmountBusy;
  busy.actor = host;
  EXPECT_FALSE(f.matches(busy));
  busy.pins = {pin_from(in_docker(7))};
  EXPECT_TRUE(f.matches(busy));  // the pin's origin
  busy.pins[0].origin_known = false;
  EXPECT_FALSE(f.matches(busy));
  busy.actor = in_docker(8);
  EXPECT_TRUE(f.matches(busy));  // the caller
  busy.actor = host;
  LiveHolder h{HoldKind::Cwd, 9, "sh", "/mnt/x", -1, 2};
  h.cgroup_path = in_docker(9).cgroup_path;
  busy.live = LiveDiagnosis{};
  EXPECT_FALSE(f.matches(busy));  // a diagnosis with nobody in the container
  busy.live->causes.holders = {h};
  EXPECT_TRUE(f.matches(busy));  // a live holder
  busy.live->causes.holders.clear();
  busy.live->causes.propagation = {PropagationCause{MountRef{5, "/copy"}, 1, 0, {h}}};
  EXPECT_TRUE(f.matches(busy));  // a holder of a propagated copy
  Finding deferred;
  deferred.kind = Finding::Kind::Deferred;
  deferred.pins = {pin_from(host)};
  deferred.actor = in_docker(8);  // who fired the probe does not count
  EXPECT_FALSE(f.matches(deferred));
  Finding loss;
  loss.kind = Finding::Kind::Loss;
  EXPECT_TRUE(f.matches(loss));
}

TEST(TaskFilter, RecordsKeptAreThoseTheKeptFindingsNeed) {
  TaskFilter f{"/system.slice", ""};
  test::Seq seq;
  Task db = in_docker(7), other = test::user(20);
  other.cgroup_path = "/user.slice";
  EXPECT_TRUE(f.keeps(seq.ring_file(db, 1, test::file(1)), {}));
  EXPECT_FALSE(f.keeps(seq.ring_file(other, 1, test::file(2)), {}));
  Event deferred = seq.deferred_owned(test::kworker(), test::file(1), DeferReason::KernelThread,
                                      test::Seq::owner(db, OwnerKind::UringRegistered));
  EXPECT_TRUE(f.keeps(deferred, {}));
  deferred.owner->task = other;
  EXPECT_FALSE(f.keeps(deferred, {}));
  EXPECT_FALSE(f.keeps(seq.deferred(test::kworker(), test::file(3), DeferReason::KernelThread), {}));
  EXPECT_TRUE(f.keeps(seq.delayed_run(true), {}));
  EXPECT_TRUE(f.keeps(seq.ring_exit(1, false), {}));
  EXPECT_TRUE(f.keeps(seq.loss(3), {}));
  Event um = seq.umount(other, "/mnt/x", -EBUSY);
  EXPECT_FALSE(f.keeps(um, {}));
  Finding busy;
  busy.kind = Finding::Kind::UmountBusy;
  busy.actor = other;
  busy.pins = {pin_from(db)};
  EXPECT_TRUE(f.keeps(um, {busy}));  // its finding is kept
}

}  // namespace
}  // namespace fputrace
