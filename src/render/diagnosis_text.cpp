#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "fputrace/containers.hpp"
#include "fputrace/diagnosis_out.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/findings_out.hpp"

namespace fputrace {

// ---------------------------------------------------------------- text

namespace {

constexpr size_t kMaxLines = 10;

// Names from procfs are bytes: printable() before they reach a terminal.
std::string who(const LiveHolder& h) {
  return fmt::format("{} (pid {}{})", printable(h.comm), h.tgid, printable(place_suffix(holder_task(h))));
}
std::string kill(const LiveHolder& h) {
  return fmt::format("kill PID {} ({})", h.tgid, printable(h.comm));
}

// Indented lines, at most kMaxLines of them, then how many were left out.
template <typename T, typename F>
std::string bullet_list(const std::vector<T>& items, F line) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < kMaxLines; ++i) out += "    " + line(items[i]) + "\n";
  if (items.size() > kMaxLines) out += fmt::format("    ... and {} more\n", items.size() - kMaxLines);
  return out;
}

std::string mount_name(const MountRef& m) {
  return fmt::format("{} (mount {})", m.path.empty() ? "?" : printable(m.path), m.id);
}

std::string holders_paragraph(const MountRef& m, const LiveCauses& c) {
  std::set<uint32_t> pids;
  for (const auto& h : c.holders) pids.insert(h.tgid);
  return fmt::format("Live holders: {} process(es) hold {}:\n", pids.size(), mount_name(m)) +
         bullet_list(c.holders, holder_line);
}

std::string submounts_paragraph(const MountRef& m, const LiveCauses& c) {
  return fmt::format("Submounts: {} has {} mount(s) on top of it; umount them first (or `umount -R {}`):\n",
                     mount_name(m), c.submounts.size(), printable(m.path)) +
         bullet_list(c.submounts,
                     [](const MountRef& s) { return fmt::format("umount the submount {} first.", printable(s.path)); });
}

std::string propagation_line(const PropagationCause& p) {
  std::string where = p.ns_pid ? fmt::format("in the mount namespace of pid {}", p.ns_pid) : "in this namespace";
  std::string out =
      fmt::format("copy {} {} (parent's peer group {}) is held:", mount_name(p.copy), where, p.peer_group);
  for (size_t i = 0; i < p.holders.size() && i < kMaxLines; ++i) out += " " + holder_line(p.holders[i]);
  return out;
}

std::string propagation_paragraph(const MountRef& m, const LiveCauses& c) {
  return fmt::format(
             "Propagation: umount of {} also takes down its copies under the parent's peers, and "
             "live processes hold some; stop them:\n",
             mount_name(m)) +
         bullet_list(c.propagation, propagation_line);
}

std::string deferred_paragraph(const MountRef& m, const std::vector<std::string>& lines) {
  return fmt::format(
             "Deferred releases: {} file(s) on {} are closed but not yet released by the kernel; wait: the "
             "deferred release usually finishes within a few ms; `fputrace umount` waits for it:\n",
             lines.size(), mount_name(m)) +
         bullet_list(lines, [](const std::string& l) { return l; });
}

std::string unknown_paragraph(const MountRef& m) {
  return fmt::format(
      "Unknown: nothing visible holds {}: no process has a file, directory or mapping on it, no "
      "submount, no busy copy, no deferred release in flight. Look for what /proc does not show: a "
      "loop device or swap file backed by it, an nfsd export, a kernel user, or a release in flight "
      "that started before tracing.\n",
      mount_name(m));
}

}  // namespace

