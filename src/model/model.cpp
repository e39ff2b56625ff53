// The model, part 1: dispatching events, the state it keeps (files, rings,
// mounts) within its caps, and the queries the collector asks. The handlers
// are in model_requests.cpp, model_pins.cpp and model_umount.cpp.
#include "fputrace/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <limits>

namespace fputrace {

std::string_view to_string(Source s) {
  switch (s) {
    case Source::IoUring:
      return "io_uring";
    case Source::Aio:
      return "aio";
    case Source::Exit:
      return "exit";
    case Source::Close:
      return "close";
    case Source::Other:
      return "other";
  }
  return "other";
}

std::string_view to_string(Holder h) {
  switch (h) {
    case Holder::IoUring:
      return "io_uring";
    case Holder::Aio:
      return "aio";
    case Holder::TaskWork:
      return "task_work";
    case Holder::DelayedFput:
      return "delayed_fput";
  }
  return "delayed_fput";
}

std::string_view to_string(Confidence c) {
  return c == Confidence::Observed ? "observed" : "inferred";
}

Model::Model(MountNames& mounts, ModelLimits limits)
    : mounts_(mounts),
      limits_(limits),
      kernel_mount_paths_(limits.mounts),
      kernel_mount_ns_(limits.mounts),
      rings_(limits.rings),
      requests_(limits.requests),
      last_busy_ns_(limits.mounts),
      detached_(limits.mounts),
      mount_first_seen_ns_(limits.mounts) {}

std::vector<Finding> Model::apply(const Event& e) {
  now_ns_ = e.time_ns;
  expire_retired(e.time_ns);
  std::vector<Finding> out;
  // One compare per record; the walk only when one is due.
  if (!maybe_taken_.empty() && e.type != EventType::Loss && e.time_ns >= next_settle_ns_)
    out = settle_teardowns(e.time_ns, false);
  for (Finding& f : notice_reuse(e)) out.push_back(std::move(f));
  for (Finding& f : dispatch(e)) out.push_back(std::move(f));
  note_detached_releases(out);
  if (e.type != EventType::Loss) last_event_ns_ = std::max(last_event_ns_, e.time_ns);
  for (Finding& f : out) judge_completeness(f);
  enforce_caps();
  return out;
}

// A record names a file address we know as another file (other inode): the
// kernel freed the old struct file and reused its memory, so the old file had
// been released even if we did not see it (on the tracepoint backend a release
// is only inferred from a delayed_fput run, and runs are reported sparingly).
// Its pin ends here, inferred; left in place it would take the new file's
// place and hide the new file's own pin.
std::vector<Finding> Model::notice_reuse(const Event& e) {
  if (!e.file.ptr || !e.file.ino) return {};
  auto it = files_.find(e.file.ptr);
  if (it == files_.end()) return {};
  const FileRef& known = it->second.file;
  if (!known.ino || (known.ino == e.file.ino && known.dev == e.file.dev)) return {};
  std::vector<Finding> out;
  if (pins_.count(e.file.ptr)) out.push_back(release_pin(e.file.ptr, e, Confidence::Inferred));
  forget_file(e.file.ptr);
  return out;
}

std::vector<Finding> Model::dispatch(const Event& e) {
  switch (e.type) {
    case EventType::RingFile:
      return on_ring_file(e);
    case EventType::UringReq:
      return on_uring_req(e);
    case EventType::UringDone:
      return on_uring_done(e);
    case EventType::RingExit:
      return on_ring_exit(e, false);
    case EventType::RingExitEnd:
      return on_ring_exit(e, true);
    case EventType::AioSubmit:
      return on_aio_submit(e);
    case EventType::AioDone:
      return on_aio_done(e);
    case EventType::Deferred:
      return on_deferred(e);
    case EventType::Released:
      return on_released(e);
    case EventType::DelayedRun:
      return on_delayed_run(e, false);
    case EventType::DelayedRunEnd:
      return on_delayed_run(e, true);
    case EventType::TaskExit:
      return on_task_exit(e);
    case EventType::Umount:
      return on_umount(e);
    case EventType::PendingAtExit:
      return on_pending_at_exit(e);
    case EventType::Loss:
      return on_loss(e);
    case EventType::LockBusy:
      return on_lock_busy(e);
    case EventType::BdevBusy:
      return on_bdev_busy(e);
  }
  return {};
}

std::vector<Pin> Model::pins_on(int32_t mnt_id) const {
  std::vector<Pin> out;
  auto on = pins_on_mount_.find(mnt_id);
  if (on == pins_on_mount_.end()) return out;
  for (uint64_t file : on->second) out.push_back(pins_.at(file).pin);  // by file address, as always
  return out;
}

std::vector<Pin> Model::pins_on_device(uint32_t dev, std::optional<uint64_t> ino) const {
  std::vector<Pin> out;
  for (const auto& [file, entry] : pins_)  // asked once per `busy`: a walk is fine
    if (entry.pin.file.dev == dev && (!ino || entry.pin.file.ino == *ino)) out.push_back(entry.pin);
  return out;
}

ModelEvictions Model::evictions() const {
  ModelEvictions e = evicted_;
  e.rings = rings_.evictions();
  e.requests = requests_.evictions();
  e.mounts = kernel_mount_paths_.evictions() + last_busy_ns_.evictions();
  return e;
}

ModelSize Model::size() const {
  return {files_.size(), pins_.size(), rings_.size(), requests_.size(),
          kernel_mount_paths_.size() + last_busy_ns_.size()};
}

// Kernel-internal mounts (pipefs, anon_inodefs, aio, sockfs) have no place in
// any mount namespace: the kernel's walk ends at once and names them "/". Only
// the namespace's own root mount is "/" in /proc too.
bool Model::internal_mount(const FileRef& f) {
  if (f.mount_detached || f.mount_path != "/") return false;
  auto m = mounts_.by_id(f.mnt_id);
  return !m || m->path != "/";
}

Model::FileState& Model::remember_file(const FileRef& f) {
  if (f.mount_detached) {
    // Its kernel path is only "/" now: keep the name it had, if known.
    if (!detached_.contains(f.mnt_id)) {
      const std::string* was = kernel_mount_paths_.find(f.mnt_id);
      detached_[f.mnt_id] = Detached{now_ns_, was ? *was : "", false};
    }
  } else if (!f.mount_path.empty() && !internal_mount(f)) {
    // Attached again under a known detached id: the id was reused by a new mount.
    if (f.ptr) detached_.erase(f.mnt_id);
    kernel_mount_paths_[f.mnt_id] = f.mount_path;
    kernel_mount_ns_[f.mnt_id] = f.mount_ns;
  }
  // The evidence window of an EBUSY opens when a record first spoke of its
  // mount (a umount naming it does not count).
  if (!mount_first_seen_ns_.contains(f.mnt_id)) mount_first_seen_ns_[f.mnt_id] = now_ns_;
  auto [it, fresh] = files_.try_emplace(f.ptr);
  FileState& fs = it->second;
  if (fresh) {
    fs.seq = ++seq_;
    file_order_.push_back({fs.seq, f.ptr});
  }
  // Keep a known path if a later record carried none.
  std::string path = fs.file.path.empty() ? f.path : fs.file.path;
  if (!f.path.empty()) path = f.path;
  fs.file = f;
  fs.file.path = path;
  return fs;
}

Model::RingState& Model::ring_of(uint64_t ring, const Task& owner, uint64_t file) {
  RingState& r = rings_[ring];
  if (r.files.empty()) r.owner = owner;
  r.files.insert(file);
  return r;
}

MountRef Model::name_mount(int32_t mnt_id) {
  MountRef ref{mnt_id, ""};
  if (const Detached* d = detached_.find(mnt_id)) {
    ref.detached = true;
    ref.path = d->path;
    return ref;
  }
  if (const std::string* k = kernel_mount_paths_.find(mnt_id)) {
    ref.path = *k;
    ref.mntns = kernel_mount_ns(mnt_id);
  } else if (auto m = mounts_.by_id(mnt_id))
    ref.path = m->path;
  return ref;
}

uint64_t Model::kernel_mount_ns(int32_t mnt_id) const {
  const uint64_t* ns = kernel_mount_ns_.find(mnt_id);
  return ns ? *ns : 0;
}

std::optional<MountRef> Model::mount_at(const std::string& raw) {
  std::string path = raw;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::optional<MountRef> found;
  kernel_mount_paths_.for_each([&](int32_t id, const std::string& p) {
    if (!found && p == path) found = MountRef{id, p, kernel_mount_ns(id)};
  });
  if (found) return found;
  if (auto m = mounts_.by_path(path)) return MountRef{m->id, m->path};
  return std::nullopt;
}

// ---- who a file belongs to ----

void Model::set_origin(uint64_t file, FileState& fs, const Origin& o, bool owner_gone) {
  unindex_owner(file, fs);
  fs.origin = o;
  unretire(file, fs);
  // A live owner's exit will decide what becomes of the file; a gone owner's
  // already did.
  if (!owner_gone) files_of_tgid_[o.task.tgid].insert(file);
}

void Model::unindex_owner(uint64_t file, const FileState& fs) {
  if (!fs.origin) return;
  auto owned = files_of_tgid_.find(fs.origin->task.tgid);
  if (owned == files_of_tgid_.end()) return;
  owned->second.erase(file);
  if (owned->second.empty()) files_of_tgid_.erase(owned);
}

void Model::retire(uint64_t file, FileState& fs, uint64_t now) {
  if (fs.retired_at || pins_.count(file)) return;
  fs.retired_at = now ? now : 1;
  retired_.insert({fs.retired_at, file});
}

void Model::unretire(uint64_t file, FileState& fs) {
  if (!fs.retired_at) return;
  retired_.erase({fs.retired_at, file});
  fs.retired_at = 0;
}

void Model::expire_retired(uint64_t now) {
  while (!retired_.empty() && retired_.begin()->first + limits_.retire_after_ns <= now) {
    uint64_t file = retired_.begin()->second;
    auto fs = files_.find(file);
    if (fs == files_.end() || pins_.count(file)) {  // not ours to drop any more
      retired_.erase(retired_.begin());
      continue;
    }
    forget_file(file);
    ++evicted_.retired;
  }
}

// Over a cap, the oldest goes: unpinned file states first, then pins, which
// are counted apart because each one is an explanation lost.
void Model::enforce_caps() {
  while (files_.size() - pins_.size() > limits_.files) {
    auto [seq, file] = file_order_.front();
    file_order_.pop_front();
    auto fs = files_.find(file);
    if (fs == files_.end() || fs->second.seq != seq || pins_.count(file)) continue;  // not an unpinned state now
    forget_file(file);
    ++evicted_.files;
  }
  while (pins_.size() > limits_.pins) {
    auto [seq, file] = pin_order_.front();
    pin_order_.pop_front();
    auto pin = pins_.find(file);
    if (pin == pins_.end() || pin->second.seq != seq) continue;
    drop_pin(file);
    forget_file(file);
    ++evicted_.pins;
  }
  compact_orders();
}

// The order queues drop their stale entries only when met: rebuild them when
// stale ones are the majority, so they stay proportional to what is kept.
void Model::compact_orders() {
  if (file_order_.size() > 2 * files_.size() + 4096) {
    std::vector<Key> live;
    for (const auto& [file, fs] : files_) live.push_back({fs.seq, file});
    std::sort(live.begin(), live.end());
    file_order_.assign(live.begin(), live.end());
  }
  if (pin_order_.size() > 2 * pins_.size() + 4096) {
    std::vector<Key> live;
    for (const auto& [file, p] : pins_) live.push_back({p.seq, file});
    std::sort(live.begin(), live.end());
    pin_order_.assign(live.begin(), live.end());
  }
}

// Drops everything known of a file, unless a pin still holds it (a pin is
// only ever dropped by its release or, counted, by the cap).
void Model::forget_file(uint64_t file) {
  auto it = files_.find(file);
  if (it == files_.end() || pins_.count(file)) return;
  FileState& fs = it->second;
  if (fs.origin) {
    unindex_owner(file, fs);
    if (RingState* ring = rings_.find(fs.origin->ring)) {
      ring->files.erase(file);
      if (ring->files.empty()) drop_ring(fs.origin->ring);
    }
  }
  unretire(file, fs);
  files_.erase(it);
}

void Model::drop_ring(uint64_t ring) {
  RingState* r = rings_.find(ring);
  if (!r) return;
  for (uint64_t req : r->requests) {
    Request* q = requests_.find(req);
    if (q && q->ring == ring) requests_.erase(req);  // an address reused on another ring is not ours
  }
  rings_.erase(ring);
}

std::string full_path(const MountRef& mount, const FileRef& file) {
  std::string inside = file.path.empty() ? "" : file.path;
  if (file.path_truncated) inside = "/..." + inside;
  if (inside.empty()) return mount.path.empty() ? "" : mount.path + "/?";
  if (mount.path.empty() || mount.path == "/") return inside;
  return mount.path + inside;
}

}  // namespace fputrace
