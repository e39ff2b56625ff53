// fputrace-check: judges one traced reproducer run.
//
//   fputrace-check EXPECT REPRO.jsonl WATCH.jsonl
//
// REPRO.jsonl is what fputrace-repro printed (one line per attempt), WATCH.jsonl
// what `fputrace watch --json` wrote. EXPECT is one of
//   uring  every attempt whose umount failed with EBUSY has an umount_busy for
//          its mount with a pin whose origin.tgid is that attempt's origin (the
//          reproducer's origin_tgid: the exiting child, or for uring-pending
//          the child's helper process that submitted the request) and
//          whose source is io_uring; at least one attempt got EBUSY. With
//          --hostile-names (the attempt has "comm" and "file"), that pin's
//          origin.comm is the child's comm and its file.path the start of the
//          file's path, cut by BPF inside the name's last character.
// Names are compared as bytes: both sides are decoded (docs/json-schema.md).
//   lock   (fputrace-repro --lock) every attempt whose lock was refused has a
//          lock_busy on a file of its mount, of its lock kind, with verdict
//          deferred_release and an io_uring pin from its child, and a later
//          pin_released of that file; at least one attempt was refused.
//   detached  (fputrace-repro --lazy) some attempt's mount, detached by
//          umount -l, was held by its child: a detached_pinned for the
//          attempt's mount with a pin from the child (io_uring; aio-direct:
//          aio too), or, aio-direct, a deferred from the child on a detached
//          mount (a deferral seen before the umount -l record is listed in
//          the detached_pinned instead); either way a detached_released of
//          that mount id after it.
//   exclusive  (fputrace-repro aio-direct --lazy) every attempt whose exclusive
//          open of the loop device failed with EBUSY has a bdev_busy for that
//          device node with verdict deferred_release or detached_teardown and
//          a pin of a file on its mount from its child (source aio) or with no
//          known owner (a raced final fput seen only at its release: said, and
//          counted in the PASS line); at least one attempt got EBUSY.
//   aio    some "deferred" event names an attempt's child as origin with source aio
//   none   no umount_busy, deferred or pin_released at all, and every umount worked
//
//   fputrace-check quiet REPRO.jsonl WATCH.jsonl EVENTS.jsonl
// as none, and the raw event log (--events) holds no record about a file on
// an attempt's mount, while the final summary counted io_uring requests: they
// were seen in the kernel and nothing was sent about them.
//
//   overload like uring, for runs under load: every EBUSY is explained by its
//          own child and names no file outside its mount, unless the finding
//          says it is incomplete (records were lost); no EBUSY at all passes
//
//   explained  counts for scripts/soak.sh: "explained N/M EBUSY; ...", exit 1
//          only if an EBUSY was explained wrong and its finding claims to be
//          complete
//
//   fputrace-check unsure REPRO.jsonl WATCH.jsonl EVENTS.jsonl
// the same run on a kernel whose io_uring_complete does not name the request
// (before 5.18; docs/probes.md): every umount worked, no umount_busy, and
// every record about an attempt's file is a pending_at_exit flagged
// owner.no_completions, whose findings say "not seen completing".
//
//   fputrace-check doctor DOCTOR.json [fentry=0|1] [kprobe=0|1] [tracepoint=0|1] [selected=B|none] [status=N]
// compares `fputrace doctor --json` with what the caller found out by itself
// (status: doctor's exit status), and checks that the selected backend is one
// doctor found able to load.
//
//   fputrace-check trace REPRO.jsonl TRACE.json
// checks a Chrome trace from `fputrace record`: traceEvents and metadata, a
// process track (pid = tgid, "M" process_name) for every attempt's origin,
// events on it, and async (b/e) or flow (s/f) events linking origin and release.
//
//   fputrace-check container REPRO.jsonl WATCH.jsonl CGROUP RUNTIME ID
// as uring, run inside the cgroup CGROUP (a path as /proc/PID/cgroup shows
// it): each attempt's umount_busy has a caller, and a pin from the attempt's
// child, whose cgroup.path is CGROUP, whose cgroup.id and mntns are numbers and
// whose container is {RUNTIME, ID}.
//
//   fputrace-check filtered REPRO.jsonl WATCH.jsonl
// the run was watched with a filter that matches none of its tasks: some
// attempt got EBUSY, yet no umount_busy, deferred or pin_released was printed
// (only the summary).
//
//   fputrace-check holder BUSY.json PID COMM PATH
// checks `fputrace busy --json` (or `umount --json` timing out): verdict
// live_holder and a live holder pin from PID whose comm and file path are, as
// bytes, COMM and PATH (names that are not UTF-8 are passed as they are).
// Prints one line, PASS or FAIL with the reason; exit 0 on PASS.
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fputrace/escape.hpp"