std::string diagnosis_text(const MountRef& mount, std::string_view verdict, const LiveCauses& causes,
                           const std::vector<std::string>& deferred_pin_lines) {
  // In precedence order; the verdict's paragraph is moved to the front.
  std::vector<std::pair<std::string_view, std::string>> parts;
  if (!causes.submounts.empty()) parts.emplace_back("child_mounts", submounts_paragraph(mount, causes));
  if (!causes.holders.empty()) parts.emplace_back("live_holder", holders_paragraph(mount, causes));
  if (!causes.propagation.empty()) parts.emplace_back("propagation", propagation_paragraph(mount, causes));
  if (!deferred_pin_lines.empty())
    parts.emplace_back("deferred_release", deferred_paragraph(mount, deferred_pin_lines));
  if (parts.empty() || verdict == "unknown") parts.emplace_back("unknown", unknown_paragraph(mount));
  std::stable_partition(parts.begin(), parts.end(), [&](const auto& p) { return p.first == verdict; });

  std::string out;
  for (const auto& [kind, text] : parts) out += (out.empty() ? "" : "\n") + text;
  if (causes.unreadable_pids > 0)
    out += fmt::format(
        "\n{} process(es) could not be inspected (permission denied{}).\n", causes.unreadable_pids,
        ::geteuid() == 0 ? ", even to root: a sandbox or security module hides them" : "; run as root to see them");
  return out;
}

std::string holder_line(const LiveHolder& h) {
  const std::string path = printable(h.path);
  switch (h.source) {
    case HoldKind::Fd:
      return fmt::format("{} has {} open as fd {}: {} or close {}.", who(h), path, h.fd, kill(h), path);
    case HoldKind::Cwd:
      return fmt::format("{} has its working directory in {}: {} or make it cd elsewhere.", who(h), path, kill(h));
    case HoldKind::Root:
      return fmt::format("{} has its root directory in {} (chroot or container): {}.", who(h), path, kill(h));
    case HoldKind::Exe:
      return fmt::format("{} runs the program {}: {}.", who(h), path, kill(h));
    case HoldKind::Mmap:
      return fmt::format("{} has {} mapped into memory: {}.", who(h), path, kill(h));
  }
  return "";
}

std::vector<std::string> pin_lines(const std::vector<Pin>& pins, uint64_t now_ns) {
  std::vector<std::string> lines;
  for (const Pin& p : pins) {
    double held_ms = now_ns >= p.since_ns ? static_cast<double>(now_ns - p.since_ns) / 1e6 : 0.0;
    lines.push_back(fmt::format("{} (ino {}) from {} (pid {}{}) via {}, held by {} for {:.1f} ms [{}]: {}",
                                printable(full_path(p.mount, p.file)), p.file.ino, printable(p.origin.comm),
                                p.origin.tgid, printable(place_suffix(p.origin)), to_string(p.source),
                                to_string(p.holder), held_ms, to_string(p.confidence), printable(p.why)));
  }
  return lines;
}

namespace {

// The kernel's count at the EBUSY against the references fputrace can name.
std::string references_text(const LiveDiagnosis& d) {
  if (!d.kernel_count) return "";
  int64_t unexplained = std::max<int64_t>(references_beyond(*d.kernel_count, d.references_explained), 0);
  if (unexplained == 0)
    return fmt::format("\nReferences: fully explained (the kernel counted {} at the EBUSY).\n", *d.kernel_count);
  return fmt::format(
      "\nReferences: {} unexplained (the kernel counted {} at the EBUSY): something fputrace cannot see holds "
      "the mount (a loop device, swap, a kernel user).\n",
      unexplained, *d.kernel_count);
}

}  // namespace

std::string busy_diagnosis_text(const Finding& busy) {
  if (!busy.live) return "";
  const LiveDiagnosis& d = *busy.live;
  std::string out = diagnosis_text(busy.mount, busy.verdict, d.causes, pin_lines(busy.pins, busy.time_ns));
  out += references_text(d);
  if (!d.scanned)
    out += "\n(the mount was gone before its processes could be looked at)\n";
  else if (d.after_ebusy)
    out += fmt::format("\n(processes were looked at {:.1f} ms after the EBUSY)\n", d.scan_after_ms);
  return out;
}

std::string busy_report_text(const Finding& busy) {
  return busy.live ? busy_diagnosis_text(busy) + "\n" : finding_to_text(busy);
}

}  // namespace fputrace
