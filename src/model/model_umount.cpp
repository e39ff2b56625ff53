// The model, part 4: umount, and the losses that mark the findings they touch.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "fputrace/model.hpp"

namespace fputrace {

std::vector<Finding> Model::on_loss(const Event& e) {
  // The BPF side only keeps the time of its latest loss; the first one of
  // this batch came after the last record we had.
  uint64_t from = std::min(last_event_ns_ ? last_event_ns_ : e.time_ns, e.time_ns);
  constexpr uint64_t kMergeNs = 1'000'000'000;
  if (!losses_.empty() && from <= losses_.back().second + kMergeNs)
    losses_.back().second = std::max(losses_.back().second, e.time_ns);
  else
    losses_.emplace_back(from, e.time_ns);
  constexpr size_t kMaxWindows = 256;
  if (losses_.size() > kMaxWindows) {
    lost_before_ns_ = losses_.front().second;
    losses_.erase(losses_.begin());
  }
  Finding f;
  f.kind = Finding::Kind::Loss;
  f.time_ns = e.time_ns;
  f.backend = e.backend;
  f.lost_records = e.ret > 0 ? static_cast<uint64_t>(e.ret) : 0;
  f.lost_items = e.detail;
  return {f};
}

bool Model::lost_between(uint64_t from_ns, uint64_t to_ns) const {
  if (lost_before_ns_ && from_ns <= lost_before_ns_) return true;
  for (const auto& [first, last] : losses_)
    if (first <= to_ns && last >= from_ns) return true;
  return false;
}

void Model::judge_completeness(Finding& f) const {
  if (f.kind == Finding::Kind::Loss) return;
  uint64_t from = f.time_ns;
  for (const Pin& p : f.pins) from = std::min(from, p.since_ns);
  if (f.kind == Finding::Kind::UmountBusy) {
    // A lost record may be a deferral or a registration from long before: the
    // window opens when the mount was first seen (or when tracing began).
    const uint64_t* seen = mount_first_seen_ns_.find(f.mount.id);
    from = seen ? std::min(from, *seen) : 0;
  }
  // A lock refused with no deferred release found: a lost record may have
  // been that deferral, from any time before.
  if (f.kind == Finding::Kind::LockBusy && f.pins.empty()) from = 0;
  f.complete = !lost_between(from, f.time_ns);
}

// ---- what happened to it ----

std::optional<MountRef> Model::umount_target(const Event& e, std::string& resolved_by) {
  const std::optional<UmountInfo>& u = e.umount;
  // The kernel names the mount in a namespace: whatever detached mount had
  // its id before is gone, and the id was given to this one.
  if (u && u->mount_known && u->mnt_ns) detached_.erase(u->mnt_id);
  if (u && u->mount_known) {
    resolved_by = "kernel";
    MountRef ref = name_mount(u->mnt_id);
    // Named at return: a mount the umount took away is in no namespace by
    // then, and its walk ends at itself ("/"); the name it had is better.
    bool walked_detached = e.ret == 0 && u->mount_path == "/";
    if (walked_detached && ref.path.empty() && !e.path.empty() && e.path[0] == '/') ref.path = e.path;
    if (!u->mount_path.empty() && !walked_detached) ref.path = u->mount_path;
    return ref;
  }
  if (u && u->resolved_mnt_id) {  // the collector found it in the caller's namespace
    resolved_by = "caller_namespace";
    MountRef ref = name_mount(*u->resolved_mnt_id);
    if (ref.path.empty()) ref.path = u->resolved_path;
    return ref;
  }
  std::string path = e.path;
  if (!path.empty() && path[0] != '/') {
    if (!u || u->cwd.empty()) {
      resolved_by = "unresolved";
      return std::nullopt;
    }
    path = joined_path(u->cwd, path);
    resolved_by = "caller_cwd";
  } else {
    resolved_by = "path";
  }
  auto m = mount_at(path);
  if (!m) resolved_by = "unresolved";
  return m;
}

// An EBUSY while a pin's __fput runs: the release was seen at __fput's entry,
// but the mount's reference is dropped only at its end (fentry and kprobe see
// the entry; on a busy host, or a descheduled vCPU, the gap is long enough for
// an umount). When the kernel's count at the EBUSY has references nothing else
// explains, the pins of this mount whose __fput began just before still hold
// them. Without a count (tracepoint backend) nothing is added: no guessing.
void Model::add_finishing_pins(Finding& busy, const Event& e) const {
  if (!e.umount || !e.umount->refs) return;
  int64_t unexplained =
      references_beyond(*e.umount->refs, static_cast<int64_t>(busy.pins.size() + e.umount->nr_children));
  size_t most = unexplained > 0 ? static_cast<size_t>(unexplained) : 0;
  // The count is read when umount returns. Back to what is expected, with no
  // pin and no child mount, yet EBUSY: a reference went between do_umount's
  // check and that read, and a release that ended in between is what drops
  // one (arm64 6.12: the count was 2, 3.5 ms after __fput began).
  if (most == 0 && busy.pins.empty() && e.umount->nr_children == 0) most = 1;
  if (most == 0) return;
  auto on_mount = [&](const Pin& p) { return p.mount.id == busy.mount.id; };
  auto explain = [](double ms) {
    return fmt::format(
        "; its release (__fput) began {:.3f} ms before this EBUSY and drops the mount's reference "
        "only at its end",
        ms);
  };
  for (Pin& p : finishing_pins(on_mount, e.time_ns, most, explain)) busy.pins.push_back(std::move(p));
}

std::vector<Finding> Model::on_umount(const Event& e) {
  if (e.ret != 0 && e.ret != -EBUSY) return {};
  std::string resolved_by;
  std::optional<MountRef> mount = umount_target(e, resolved_by);
  if (e.ret == -EBUSY) {
    Finding busy;
    busy.kind = Finding::Kind::UmountBusy;
    busy.time_ns = e.time_ns;
    busy.backend = e.backend;
    busy.actor = e.task;
    busy.kernel = e.umount;
    busy.resolved_by = resolved_by;
    if (!mount) {
      // Never dropped: say what was asked and that fputrace could not tell
      // which mount it was (docs/model.md lists when that happens).
      busy.mount = MountRef{0, e.path};
      busy.verdict = "unknown";
      return {busy};
    }
    last_busy_ns_[mount->id] = e.time_ns;
    busy.mount = *mount;
    busy.pins = pins_on(mount->id);
    add_finishing_pins(busy, e);
    bool children = e.umount && e.umount->nr_children > 0;
    busy.verdict = children ? "child_mounts" : busy.pins.empty() ? "unknown" : "deferred_release";
    return {busy};
  }
  if (!mount) return {};
  constexpr uint32_t kMntDetach = 2;                       // umount2's MNT_DETACH
  uint32_t flags = e.umount ? e.umount->flags : e.detail;  // old logs: in detail
  if (flags & kMntDetach) return on_detached(e, *mount);
  // Unmounted: whatever we still thought was pinned there is gone.
  std::vector<Finding> out;
  if (auto on = pins_on_mount_.find(mount->id); on != pins_on_mount_.end()) {
    std::set<uint64_t> left = on->second;
    for (uint64_t file : left) out.push_back(release_pin(file, e, Confidence::Inferred));
  }
  std::vector<uint64_t> stale;  // an unmount is rare: a walk over the files is fine
  for (const auto& [file, fs] : files_)
    if (fs.file.mnt_id == mount->id) stale.push_back(file);
  for (uint64_t file : stale) forget_file(file);
  last_busy_ns_.erase(mount->id);
  kernel_mount_paths_.erase(mount->id);
  kernel_mount_ns_.erase(mount->id);
  mount_first_seen_ns_.erase(mount->id);
  mounts_.forget(mount->id);
  return out;
}

// umount -l succeeded: the mount left its namespace at once, but the pins on
// it still hold it (and its superblock, and its block device). They stay;
// the mount is remembered by where it was until the last one goes.
std::vector<Finding> Model::on_detached(const Event& e, const MountRef& mount) {
  if (reports_gone_mount(mount.id)) return {};
  Detached d{e.time_ns, mount.path, true};
  detached_[mount.id] = d;
  last_busy_ns_.erase(mount.id);
  mounts_.forget(mount.id);  // out of every mount table now: its name lives in detached_
  auto on = pins_on_mount_.find(mount.id);
  if (on == pins_on_mount_.end() || on->second.empty()) return {};
  Finding f;
  f.kind = Finding::Kind::DetachedPinned;
  f.time_ns = e.time_ns;
  f.backend = e.backend;
  f.actor = e.task;
  f.mount = mount;
  f.mount.detached = true;
  f.verdict = "deferred_release";
  for (uint64_t file : on->second) {
    Pin& pin = pins_.at(file).pin;
    pin.mount.detached = true;
    if (pin.mount.path.empty()) pin.mount.path = mount.path;
    f.pins.push_back(pin);
  }
  return {f};
}

// A umount -l is recorded when it returns, after the kernel's RCU wait: the
// deferrals on the mount it detached may already have said "detached", and
// their releases have ended the mount, before its record comes. Remembering
// the name then would give it to the next mount that reuses the id (a loop of
// mounts does that at once). It is that mount if the newest gone mount with
// this id went without a traced umount and nothing spoke of the id since.
bool Model::reports_gone_mount(int32_t mnt_id) {
  if (auto on = pins_on_mount_.find(mnt_id); on != pins_on_mount_.end() && !on->second.empty()) return false;
  if (kernel_mount_paths_.find(mnt_id) || mount_first_seen_ns_.contains(mnt_id)) return false;
  for (auto it = gone_detached_.rbegin(); it != gone_detached_.rend(); ++it) {
    if (it->mount.id != mnt_id) continue;
    if (it->umount_seen || it->late_umount_seen) return false;
    it->late_umount_seen = true;
    return true;
  }
  return false;
}

void Model::note_detached_releases(std::vector<Finding>& out) {
  size_t n = out.size();
  for (size_t i = 0; i < n; ++i) {
    if (out[i].kind != Finding::Kind::PinReleased) continue;
    int32_t id = out[i].mount.id;
    const Detached* d = detached_.find(id);
    if (!d) continue;
    if (auto on = pins_on_mount_.find(id); on != pins_on_mount_.end() && !on->second.empty()) continue;
    Finding gone;
    gone.kind = Finding::Kind::DetachedReleased;
    gone.time_ns = out[i].time_ns;
    gone.backend = out[i].backend;
    gone.actor = out[i].actor;
    gone.mount = MountRef{id, d->path, 0, true};
    gone.held_ns = out[i].time_ns >= d->since_ns ? out[i].time_ns - d->since_ns : 0;
    gone.release_confidence = out[i].release_confidence;
    gone.verdict = d->umount_seen ? "after_umount" : "seen_detached";
    constexpr size_t kGoneKept = 64;
    gone_detached_.push_back(
        GoneDetached{gone.time_ns, out[i].pins.at(0).file.dev, gone.mount, out[i].pins.at(0), d->umount_seen});
    if (gone_detached_.size() > kGoneKept) gone_detached_.pop_front();
    detached_.erase(id);
    kernel_mount_paths_.erase(id);
    kernel_mount_ns_.erase(id);
    mount_first_seen_ns_.erase(id);
    mounts_.forget(id);
    out.push_back(std::move(gone));
  }
}

}  // namespace fputrace