using fputrace::unescape_bytes;
using nlohmann::json;

namespace {

// keep_if: only lines holding one of these strings are parsed (an overload
// run prints hundreds of thousands of findings the check does not look at).
std::vector<json> read_lines(const std::string& path, const std::vector<std::string>& keep_if = {}) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    bool keep = keep_if.empty();
    for (const auto& s : keep_if) keep = keep || line.find(s) != std::string::npos;
    if (keep) out.push_back(json::parse(line));
  }
  return out;
}

// A name as bytes: fputrace escapes what is not UTF-8; null is "".
std::string bytes_of(const json& j) {
  return j.is_string() ? unescape_bytes(j.get<std::string>()) : "";
}

struct Attempt {
  uint32_t child = 0;  // the process a correct attribution names
  std::string mount;   // bytes
  std::string umount;
  std::optional<std::string> comm, file;  // --hostile-names: bytes
  std::string lock, lock_mode;            // --lock: "EWOULDBLOCK"/"ok", "flock"/"ofd"
  std::string lazy;                       // --lazy: "ok"
  bool aio = false;                       // the aio-direct scenario
  std::string exclusive, device;          // aio-direct --lazy: "EBUSY"/"ok", the loop device node
};

std::vector<Attempt> attempts_of(const std::vector<json>& repro) {
  std::vector<Attempt> out;
  for (const auto& j : repro) {
    if (!j.contains("child_tgid")) continue;
    Attempt a{j.value("origin_tgid", j["child_tgid"].get<uint32_t>()), bytes_of(j["mount"]),
              j["umount"].get<std::string>()};
    if (j.contains("comm")) a.comm = bytes_of(j["comm"]);
    if (j.contains("file")) a.file = bytes_of(j["file"]);
    a.lock = j.value("lock", "");
    a.lock_mode = j.value("lock_mode", "");
    a.lazy = j.value("lazy_umount", "");
    a.aio = j.value("scenario", "") == "aio-direct";
    a.exclusive = j.value("exclusive", "");
    if (j.contains("device")) a.device = bytes_of(j["device"]);
    out.push_back(a);
  }
  return out;
}

// With hostile names: the pin names the child and the file, cut where BPF cuts.
bool names_match(const json& pin, const Attempt& a, std::string& why) {
  std::string comm = bytes_of(pin["origin"]["comm"]), path = bytes_of(pin["file"]["path"]);
  if (a.comm && comm != *a.comm) {
    why = fmt::format("pin origin.comm {} is not the child's {}", pin["origin"]["comm"].dump(),
                      json(fputrace::escape_bytes(*a.comm)).dump());
    return false;
  }
  // The file's name is longer than BPF's 31 (or 32) bytes and has a 4-byte
  // character at bytes 30..33: the path must stop inside it.
  size_t whole_name = a.mount.size() + 1 + 30;
  if (a.file && (path.size() <= whole_name || path.size() >= a.file->size() || a.file->compare(0, path.size(), path))) {
    why = fmt::format("pin file.path {} is not {} cut inside its 4-byte character", pin["file"]["path"].dump(),
                      json(fputrace::escape_bytes(*a.file)).dump());
    return false;
  }
  return true;
}

std::vector<json> events_named(const std::vector<json>& watch, const std::string& name) {
  std::vector<json> out;
  for (const auto& j : watch)
    if (j.value("event", "") == name) out.push_back(j);
  return out;
}

