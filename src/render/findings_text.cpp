#include <fmt/format.h>

#include "fputrace/containers.hpp"
#include "fputrace/diagnosis_out.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/findings_out.hpp"

namespace fputrace {

namespace {

std::string ms(uint64_t ns) {
  return fmt::format("{:.1f} ms", static_cast<double>(ns) / 1e6);
}

std::string stamp(uint64_t ns) {
  return fmt::format("{:>14.6f}", static_cast<double>(ns) / 1e9);
}

// Names (and the model's phrases, which quote them) go through printable():
// a process or file name must not be able to drive the terminal.
std::string who(const Pin& p) {
  std::string comm = printable(p.origin.comm);
  if (!p.origin_known) return fmt::format("no known owner (dropped by {} {})", comm, p.origin.tid);
  std::string where = printable(place_suffix(p.origin));
  if (p.origin.tid != p.origin.tgid)
    return fmt::format("{} (pid {}, thread {}{})", comm, p.origin.tgid, p.origin.tid, where);
  return fmt::format("{} (pid {}{})", comm, p.origin.tgid, where);
}

std::string mount_name(const MountRef& m) {
  return fmt::format("{} (mount {}{})", m.path.empty() ? "?" : printable(m.path), m.id, m.detached ? ", detached" : "");
}

// "/mnt/x/f (ino 2) from db (pid 7) via io_uring, held by delayed_fput [observed]: why"
std::string pin_sentence(const Pin& p) {
  return fmt::format("{} (ino {}) from {} via {}, held by {} [{}]: {}", printable(full_path(p.mount, p.file)),
                     p.file.ino, who(p), to_string(p.source), to_string(p.holder), to_string(p.confidence),
                     printable(p.why));
}

// The diagnosis paragraphs, under their EBUSY line; blank lines stay blank.
std::string indented(const std::string& text, size_t by) {
  std::string out, line;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != '\n') {
      line += text[i];
      continue;
    }
    if (!line.empty()) out += std::string(by, ' ') + line;
    if (i < text.size() || !line.empty()) out += '\n';
    line.clear();
  }
  while (out.size() >= 2 && out.ends_with("\n\n")) out.pop_back();
  return out;
}

}  // namespace

namespace {

std::string incomplete_note(const Finding& f) {
  if (f.complete || f.kind == Finding::Kind::Loss) return "";
  return fmt::format(
      "{:15}           (incomplete: fputrace lost records while this was happening; it may miss a "
      "cause)\n",
      "");
}

}  // namespace

// "  12.345678 EBUSY     umount /mnt/x by comm (42)": the head of an EBUSY
// finding, and the whole of a repeat (busy_repeat_text).
static std::string umount_busy_line(const Finding& f) {
  return fmt::format("{} EBUSY     umount {} by {} ({}{})", stamp(f.time_ns), mount_name(f.mount),
                     printable(f.actor.comm), f.actor.tgid, printable(place_suffix(f.actor)));
}

// "  12.345678 LOCKED    flock(LOCK_EX) on /mnt/x/f (ino 2) by comm (42): EWOULDBLOCK"
static std::string lock_busy_line(const Finding& f) {
  return fmt::format("{} LOCKED    {} on {} (ino {}) by {} ({}{}): EWOULDBLOCK", stamp(f.time_ns),
                     lock_request_name(f.lock->kind, f.lock->write), printable(full_path(f.mount, f.target_file)),
                     f.target_file.ino, printable(f.actor.comm), f.actor.tgid, printable(place_suffix(f.actor)));
}

static std::string lock_busy_text(const Finding& f) {
  std::string out = lock_busy_line(f) + "\n";
  const std::string indent(26, ' ');
  if (!f.pins.empty()) {
    out += fmt::format("{}the lock lives on {} file(s) whose release is deferred:\n", indent, f.pins.size());
    for (const Pin& p : f.pins)
      out += fmt::format("{}- {}, for {}\n", indent, pin_sentence(p),
                         ms(f.time_ns >= p.since_ns ? f.time_ns - p.since_ns : 0));
  }
  for (const LockHolder& h : f.lock->holders) {
    bool pinned = false;
    for (const Pin& p : f.pins) pinned = pinned || p.file.ptr == h.file;
    if (pinned) continue;
    std::string via;
    if (h.owner)
      via = fmt::format(", its file used via {} by {} ({}{})", to_string(h.owner->kind), printable(h.owner->task.comm),
                        h.owner->task.tgid, h.owner->gone ? ", exited" : "");
    out += fmt::format("{}- a {} {} lock taken by pid {} (ino {}){}: no deferred release is known for its file\n",
                       indent, to_string(h.kind), h.write ? "write" : "read", h.pid, h.ino, via);
  }
  if (f.lock->nr_holders > f.lock->holders.size())
    out += fmt::format("{}({} conflicting locks in all; the first {} are shown)\n", indent, f.lock->nr_holders,
                       f.lock->holders.size());
  if (f.lock->layout_unknown)
    out += fmt::format("{}this kernel's lock layout is not known to fputrace: the holders were not read\n", indent);
  else if (f.lock->nr_holders == 0)
    out += fmt::format("{}the conflicting lock was gone by the time fputrace looked\n", indent);
  return out;
}

