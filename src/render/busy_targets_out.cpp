#include "fputrace/busy_targets_out.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include "fputrace/diagnosis_out.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/findings_out.hpp"

namespace fputrace {

namespace {

constexpr size_t kMaxLines = 10;

nlohmann::json holders_array(const std::vector<LiveHolder>& hs) {
  nlohmann::json a = nlohmann::json::array();
  for (const LiveHolder& h : hs) a.push_back(live_holder_to_json(h));
  return a;
}

nlohmann::json pins_array(const std::vector<Pin>& pins) {
  nlohmann::json a = nlohmann::json::array();
  for (const Pin& p : pins) a.push_back(pin_to_json(p));
  return a;
}

nlohmann::json released_array(const std::vector<Finding>& released) {
  nlohmann::json a = nlohmann::json::array();
  for (const Finding& f : released) a.push_back(finding_to_json(f));
  return a;
}

// The fields both targets share: what the watch saw.
void add_watch(nlohmann::json& j, const BusyWatch& w, int unreadable) {
  j["pins"] = pins_array(w.pins);
  j["released_during_watch"] = released_array(w.released);
  j["watched_ms"] = w.watched_ms;
  j["deferred_seen"] = w.deferred_seen;
  j["complete"] = w.complete;
  j["unreadable_pids"] = unreadable;
}

template <typename T, typename F>
std::string bullets(const std::vector<T>& items, F line) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < kMaxLines; ++i) out += "    - " + line(items[i]) + "\n";
  if (items.size() > kMaxLines) out += fmt::format("    ... and {} more\n", items.size() - kMaxLines);
  return out;
}

// Deferred releases in flight, those that ended while watching, and what
// could not be seen: the part of the text both targets share.
std::string watch_text(const BusyWatch& w, int unreadable) {
  std::string out;
  if (!w.pins.empty())
    out += fmt::format("  held by deferred releases (no process has these files any more):\n{}",
                       bullets(pin_lines(w.pins, w.now_ns), [](const std::string& s) { return s; }));
  if (!w.released.empty())
    out += fmt::format("  released while fputrace watched ({} ms):\n{}", w.watched_ms,
                       bullets(w.released, [](const Finding& f) {
                         std::string line = finding_to_text(f);
                         line.erase(0, line.find_first_not_of(' '));
                         if (!line.empty() && line.back() == '\n') line.pop_back();
                         return line;
                       }));
  if (!w.complete) out += "  (incomplete: fputrace lost records while watching; a deferred release may be missing)\n";
  if (unreadable > 0)
    out += fmt::format("  {} process(es) could not be inspected (permission denied{}).\n", unreadable,
                       ::geteuid() == 0 ? ", even to root" : "; run as root to see them");
  return out;
}

std::string device_title(const std::string& path, const DeviceScan& s) {
  return fmt::format("{} (block device {}{})", printable(path), dev_name(s.kernel_dev),
                     s.kernel_name.empty() ? "" : ", " + printable(s.kernel_name));
}

std::string device_headline(const DeviceScan& s, const BusyWatch& w, const std::string& verdict) {
  if (verdict == "mounted") return fmt::format("mounted ({} mount(s)): umount them first", s.mounts.size());
  if (verdict == "opened") return "a process has the device node open";
  if (verdict == "free") return fmt::format("nothing holds it that fputrace can see (watched {} ms)", w.watched_ms);
  // detached: no mount of it in any namespace, yet something keeps its filesystem.
  std::string by = !w.pins.empty()      ? "deferred releases"
                   : !s.holders.empty() ? "live processes"
                                        : "a reference fputrace did not see leave its owner (an io_uring ring "
                                          "or aio request that outlived it, or a release in flight: run fputrace "
                                          "busy or watch before the owner exits to name it)";
  return fmt::format(
      "its filesystem lives on with no mount in any namespace (umount -l): held by {}; the device stays claimed", by);
}

}  // namespace

nlohmann::json device_busy_json(const std::string& path, const DeviceScan& s, const BusyWatch& w,
                                const std::string& verdict) {
  nlohmann::json mounts = nlohmann::json::array();
  for (const DeviceMount& m : s.mounts)
    mounts.push_back({{"path", m.mount.path}, {"id", m.mount.id}, {"ns_pid", m.ns_pid}});
  nlohmann::json j{{"event", "busy"},
                   {"target",
                    {{"kind", "block_device"},
                     {"path", path},
                     {"device", dev_name(s.kernel_dev)},
                     {"name", s.kernel_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.kernel_name)}}},
                   {"verdict", verdict},
                   {"mounts", mounts},
                   {"superblock_dirs", s.superblock_dirs},
                   {"holders", holders_array(s.holders)},
                   {"openers", holders_array(s.openers)}};
  add_watch(j, w, s.unreadable_pids);
  return j;
}