// A pin whose file lies outside the busy mount names another mount's file
// (a recycled mount id joined two mounts).
bool names_foreign_file(const json& busy, std::string& why) {
  std::string mount = bytes_of(busy["mount"]["path"]);
  for (const auto& p : busy["pins"]) {
    std::string path = p.contains("file") && p["file"].contains("path") ? bytes_of(p["file"]["path"]) : "";
    if (path.rfind(mount + "/", 0) != 0) {
      why = fmt::format("umount_busy for {} names a file of another mount: {}", busy["mount"].dump(), p.dump());
      return true;
    }
  }
  return false;
}

bool busy_names_child(const std::vector<json>& busy, const Attempt& a, std::string& why) {
  std::string mount = json(fputrace::escape_bytes(a.mount)).dump();
  for (const auto& b : busy) {
    if (bytes_of(b["mount"]["path"]) != a.mount) continue;
    if (names_foreign_file(b, why)) return false;
    for (const auto& p : b["pins"])
      if (p["origin"]["tgid"] == a.child && p["source"] == "io_uring") return names_match(p, a, why);
    why = fmt::format("umount_busy for {} has no io_uring pin from child {}: {}", mount, a.child, b.dump());
    return false;
  }
  why = fmt::format("no umount_busy for {} (child {})", mount, a.child);
  return false;
}

std::string check_uring(const std::vector<Attempt>& attempts, const std::vector<json>& watch) {
  auto busy = events_named(watch, "umount_busy");
  int ebusy = 0;
  for (const auto& a : attempts) {
    if (a.umount != "EBUSY") continue;
    ++ebusy;
    std::string why;
    if (!busy_names_child(busy, a, why)) return why;
  }
  if (ebusy == 0) return "no attempt lost the umount race: nothing to explain";
  return "";
}

// One refused lock: its lock_busy, the child's pin in it, its release after.
std::string lock_explained(const std::vector<json>& locked, const std::vector<json>& released, const Attempt& a) {
  std::string mount = json(fputrace::escape_bytes(a.mount)).dump();
  for (const auto& l : locked) {
    std::string path = bytes_of(l["file"]["path"]);
    if (path.rfind(a.mount + "/", 0) != 0) continue;
    if (l["lock"]["kind"] != a.lock_mode) return fmt::format("lock_busy for {} is of kind {}, not {}", mount,
                                                             l["lock"]["kind"].dump(), a.lock_mode);
    if (l["verdict"] != "deferred_release") return fmt::format("lock_busy for {} has verdict {}: {}", mount,
                                                               l["verdict"].dump(), l.dump());
    for (const auto& p : l["pins"]) {
      if (p["origin"]["tgid"] != a.child || p["source"] != "io_uring") continue;
      std::string why;
      if (!names_match(p, a, why)) return why;
      uint64_t at = l["time_ns"].get<uint64_t>();
      for (const auto& r : released)
        if (bytes_of(r["file"]["path"]) == bytes_of(p["file"]["path"]) && r["time_ns"].get<uint64_t>() >= at)
          return "";
      return fmt::format("no pin_released of {} after the lock_busy", p["file"]["path"].dump());
    }
    return fmt::format("lock_busy for {} has no io_uring pin from child {}: {}", mount, a.child, l.dump());
  }
  return fmt::format("no lock_busy for a file of {} (child {})", mount, a.child);
}

std::string check_lock(const std::vector<Attempt>& attempts, const std::vector<json>& watch) {
  auto locked = events_named(watch, "lock_busy");
  auto released = events_named(watch, "pin_released");
  int refused = 0;
  for (const auto& a : attempts) {
    if (a.lock_mode.empty()) return "the reproducer was not run with --lock";
    if (a.lock != "EWOULDBLOCK") continue;
    ++refused;
    if (auto why = lock_explained(locked, released, a); !why.empty()) return why;
  }
  if (refused == 0) return "no attempt lost the lock race: nothing to explain";
  return "";
}