// "  12.3 EBUSY     exclusive open of /dev/loop0 (7:0) by mkfs (42): the device is claimed"
static std::string bdev_busy_line(const Finding& f) {
  return fmt::format("{} EBUSY     {}open of {} (block device {}) by {} ({}{}): the device is claimed", stamp(f.time_ns),
                     f.bdev->exclusive() ? "exclusive " : "", printable(full_path(f.mount, f.target_file)),
                     dev_name(f.bdev->rdev), printable(f.actor.comm), f.actor.tgid, printable(place_suffix(f.actor)));
}

static std::string bdev_busy_text(const Finding& f) {
  std::string out = bdev_busy_line(f) + "\n";
  const std::string indent(26, ' ');
  if (f.verdict == "deferred_release")
    out += fmt::format("{}its filesystem lives on in a detached mount (umount -l) held by {} deferred release(s):\n",
                       indent, f.pins.size());
  else if (f.verdict == "detached_teardown")
    out += fmt::format("{}its filesystem's detached mount lost its last pin just before; its teardown still holds "
                       "the device:\n",
                       indent);
  else if (f.verdict == "mounted")
    out += fmt::format("{}its filesystem is still mounted (umount it first); deferred releases on it:\n", indent);
  else
    out += fmt::format("{}fputrace saw no deferred release on a filesystem of it: a mount, an exclusive opener (mkfs, "
                       "dm, md, loop, swap) or a release that began before tracing holds it\n",
                       indent);
  for (const Pin& p : f.pins)
    out += fmt::format("{}- {} on {}, for {}\n", indent, pin_sentence(p), mount_name(p.mount),
                       ms(f.time_ns >= p.since_ns ? f.time_ns - p.since_ns : 0));
  return out;
}

std::string busy_repeat_text(const Finding& f) {
  std::string head = f.kind == Finding::Kind::LockBusy   ? lock_busy_line(f)
                     : f.kind == Finding::Kind::BdevBusy ? bdev_busy_line(f)
                                                         : umount_busy_line(f);
  return head + " again: same cause\n";
}

std::string finding_to_text(const Finding& f) {
  return finding_body_text(f) + incomplete_note(f);
}

std::string finding_body_text(const Finding& f) {
  switch (f.kind) {
    case Finding::Kind::UmountBusy: {
      std::string out = umount_busy_line(f) + "\n";
      if (f.live) return out + indented(busy_diagnosis_text(f), 26);
      if (f.pins.empty())
        return out +
               fmt::format("{:15}           no deferred release is in flight on it: something live holds it\n", "");
      out += fmt::format("{:15}           held by {} deferred release(s):\n", "", f.pins.size());
      for (const Pin& p : f.pins)
        out += fmt::format("{:15}           - {}, for {}\n", "", pin_sentence(p),
                           ms(f.time_ns >= p.since_ns ? f.time_ns - p.since_ns : 0));
      return out;
    }
    case Finding::Kind::Deferred:
      return fmt::format("{} deferred  {}\n", stamp(f.time_ns), pin_sentence(f.pins.at(0)));
    case Finding::Kind::PinReleased: {
      const Pin& p = f.pins.at(0);
      std::string after = f.after_busy_ns ? fmt::format(", {} after the last EBUSY", ms(*f.after_busy_ns)) : "";
      return fmt::format("{} released  {} (ino {}) on {} by {} ({}), held {}{} [{}]\n", stamp(f.time_ns),
                         printable(full_path(p.mount, p.file)), p.file.ino, mount_name(p.mount),
                         printable(f.actor.comm), f.actor.tid, ms(f.held_ns), after, to_string(f.release_confidence));
    }
    case Finding::Kind::LockBusy:
      return lock_busy_text(f);
    case Finding::Kind::DetachedPinned: {
      std::string out = fmt::format(
          "{} DETACHED  umount -l {} by {} ({}): the mount lives on, its filesystem is not shut down and its "
          "device stays claimed until {} deferred release(s) end:\n",
          stamp(f.time_ns), mount_name(f.mount), printable(f.actor.comm), f.actor.tgid, f.pins.size());
      for (const Pin& p : f.pins)
        out += fmt::format("{:15}           - {}, for {}\n", "", pin_sentence(p),
                           ms(f.time_ns >= p.since_ns ? f.time_ns - p.since_ns : 0));
      return out;
    }
    case Finding::Kind::BdevBusy:
      return bdev_busy_text(f);
    case Finding::Kind::DetachedReleased:
      return fmt::format("{} GONE      {}: its last pin was released by {} ({}), {} after {} [{}]\n", stamp(f.time_ns),
                         mount_name(f.mount), printable(f.actor.comm), f.actor.tid, ms(f.held_ns),
                         f.verdict == "after_umount" ? "the umount -l" : "it was first seen detached",
                         to_string(f.release_confidence));
    case Finding::Kind::Loss:
      return fmt::format(
          "{} LOST      {} record(s) dropped (ring buffer full), {} item(s) untracked (map full): "
          "findings around this time may be incomplete\n",
          stamp(f.time_ns), f.lost_records, f.lost_items);
  }
  return {};
}

}  // namespace fputrace