std::string device_busy_text(const std::string& path, const DeviceScan& s, const BusyWatch& w,
                             const std::string& verdict) {
  std::string out = fmt::format("{}: {}\n", device_title(path, s), device_headline(s, w, verdict));
  if (!s.mounts.empty())
    out += "  mounted at:\n" + bullets(s.mounts, [](const DeviceMount& m) {
             return fmt::format("{} (mount {}{})", printable(m.mount.path), m.mount.id,
                                m.ns_pid ? fmt::format(", in the mount namespace of pid {}", m.ns_pid) : "");
           });
  if (!s.superblock_dirs.empty() && s.mounts.empty())
    out += "  its filesystem is alive: " + printable(s.superblock_dirs.front()) + " exists\n";
  if (!s.openers.empty()) out += "  device node open:\n" + bullets(s.openers, holder_line);
  if (!s.holders.empty())
    out += "  files on its filesystem held by live processes:\n" + bullets(s.holders, holder_line);
  return out + watch_text(w, s.unreadable_pids);
}

nlohmann::json file_busy_json(const std::string& path, const FileScan& s, const BusyWatch& w,
                              const std::string& verdict) {
  nlohmann::json locks = nlohmann::json::array();
  for (const FileLockHolder& l : s.locks)
    locks.push_back({{"class", l.lock.lock_class},
                     {"type", l.lock.type},
                     {"mode", l.lock.mode},
                     {"range", l.lock.range},
                     {"pid", l.lock.pid},
                     {"pid_alive", l.pid_alive},
                     {"comm", l.pid_alive ? nlohmann::json(l.comm) : nlohmann::json(nullptr)}});
  nlohmann::json j{{"event", "busy"},
                   {"target", {{"kind", "file"}, {"path", path}, {"device", dev_name(s.kernel_dev)}, {"ino", s.ino}}},
                   {"verdict", verdict},
                   {"locks", locks},
                   {"holders", holders_array(s.holders)}};
  add_watch(j, w, s.unreadable_pids);
  return j;
}

namespace {

std::string lock_line(const FileLockHolder& l) {
  std::string who;
  if (l.lock.pid < 0)
    who = "an open file description (OFD lock: no process is recorded)";
  else if (l.pid_alive)
    who = fmt::format("pid {} ({}), which took it", l.lock.pid, printable(l.comm));
  else
    who = fmt::format("pid {}, which took it and has exited: the lock lives on with its open file", l.lock.pid);
  return fmt::format("{} {} lock ({}) held through {}", l.lock.lock_class, l.lock.type, l.lock.range, who);
}

std::string file_headline(const FileScan& s, const BusyWatch& w, const std::string& verdict) {
  if (verdict == "deferred_release")
    return fmt::format("a deferred release of it is in flight{}",
                       s.locks.empty() ? "" : ": its locks go when that release ends");
  if (verdict == "live_holder") return "locked, and live processes have it open";
  if (verdict == "unseen_holder")
    return fmt::format(
        "locked, but no process has it open: its last reference is elsewhere (an io_uring ring or aio request that "
        "outlived its owner, or a release in flight) and fputrace did not see it leave its owner (watched {} ms; run "
        "fputrace busy or watch before the owner exits to name it)",
        w.watched_ms);
  return s.holders.empty() ? "no lock on it and nothing holds it" : "no lock on it";
}

}  // namespace

std::string file_busy_text(const std::string& path, const FileScan& s, const BusyWatch& w, const std::string& verdict) {
  std::string out = fmt::format("{} (ino {} on {}): {}\n", printable(path), s.ino, dev_name(s.kernel_dev),
                                file_headline(s, w, verdict));
  if (!s.locks.empty()) out += "  locks:\n" + bullets(s.locks, lock_line);
  if (!s.holders.empty()) out += "  open in live processes:\n" + bullets(s.holders, holder_line);
  return out + watch_text(w, s.unreadable_pids);
}

}  // namespace fputrace