// The mount id a detached attempt's child held: from detached_pinned (the
// attempt's mount path) or from a deferral on a detached mount; -1: none.
int64_t detached_mount_of(const std::vector<json>& watch, const Attempt& a) {
  for (const auto& j : watch) {
    const std::string event = j.value("event", "");
    if (event == "detached_pinned" && bytes_of(j["mount"]["path"]) == a.mount)
      for (const auto& p : j["pins"])
        if (p["origin"]["tgid"] == a.child && (p["source"] == "io_uring" || (a.aio && p["source"] == "aio")))
          return j["mount"]["id"].get<int64_t>();
    if (event == "deferred" && a.aio && j["origin"]["tgid"] == a.child && j["source"] == "aio" &&
        j["mount"].value("detached", false))
      return j["mount"]["id"].get<int64_t>();
  }
  return -1;
}

std::string check_detached(const std::vector<Attempt>& attempts, const std::vector<json>& watch) {
  int held = 0;
  for (const auto& a : attempts) {
    if (a.lazy != "ok") return "an attempt did not report lazy_umount ok (run with --lazy)";
    int64_t id = detached_mount_of(watch, a);
    if (id < 0) continue;  // the release beat the umount -l: nothing was held
    ++held;
    bool gone = false;
    for (const auto& j : events_named(watch, "detached_released"))
      gone = gone || (j["mount"]["id"] == id && j["mount"].value("detached", false));
    if (!gone) return fmt::format("mount {} of {} (child {}) was held detached, but no detached_released followed",
                                  id, json(fputrace::escape_bytes(a.mount)).dump(), a.child);
  }
  if (held == 0) return "no attempt's detached mount was held by its child: nothing to explain";
  return "";
}

std::string check_exclusive(const std::vector<Attempt>& attempts, const std::vector<json>& watch, int& unknown_origin) {
  auto refused = events_named(watch, "bdev_busy");
  int busy = 0;
  for (const auto& a : attempts) {
    if (a.device.empty()) return "the reproducer was not run as aio-direct --lazy";
    if (a.exclusive != "EBUSY") continue;
    ++busy;
    bool explained = false;
    std::string seen;
    for (const auto& b : refused) {
      if (bytes_of(b["device"]["path"]) != a.device) continue;
      seen = b.dump();
      if (b["verdict"] != "deferred_release" && b["verdict"] != "detached_teardown") continue;
      for (const auto& p : b["pins"]) {
        if (bytes_of(p["file"]["path"]).rfind(a.mount + "/", 0) != 0) continue;  // a file of this attempt's mount
        if (p["origin"]["tgid"] == a.child && p["source"] == "aio") explained = true;
        // A final fput that raced with another CPU's drop is seen only at its
        // release, without its owner (origin.known false: said, not guessed).
        // Any other origin is a wrong attribution.
        if (p["origin"].value("known", true) == false) explained = true, ++unknown_origin;
      }
    }
    if (!explained)
      return seen.empty() ? fmt::format("no bdev_busy for {} (child {})", a.device, a.child)
                          : fmt::format("bdev_busy for {} has no aio pin from child {}: {}", a.device, a.child, seen);
  }
  if (busy == 0) return "no exclusive open lost the race: nothing to explain";
  return "";
}

// Under load: an EBUSY that is not explained right is acceptable only if its
// finding says records were lost around it.
// One EBUSY of a run under load: explained by its own child; wrong but
// excused (its finding says records were lost, or the umount record itself
// was lost and an in-band loss record says so); or wrong (why).
enum class Judgement { Explained, Excused, Wrong };
Judgement judge_ebusy(const std::vector<json>& busy, bool any_loss, const Attempt& a, std::string& why) {
  if (busy_names_child(busy, a, why)) return Judgement::Explained;
  bool found = false;
  for (const auto& b : busy) {
    if (bytes_of(b["mount"]["path"]) != a.mount) continue;
    found = true;
    if (b.value("complete", true) == false) return Judgement::Excused;
  }
  if (!found && any_loss) return Judgement::Excused;
  why += " (and the finding claims to be complete)";
  return Judgement::Wrong;
}

