#include <fmt/format.h>

#include "fputrace/findings_out.hpp"

namespace fputrace {

namespace {

std::string ms(uint64_t ns) { return fmt::format("{:.3f} ms", static_cast<double>(ns) / 1e6); }

std::string seconds(uint64_t ns) { return fmt::format("{:.6f}", static_cast<double>(ns) / 1e9); }

std::string who(const Pin& p) {
  if (!p.origin_known) return fmt::format("no known owner (dropped by {} {})", p.origin.comm, p.origin.tid);
  return fmt::format("{} (pid {}, tid {})", p.origin.comm, p.origin.tgid, p.origin.tid);
}

std::string mount_name(const MountRef& m) {
  return fmt::format("{} (mount {})", m.path.empty() ? "?" : m.path, m.id);
}

std::string pin_line(const Pin& p) {
  return fmt::format("{} ino {} from {} via {}; held by {} since {} [{}]: {}", full_path(p.mount, p.file),
                     p.file.ino, who(p), to_string(p.source), to_string(p.holder), seconds(p.since_ns),
                     to_string(p.confidence), p.why);
}

}  // namespace

std::string finding_to_text(const Finding& f) {
  switch (f.kind) {
    case Finding::Kind::UmountBusy: {
      std::string out = fmt::format("{} UMOUNT BUSY  {} by {} ({}): ", seconds(f.time_ns), mount_name(f.mount),
                                    f.actor.comm, f.actor.tgid);
      if (f.pins.empty()) return out + "no deferred release in flight explains it\n";
      out += fmt::format("{} deferred release(s) still hold it\n", f.pins.size());
      for (const Pin& p : f.pins) out += "    " + pin_line(p) + "\n";
      return out;
    }
    case Finding::Kind::Deferred:
      return fmt::format("{} DEFERRED     {}\n", seconds(f.time_ns), pin_line(f.pins.at(0)));
    case Finding::Kind::PinReleased: {
      const Pin& p = f.pins.at(0);
      std::string after = f.after_busy_ns ? fmt::format(", {} after the EBUSY", ms(*f.after_busy_ns)) : "";
      return fmt::format("{} RELEASED     {} ino {} on {} by {} ({}) after {}{} [{}]\n", seconds(f.time_ns),
                         full_path(p.mount, p.file), p.file.ino, mount_name(p.mount), f.actor.comm, f.actor.tid,
                         ms(f.held_ns), after, to_string(f.release_confidence));
    }
  }
  return {};
}

}  // namespace fputrace
