// The model, part 5: what else a deferred release keeps busy besides umount:
// file locks, and block devices (their filesystem's detached mount).
//
// flock and OFD locks belong to the open file (struct file) and go away only
// in __fput (locks_remove_file). The BPF side names the file each conflicting
// lock lives on; when that file is pinned, the lock is the pin's too.
#include <fmt/format.h>

#include "fputrace/model.hpp"

namespace fputrace {

std::optional<Pin> Model::lock_holder_pin(const LockHolder& h, uint64_t now) const {
  if (!h.file) return std::nullopt;
  auto same_inode = [&](const Pin& p) { return !h.ino || !p.file.ino || p.file.ino == h.ino; };
  if (auto it = pins_.find(h.file); it != pins_.end() && same_inode(it->second.pin)) return it->second.pin;
  // __fput began (the release was seen at its entry) but has not yet reached
  // locks_remove_file: the lock is still on the list for a moment.
  auto same_file = [&](const Pin& p) { return p.file.ptr == h.file && same_inode(p); };
  auto explain = [](double ms) {
    return fmt::format("; its release (__fput) began {:.3f} ms before and removes the lock near its start", ms);
  };
  auto found = finishing_pins(same_file, now, 1, explain);
  if (found.empty()) return std::nullopt;
  return found.front();
}

std::optional<Pin> Model::same_inode_release(const Event& e) const {
  if (!e.file.ino) return std::nullopt;
  auto same = [&](const Pin& p) { return p.file.ino == e.file.ino && p.file.dev == e.file.dev; };
  for (const auto& [file, entry] : pins_) {  // a rare event: a walk over the pins is fine
    if (file == e.file.ptr || !same(entry.pin)) continue;
    Pin p = entry.pin;
    p.confidence = Confidence::Inferred;
    p.why +=
        "; the conflicting lock was gone when fputrace read the list: this deferred release of the same "
        "inode is taken for its holder";
    return p;
  }
  auto explain = [](double ms) {
    return fmt::format(
        "; the conflicting lock was gone when fputrace read the list: this release of the same inode began {:.3f} "
        "ms before and removed it",
        ms);
  };
  auto found = finishing_pins(same, e.time_ns, 1, explain);
  if (found.empty()) return std::nullopt;
  return found.front();
}

std::vector<Finding> Model::on_lock_busy(const Event& e) {
  if (!e.lock) return {};
  Finding f;
  f.kind = Finding::Kind::LockBusy;
  f.time_ns = e.time_ns;
  f.backend = e.backend;
  f.actor = e.task;
  f.lock = e.lock;
  f.target_file = e.file;
  f.mount = name_mount(e.file.mnt_id);
  if (!e.file.mount_path.empty()) f.mount.path = e.file.mount_path;
  for (const LockHolder& h : e.lock->holders)
    if (auto pin = lock_holder_pin(h, e.time_ns)) f.pins.push_back(std::move(*pin));
  // The lock list was read after the refusal, outside the kernel's lock: a
  // deferred release that reached locks_remove_file on another CPU in between
  // leaves no holder to read. A release of the same inode then is the lock's.
  if (f.pins.empty() && e.lock->nr_holders == 0 && !e.lock->layout_unknown)
    if (auto pin = same_inode_release(e)) f.pins.push_back(std::move(*pin));
  if (!f.pins.empty())
    f.verdict = "deferred_release";
  else if (e.lock->nr_holders > 0)
    f.verdict = "other_holder";
  else
    f.verdict = "unknown";
  return {f};
}

// A block device refused with EBUSY: is a filesystem on it kept alive by a
// deferred release? Files name their superblock's device (FileRef::dev), the
// same number as the device node's rdev.
std::vector<Finding> Model::on_bdev_busy(const Event& e) {
  if (!e.bdev) return {};
  Finding f;
  f.kind = Finding::Kind::BdevBusy;
  f.time_ns = e.time_ns;
  f.backend = e.backend;
  f.actor = e.task;
  f.bdev = e.bdev;
  f.target_file = e.file;
  f.mount = MountRef{e.file.mnt_id, e.file.mount_path};
  bool detached = false;
  for (const auto& [file, entry] : pins_) {  // a rare event: a walk over the pins is fine
    if (entry.pin.file.dev != e.bdev->rdev) continue;
    f.pins.push_back(entry.pin);
    detached = detached || entry.pin.mount.detached;
  }
  if (!f.pins.empty()) {
    f.verdict = detached ? "deferred_release" : "mounted";
    return {f};
  }
  // The last pin of a detached mount of it went just before: the mount's
  // teardown (delayed_mntput, then the filesystem's shutdown) runs on a
  // kworker a jiffy or two later and still claims the device.
  constexpr uint64_t kTeardownNs = 2'000'000'000;  // journal commit, writeback: slow on real disks
  for (auto it = gone_detached_.rbegin(); it != gone_detached_.rend(); ++it) {
    if (it->dev != e.bdev->rdev || it->time_ns > e.time_ns || e.time_ns - it->time_ns > kTeardownNs) continue;
    Pin p = it->last_pin;
    p.confidence = Confidence::Inferred;
    p.why += fmt::format(
        "; released {:.3f} ms before, the last pin of the detached mount: its teardown (delayed_mntput, then "
        "the filesystem's shutdown) still claims the device",
        static_cast<double>(e.time_ns - it->time_ns) / 1e6);
    f.pins.push_back(std::move(p));
    f.verdict = "detached_teardown";
    return {f};
  }
  f.verdict = "unknown";
  return {f};
}

}  // namespace fputrace