std::string check_overload(const std::vector<Attempt>& attempts, const std::vector<json>& watch) {
  auto busy = events_named(watch, "umount_busy");
  bool any_loss = !events_named(watch, "loss").empty();
  for (const auto& a : attempts) {
    std::string why;
    if (a.umount == "EBUSY" && judge_ebusy(busy, any_loss, a, why) == Judgement::Wrong) return why;
  }
  return "";
}

// For the soak script: how many EBUSYs were explained by their own child,
// how many were wrong but marked incomplete, how many wrong and claimed
// complete. Prints one line; exit 0 unless something was wrong and unmarked.
int count_explained(const std::vector<Attempt>& attempts, const std::vector<json>& watch) {
  auto busy = events_named(watch, "umount_busy");
  bool any_loss = !events_named(watch, "loss").empty();
  int total = 0, counts[3] = {0, 0, 0};
  for (const auto& a : attempts) {
    if (a.umount != "EBUSY") continue;
    ++total;
    std::string why;
    ++counts[static_cast<int>(judge_ebusy(busy, any_loss, a, why))];
  }
  fmt::print("explained {}/{} EBUSY; {} unexplained but marked incomplete; {} wrong and claimed complete\n",
             counts[0], total, counts[1], counts[2]);
  return counts[2] == 0 ? 0 : 1;
}

// A task object of the findings: in the cgroup, in the container.
std::string check_place(const json& task, const std::string& what, const std::string& cgroup,
                        const std::string& runtime, const std::string& id) {
  const json& cg = task.value("cgroup", json());
  if (!cg.is_object() || bytes_of(cg.value("path", json())) != cgroup || !cg.value("id", json()).is_number())
    return fmt::format("{} is not in cgroup {}: {}", what, cgroup, task.dump());
  if (!task.value("mntns", json()).is_number()) return fmt::format("{} has no mntns: {}", what, task.dump());
  if (task.value("container", json()) != json{{"runtime", runtime}, {"id", id}})
    return fmt::format("{} is not in container {}:{}: {}", what, runtime, id, task.dump());
  return "";
}

std::string check_container(const std::vector<Attempt>& attempts, const std::vector<json>& watch, char** argv) {
  if (std::string uring = check_uring(attempts, watch); !uring.empty()) return uring;
  const std::string cgroup = argv[4], runtime = argv[5], id = argv[6];
  for (const auto& a : attempts) {
    if (a.umount != "EBUSY") continue;
    for (const auto& b : events_named(watch, "umount_busy")) {
      if (bytes_of(b["mount"]["path"]) != a.mount) continue;
      if (auto why = check_place(b["caller"], "the umount caller", cgroup, runtime, id); !why.empty()) return why;
      for (const auto& p : b["pins"])
        if (p["origin"]["tgid"] == a.child)
          if (auto why = check_place(p["origin"], "the pin's origin", cgroup, runtime, id); !why.empty()) return why;
    }
  }
  return "";
}

std::string check_filtered(const std::vector<Attempt>& attempts, const std::vector<json>& watch) {
  bool ebusy = false;
  for (const auto& a : attempts) ebusy |= a.umount == "EBUSY";
  if (!ebusy) return "no attempt lost the umount race: nothing to filter";
  for (const char* name : {"umount_busy", "deferred", "pin_released"})
    if (auto found = events_named(watch, name); !found.empty())
      return fmt::format("the filter let through: {}", found.front().dump());
  if (events_named(watch, "summary").empty()) return "no summary line";
  return "";
}

std::string check_aio(const std::vector<Attempt>& attempts, const std::vector<json>& watch) {
  std::set<uint32_t> children;
  for (const auto& a : attempts) children.insert(a.child);
  for (const auto& d : events_named(watch, "deferred"))
    if (d["source"] == "aio" && children.count(d["origin"]["tgid"].get<uint32_t>())) return "";
  return "no deferred event with source aio names a child as origin";
}

std::string check_none(const std::vector<Attempt>& attempts, const std::vector<json>& watch) {
  for (const auto& a : attempts)
    if (a.umount != "ok") return fmt::format("umount of {} failed: {}", a.mount, a.umount);
  for (const char* name : {"umount_busy", "deferred", "pin_released"})
    if (auto found = events_named(watch, name); !found.empty())
      return fmt::format("false positive: {}", found.front().dump());
  return "";
}

std::string check_quiet(const std::vector<Attempt>& attempts, const std::vector<json>& watch,
                        const std::vector<json>& events) {
  if (std::string none = check_none(attempts, watch); !none.empty()) return none;
  std::set<std::string> mounts;
  for (const auto& a : attempts) mounts.insert(a.mount);
  for (const auto& e : events) {
    if (!e.contains("file") || e.value("type", "") == "mount") continue;
    if (mounts.count(e["file"].value("mount_path", ""))) return fmt::format("a record was sent: {}", e.dump());
  }
  auto summary = events_named(watch, "summary");
  if (summary.empty()) return "no summary line";
  uint64_t seen = summary.back().value("uring_requests", uint64_t{0});
  if (seen < attempts.size()) return fmt::format("only {} io_uring request(s) counted: were they traced?", seen);
  return "";
}

std::string check_unsure(const std::vector<Attempt>& attempts, const std::vector<json>& watch,
                         const std::vector<json>& events) {
  for (const auto& a : attempts)
    if (a.umount != "ok") return fmt::format("umount of {} failed: {}", a.mount, a.umount);
  if (auto busy = events_named(watch, "umount_busy"); !busy.empty())
    return fmt::format("false positive: {}", busy.front().dump());
  std::set<std::string> mounts;
  for (const auto& a : attempts) mounts.insert(a.mount);
  for (const auto& e : events) {
    if (!e.contains("file") || !mounts.count(e["file"].value("mount_path", ""))) continue;
    if (e.value("type", "") != "pending_at_exit" || !e.contains("owner") ||
        !e["owner"].value("no_completions", false))
      return fmt::format("a record was sent that is not a flagged pending_at_exit: {}", e.dump());
  }
  for (const char* name : {"deferred", "pin_released"})
    for (const auto& f : events_named(watch, name))
      if (f.value("why", "").find("not seen completing") == std::string::npos)
        return fmt::format("a finding does not say the completion was not seen: {}", f.dump());
  return "";
}

std::string check_trace(const std::vector<Attempt>& attempts, const json& trace) {
  if (!trace.contains("traceEvents") || !trace["traceEvents"].is_array()) return "no traceEvents array";
  const json& meta = trace["metadata"]["fputrace"];
  if (!meta.is_object() || !meta.contains("backend") || !meta.contains("kernel"))
    return "metadata.fputrace lacks backend or kernel";
  std::set<uint32_t> named, with_events;
  size_t async_b = 0, async_e = 0, flow_s = 0, flow_f = 0;
  for (const auto& ev : trace["traceEvents"]) {
    std::string ph = ev.value("ph", "");
    uint32_t pid = ev.value("pid", 0u);
    if (ph == "M" && ev.value("name", "") == "process_name") named.insert(pid);
    if (ph != "M") with_events.insert(pid);
    async_b += ph == "b";
    async_e += ph == "e";
    flow_s += ph == "s";
    flow_f += ph == "f";
  }
  for (const auto& a : attempts) {
    if (!named.count(a.child)) return fmt::format("no process_name track for origin {}", a.child);
    if (!with_events.count(a.child)) return fmt::format("no events on the track of origin {}", a.child);
  }
  if (async_b == 0 || async_b != async_e) return fmt::format("async events unbalanced: {} b, {} e", async_b, async_e);
  if (flow_s == 0 || flow_s != flow_f)
    return fmt::format("flow events missing or unbalanced: {} s, {} f", flow_s, flow_f);
  return "";
}

int check_doctor(int argc, char** argv) {
  std::ifstream in(argv[2]);
  json doctor;
  try {
    doctor = json::parse(in);
  } catch (const std::exception& e) {
    fmt::print("FAIL doctor: {} is not JSON: {}\n", argv[2], e.what());
    return 1;
  }
  // Whatever the kernel allows: doctor never selects a backend it found unable to load.
  const json& selected = doctor["selected"];
  if (selected.is_string() && !doctor["backends"][selected.get<std::string>()].value("available", false)) {
    fmt::print("FAIL doctor: selected {} although it cannot load: {}\n", selected.dump(), doctor["backends"].dump());
    return 1;
  }
  for (int i = 3; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    std::string key = arg.substr(0, eq), want = arg.substr(eq + 1);
    if (key == "status") {  // doctor's exit status: non-zero exactly when nothing is selected
      if ((want != "0") != selected.is_null()) {
        fmt::print("FAIL doctor: exit status {} with selected {}\n", want, selected.dump());
        return 1;
      }
      continue;
    }
    if (key == "selected") {
      // selected=none: no backend can load, so none may be named.
      if (want == "none" ? !doctor["selected"].is_null() : doctor["selected"] != want) {
        fmt::print("FAIL doctor: selected {} but expected {}\n", doctor["selected"].dump(), want);
        return 1;
      }
      continue;
    }
    const json& b = doctor["backends"][key];
    bool available = b.value("available", false);
    if (available != (want == "1")) {
      fmt::print("FAIL doctor: says {} available={} but the kernel says {}: {}\n", key, available, want, b.dump());
      return 1;
    }
    if (!available && b.value("reason", "").empty()) {
      fmt::print("FAIL doctor: {} unavailable without a reason\n", key);
      return 1;
    }
  }
  fmt::print("PASS doctor: {}\n", doctor["backends"].dump());
  return 0;
}

std::string check_holder(const json& busy, uint32_t pid, const std::string& comm, const std::string& path) {
  if (busy.value("verdict", "") != "live_holder") return "verdict is not live_holder: " + busy.dump();
  for (const auto& p : busy["pins"]) {
    if (p.value("holder", "") != "process" || p["origin"]["tgid"] != pid) continue;
    if (bytes_of(p["origin"]["comm"]) != comm) return "holder comm is " + p["origin"]["comm"].dump();
    if (bytes_of(p["file"]["path"]) == path) return "";
  }
  return fmt::format("no holder pin from pid {} on {}: {}", pid, json(fputrace::escape_bytes(path)).dump(),
                     busy.dump());
}

// fputrace-check busy WATCH.jsonl MOUNT CONDITION...: the umount_busy for
// MOUNT meets every CONDITION: verdict=V, holder=PID (a pin with that origin),
// unexplained=0 or unexplained=+ (references.unexplained), unexplained=null
// (the kernel's count was not read: no guess), scanned (the procfs scan ran and
// says how long after the EBUSY), resolved_by=R.
int check_busy(int argc, char** argv) {
  try {
    std::string mount = argv[3];
    json found;
    for (const auto& j : read_lines(argv[2]))
      if (j.value("event", "") == "umount_busy" && bytes_of(j["mount"]["path"]) == mount) found = j;
    if (found.is_null()) throw std::runtime_error("no umount_busy for " + mount);
    for (int i = 4; i < argc; ++i) {
      std::string c = argv[i];
      auto eq = c.find('=');
      std::string key = c.substr(0, eq), want = eq == std::string::npos ? "" : c.substr(eq + 1);
      bool ok = true;
      if (key == "verdict") ok = found.value("verdict", "") == want;
      else if (key == "resolved_by") ok = found["mount"].value("resolved_by", "") == want;
      else if (key == "scanned") ok = found.contains("scan") && found["scan"].value("done", false);
      else if (key == "holder") {
        ok = false;
        for (const auto& p : found["pins"]) ok = ok || p["origin"].value("tgid", 0u) == std::stoul(want);
      } else if (key == "unexplained") {
        const json& u = found["references"]["unexplained"];
        if (want == "null")
          ok = u.is_null();
        else
          ok = u.is_number() && (want == "0" ? u.get<int64_t>() == 0 : u.get<int64_t>() > 0);
      } else {
        throw std::runtime_error("unknown condition " + c);
      }
      if (!ok) throw std::runtime_error(fmt::format("{} does not hold: {}", c, found.dump()));
    }
    fmt::print("PASS busy: {}\n", found.value("verdict", ""));
    return 0;
  } catch (const std::exception& e) {
    fmt::print("FAIL busy: {}\n", e.what());
    return 1;
  }
}

int check_holder_file(char** argv) {
  try {
    auto lines = read_lines(argv[2]);
    if (lines.size() != 1) throw std::runtime_error(fmt::format("{} lines, expected one object", lines.size()));
    std::string failure = check_holder(lines[0], static_cast<uint32_t>(std::stoul(argv[3])), argv[4], argv[5]);
    fmt::print("{} holder: {}\n", failure.empty() ? "PASS" : "FAIL",
               failure.empty() ? "names the live holder" : failure);
    return failure.empty() ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print("FAIL holder: {}\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "doctor") return check_doctor(argc, argv);
  if (argc == 6 && std::string(argv[1]) == "holder") return check_holder_file(argv);
  if (argc >= 4 && std::string(argv[1]) == "busy") return check_busy(argc, argv);
  bool quiet = argc == 5 && (std::string(argv[1]) == "quiet" || std::string(argv[1]) == "unsure");
  bool container = argc == 7 && std::string(argv[1]) == "container";
  if (argc != 4 && !quiet && !container) {
    fmt::print(stderr, "usage: fputrace-check uring|lock|detached|exclusive|aio|none|overload|explained REPRO.jsonl WATCH.jsonl\n"
                       "       fputrace-check quiet|unsure REPRO.jsonl WATCH.jsonl EVENTS.jsonl\n"
                       "       fputrace-check container REPRO.jsonl WATCH.jsonl CGROUP RUNTIME ID\n");
    return 2;
  }
  std::string expect = argv[1];
  try {
    auto attempts = attempts_of(read_lines(argv[2]));
    if (expect == "trace") {
      std::ifstream in(argv[3]);
      std::string failure = check_trace(attempts, json::parse(in));
      fmt::print("{} trace: {}\n", failure.empty() ? "PASS" : "FAIL", failure.empty() ? "valid Chrome trace" : failure);
      return failure.empty() ? 0 : 1;
    }
    std::vector<std::string> keep_if;
    if (expect == "overload" || expect == "explained") keep_if = {"\"event\":\"umount_busy\"", "\"event\":\"loss\""};
    auto watch = read_lines(argv[3], keep_if);
    if (attempts.empty()) throw std::runtime_error("the reproducer reported no attempt");
    std::string failure;
    if (expect == "uring")
      failure = check_uring(attempts, watch);
    else if (expect == "aio")
      failure = check_aio(attempts, watch);
    else if (expect == "lock")
      failure = check_lock(attempts, watch);
    else if (expect == "detached")
      failure = check_detached(attempts, watch);
    else if (expect == "exclusive") {
      int unknown_origin = 0;
      failure = check_exclusive(attempts, watch, unknown_origin);
      if (failure.empty() && unknown_origin) {
        fmt::print("PASS exclusive: {} attempt(s); {} pin(s) of the attempt's file with no known owner (a raced "
                   "final fput, seen at its release)\n",
                   attempts.size(), unknown_origin);
        return 0;
      }
    }
    else if (expect == "container")
      failure = check_container(attempts, watch, argv);
    else if (expect == "filtered")
      failure = check_filtered(attempts, watch);
    else if (expect == "overload")
      failure = check_overload(attempts, watch);
    else if (expect == "explained")
      return count_explained(attempts, watch);
    else if (expect == "none")
      failure = check_none(attempts, watch);
    else if (expect == "quiet")
      failure = check_quiet(attempts, watch, read_lines(argv[4]));
    else if (expect == "unsure")
      failure = check_unsure(attempts, watch, read_lines(argv[4]));
    else if (expect == "trace")
      failure = "";  // handled below: the file is one JSON object
    else
      throw std::runtime_error("unknown expectation " + expect);
    if (!failure.empty()) {
      fmt::print("FAIL {}: {}\n", expect, failure);
      return 1;
    }
    fmt::print("PASS {}: {} attempt(s)\n", expect, attempts.size());
    return 0;
  } catch (const std::exception& e) {
    fmt::print("FAIL {}: {}\n", expect, e.what());
    return 1;
  }
}
