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
      mount_first_seen_ns_(limits.mounts) {}

std::vector<Finding> Model::apply(const Event& e) {
  now_ns_ = e.time_ns;
  expire_retired(e.time_ns);
  std::vector<Finding> out = notice_reuse(e);
  for (Finding& f : dispatch(e)) out.push_back(std::move(f));
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
  if (f.mount_path != "/") return false;
  auto m = mounts_.by_id(f.mnt_id);
  return !m || m->path != "/";
}

Model::FileState& Model::remember_file(const FileRef& f) {
  if (!f.mount_path.empty() && !internal_mount(f)) {
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

std::string Model::registration(const Origin& o) {
  return fmt::format("registered with io_uring ring {:#x}{}", o.ring,
                     o.found_at_exit ? " (registration found at exit, not seen when it happened)" : "");
}

std::vector<Finding> Model::on_ring_file(const Event& e) {
  bool at_exit = (e.detail & kRingFileAtExit) != 0;
  FileState& fs = remember_file(e.file);
  if (at_exit && fs.origin && fs.origin->registered && fs.origin->task.tgid == e.task.tgid &&
      (fs.origin->ring == e.ring || fs.origin->ring == 0)) {
    // The registration was seen when it happened: keep that, but learn the
    // ring if it was registered by index (no fd to name it then).
    if (fs.origin->ring == 0 && e.ring) {
      if (RingState* old = rings_.find(0)) {
        old->files.erase(e.file.ptr);
        if (old->files.empty()) rings_.erase(0);
      }
      fs.origin->ring = e.ring;
      ring_of(e.ring, fs.origin->task, e.file.ptr);
    }
    return {};
  }
  set_origin(e.file.ptr, fs, Origin{e.task, Source::IoUring, e.ring, true, e.time_ns, at_exit});
  ring_of(e.ring, e.task, e.file.ptr);
  name_mount(e.file.mnt_id);  // name it while it surely exists
  return {};
}

std::vector<Finding> Model::on_uring_req(const Event& e) {
  FileState& fs = remember_file(e.file);
  if (!fs.origin || !fs.origin->registered)
    set_origin(e.file.ptr, fs, Origin{e.task, Source::IoUring, e.ring, false, e.time_ns});
  if (fs.pending_uring < std::numeric_limits<int>::max()) fs.pending_uring++;  // after a huge pending_at_exit count
  RingState& ring = ring_of(e.ring, e.task, e.file.ptr);
  if (e.req) {
    requests_[e.req] = Request{e.file.ptr, e.ring};
    ring.requests.insert(e.req);
    // Requests the cap evicted (or whose address another ring took) linger
    // here: prune them now and then, so this set stays within the cap too.
    if (ring.requests.size() > 2 * limits_.requests)
      std::erase_if(ring.requests, [&](uint64_t req) {
        const Request* q = requests_.find(req);
        return !q || q->ring != e.ring;
      });
  }
  name_mount(e.file.mnt_id);
  return {};
}

std::vector<Finding> Model::on_uring_done(const Event& e) {
  uint64_t file = e.file.ptr;
  if (file) {
    // Sent by the kernel side only for a completion on a kernel thread after
    // the owner's process exited.
    if (internal_mount(e.file)) return {};
    FileState& fs = remember_file(e.file);
    learn_owner(fs, e);
    if (fs.pending_uring > 0) fs.pending_uring--;
  } else {
    // Old logs: a uring_done for every tracked request.
    Request* req = requests_.find(e.req);
    if (!req) return {};
    file = req->file;
    if (RingState* ring = rings_.find(req->ring)) ring->requests.erase(e.req);
    requests_.erase(e.req);
    auto it = files_.find(file);
    if (it == files_.end()) return {};
    if (it->second.pending_uring > 0) it->second.pending_uring--;
  }
  FileState& fs = files_.at(file);
  std::optional<Finding> f;
  if (e.task.kernel_thread()) {
    // Completed on a kernel thread (the ring's exit work): the request's
    // reference is dropped there, and a kernel thread's last fput always goes
    // to the delayed_fput list. With fput probes we wait to see it instead.
    fs.done_on_kthread = true;
    RingState* ring = rings_.find(e.ring);
    if (ring && ring->torn_down) {
      // The exit work posts the completion, but frees the request (and drops
      // its file) later, by the time it returns: the file reaches the
      // delayed_fput list by the exit work's end (pins_for_teardown), and a
      // delayed_fput run before that end may not have released it.
      ring->files.insert(file);
    } else if (!sees_releases(e.backend)) {
      f = set_pin(e, file, Holder::DelayedFput, Confidence::Inferred,
                  fmt::format("io_uring request completed on kernel thread {} ({})", e.task.comm, e.task.tid));
    }
  }
  // The owner's process is gone: unless a pin holds the file, only a deferral
  // shortly after can still need what we know of it.
  if (e.owner && e.owner->gone) retire(file, fs, e.time_ns);
  if (f) return {*f};
  return {};
}

std::vector<Finding> Model::on_aio_submit(const Event& e) {
  FileState& fs = remember_file(e.file);
  set_origin(e.file.ptr, fs, Origin{e.task, Source::Aio, e.ring, false, e.time_ns});
  fs.pending_aio++;
  name_mount(e.file.mnt_id);
  return {};
}

std::vector<Finding> Model::on_aio_done(const Event& e) {
  auto it = files_.find(e.file.ptr);
  if (it != files_.end() && it->second.pending_aio > 0) it->second.pending_aio--;
  return {};
}

void Model::learn_owner(FileState& fs, const Event& e) {
  if (!e.owner) return;
  const Owner& o = *e.owner;
  Origin origin;
  origin.task = o.task;
  origin.source = o.kind == OwnerKind::Aio ? Source::Aio : Source::IoUring;
  origin.ring = o.ring;
  origin.registered = o.kind == OwnerKind::UringRegistered;
  origin.time_ns = o.since_ns;
  origin.found_at_exit = o.found_at_exit;
  // A registration the model saw keeps its richer history.
  if (fs.origin && fs.origin->registered && origin.registered && fs.origin->task.tgid == origin.task.tgid) return;
  set_origin(e.file.ptr, fs, origin, o.gone);
  if (o.ring && o.kind != OwnerKind::Aio) ring_of(o.ring, o.task, e.file.ptr);
}

std::vector<Finding> Model::on_pending_at_exit(const Event& e) {
  if (internal_mount(e.file)) return {};
  FileState& fs = remember_file(e.file);
  learn_owner(fs, e);
  fs.pending_uring = static_cast<int>(std::clamp<int64_t>(e.ret, 1, std::numeric_limits<int>::max()));
  name_mount(e.file.mnt_id);
  bool unsure = e.owner && e.owner->no_completions;
  std::string why = unsure ? fmt::format(
                                 "{} io_uring request(s) submitted and not seen completing (this kernel's completion "
                                 "tracepoint does not name requests) at exit",
                                 fs.pending_uring)
                           : fmt::format("{} io_uring request(s) in flight at exit", fs.pending_uring);
  auto f = set_pin(e, e.file.ptr, Holder::IoUring, Confidence::Inferred, why);
  if (f) return {*f};
  return {};
}

// ---- losses ----

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
  f.complete = !lost_between(from, f.time_ns);
}

// ---- what happened to it ----

std::vector<Finding> Model::on_ring_exit(const Event& e, bool end) {
  RingState* ring = rings_.find(e.ring);
  if (!ring) return {};
  ring->torn_down = true;
  std::vector<Finding> out;
  if (!sees_releases(e.backend)) out = pins_for_teardown(e, *ring, end);  // else fput probes report each file
  // The ring is freed once its exit work returns (its requests are done): its
  // address may come back as another ring.
  if (end) drop_ring(e.ring);
  return out;
}

// Without fput probes: the ring's exit work drops its fixed files and
// cancelled requests on a kworker, so their last fput lands on the
// delayed_fput list. That is inferred from the teardown we saw.
std::vector<Finding> Model::pins_for_teardown(const Event& e, const RingState& ring, bool end) {
  std::vector<Finding> out;
  for (uint64_t file : ring.files) {
    auto fs = files_.find(file);
    if (fs == files_.end() || !fs->second.origin) continue;
    bool held = fs->second.origin->registered || fs->second.pending_uring > 0 || fs->second.done_on_kthread;
    if (!held) continue;
    Holder holder = end ? Holder::DelayedFput : Holder::IoUring;
    const Origin& o = *fs->second.origin;
    std::string why = o.registered ? fmt::format("{} torn down by {} ({})", registration(o), e.task.comm, e.task.tid)
                                   : fmt::format("request pending on io_uring ring {:#x} torn down by {} ({})", e.ring,
                                                 e.task.comm, e.task.tid);
    if (auto f = set_pin(e, file, holder, Confidence::Inferred, why)) out.push_back(*f);
  }
  return out;
}

std::vector<Finding> Model::on_deferred(const Event& e) {
  // A pipe, socket or aio ring on an internal mount can never hold up an umount.
  if (internal_mount(e.file)) return {};
  FileState& fs = remember_file(e.file);
  learn_owner(fs, e);
  std::string why;
  Confidence confidence = Confidence::Observed;
  switch (static_cast<DeferReason>(e.detail)) {
    case DeferReason::KernelThread:
      why = fmt::format("last fput on kernel thread {} ({})", e.task.comm, e.task.tid);
      break;
    case DeferReason::TaskWorkFailed:
      why = fmt::format("last fput by exiting task {} ({}) after its task work ran", e.task.comm, e.task.tid);
      break;
    case DeferReason::NoTaskWork:
      why = "last fput in interrupt context";
      break;
    case DeferReason::SeenAtRelease:
      why = "last fput raced with another CPU's (seen only when the delayed_fput work released it)";
      break;
    case DeferReason::AioCompletion:
      why = fmt::format("aio completion on {} ({}) held the last reference", e.task.comm, e.task.tid);
      confidence = Confidence::Inferred;
      break;
    case DeferReason::Unknown:
      why = "last fput deferred";
      break;
  }
  auto f = set_pin(e, e.file.ptr, Holder::DelayedFput, confidence, why + ", queued on delayed_fput list");
  if (f) return {*f};
  return {};
}

std::vector<Finding> Model::on_released(const Event& e) {
  std::vector<Finding> out;
  if (pins_.count(e.file.ptr)) out.push_back(release_pin(e.file.ptr, e, Confidence::Observed));
  forget_file(e.file.ptr);
  return out;
}

std::vector<Finding> Model::on_delayed_run(const Event& e, bool end) {
  if (!end) {
    delayed_run_started_ns_ = e.time_ns;
    delayed_run_active_ = true;
    return {};
  }
  delayed_run_active_ = false;
  if (sees_releases(e.backend)) return {};
  // Without __fput probes: a delayed_fput run releases everything queued
  // before it started.
  std::vector<uint64_t> done;
  for (auto it = queued_.begin(); it != queued_.end() && it->first <= delayed_run_started_ns_; ++it)
    done.push_back(it->second);
  std::sort(done.begin(), done.end());  // findings by file address, as always
  std::vector<Finding> out;
  for (uint64_t file : done) {
    out.push_back(release_pin(file, e, Confidence::Inferred));
    forget_file(file);
  }
  return out;
}

std::optional<Finding> Model::pin_at_exit(const Event& e, uint64_t file, const FileState& fs) {
  if (fs.pending_aio > 0)
    return set_pin(e, file, Holder::Aio, Confidence::Inferred,
                   fmt::format("{} aio request(s) in flight at exit", fs.pending_aio));
  if (fs.origin->registered)
    return set_pin(e, file, Holder::IoUring, Confidence::Inferred,
                   fmt::format("{}; the ring outlives the process", registration(*fs.origin)));
  if (fs.pending_uring > 0)
    return set_pin(e, file, Holder::IoUring, Confidence::Inferred,
                   fmt::format("{} io_uring request(s) pending at exit", fs.pending_uring));
  return std::nullopt;
}

std::vector<Finding> Model::on_task_exit(const Event& e) {
  // The process is gone when its leader exits (other threads rarely outlive
  // it) or, whichever thread it is, its last thread.
  if (!e.task.leader() && !(e.detail & kExitGroupDead)) return {};
  auto owned = files_of_tgid_.find(e.task.tgid);
  if (owned == files_of_tgid_.end()) return {};
  std::set<uint64_t> files = std::move(owned->second);  // by file address, as always
  files_of_tgid_.erase(owned);
  // The process is gone, but what it handed to io_uring and aio lives on;
  // whatever nothing holds is dropped after the grace time.
  std::vector<Finding> out;
  for (uint64_t file : files) {
    FileState& fs = files_.at(file);
    if (!pins_.count(file))
      if (auto f = pin_at_exit(e, file, fs)) out.push_back(*f);
    retire(file, fs, e.time_ns);
  }
  return out;
}

std::optional<MountRef> Model::umount_target(const Event& e, std::string& resolved_by) {
  const std::optional<UmountInfo>& u = e.umount;
  if (u && u->mount_known) {
    resolved_by = "kernel";
    MountRef ref = name_mount(u->mnt_id);
    if (!u->mount_path.empty()) ref.path = u->mount_path;
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
    bool children = e.umount && e.umount->nr_children > 0;
    busy.verdict = children ? "child_mounts" : busy.pins.empty() ? "unknown" : "deferred_release";
    return {busy};
  }
  if (!mount) return {};
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

// ---- pins ----

Pin Model::pin_for(const FileState& fs, const Event& e, Holder holder, Confidence confidence, const std::string& why) {
  Pin pin;
  pin.file = fs.file;
  pin.mount = name_mount(fs.file.mnt_id);
  pin.holder = holder;
  pin.confidence = confidence;
  pin.since_ns = e.time_ns;
  pin.holder_since_ns = e.time_ns;
  pin.why = why;
  if (fs.origin) {
    pin.origin = fs.origin->task;
    pin.source = fs.origin->source;
    pin.ring = fs.origin->ring;
  } else if (e.type == EventType::Deferred && static_cast<DeferReason>(e.detail) == DeferReason::TaskWorkFailed) {
    pin.origin = e.task;  // the exiting task dropped it itself
    pin.source = Source::Exit;
  } else if (e.type == EventType::Deferred && !e.task.kernel_thread() &&
             static_cast<DeferReason>(e.detail) != DeferReason::NoTaskWork) {
    pin.origin = e.task;
    pin.source = Source::Close;
  } else {
    // A kernel thread or an interrupt dropped a file we never saw owned:
    // the task that fired the probe is not its origin.
    pin.origin = e.task;
    pin.origin_known = false;
    pin.source = Source::Other;
  }
  return pin;
}

std::optional<Finding> Model::set_pin(const Event& e, uint64_t file, Holder holder, Confidence confidence,
                                      const std::string& why) {
  auto fs = files_.find(file);
  if (fs == files_.end()) return std::nullopt;
  auto existing = pins_.find(file);
  if (existing != pins_.end()) {
    Pin& pin = existing->second.pin;
    bool changed = pin.holder != holder || (confidence == Confidence::Observed && pin.confidence != confidence);
    if (!changed) return std::nullopt;
    set_holder(file, pin, holder, e.time_ns);
    if (confidence == Confidence::Observed) pin.confidence = confidence;
    pin.why = why;
    pin.file = fs->second.file;
    Finding f{Finding::Kind::Deferred, e.time_ns, e.backend, pin.mount, {pin}, e.task};
    return f;
  }
  Pin pin = pin_for(fs->second, e, holder, confidence, why);
  Finding f{Finding::Kind::Deferred, e.time_ns, e.backend, pin.mount, {pin}, e.task};
  add_pin(file, std::move(pin));
  return f;
}

void Model::add_pin(uint64_t file, Pin pin) {
  unretire(file, files_.at(file));
  uint64_t seq = ++seq_;
  pin_order_.push_back({seq, file});
  pins_on_mount_[pin.mount.id].insert(file);
  if (pin.holder == Holder::DelayedFput) queued_.insert({pin.holder_since_ns, file});
  pins_.emplace(file, PinEntry{std::move(pin), seq});
}

void Model::set_holder(uint64_t file, Pin& pin, Holder holder, uint64_t now) {
  if (pin.holder == holder) return;
  if (pin.holder == Holder::DelayedFput) queued_.erase({pin.holder_since_ns, file});
  pin.holder = holder;
  pin.holder_since_ns = now;
  if (holder == Holder::DelayedFput) queued_.insert({now, file});
}

Pin Model::drop_pin(uint64_t file) {
  auto it = pins_.find(file);
  Pin pin = std::move(it->second.pin);
  if (pin.holder == Holder::DelayedFput) queued_.erase({pin.holder_since_ns, file});
  auto on = pins_on_mount_.find(pin.mount.id);
  on->second.erase(file);
  if (on->second.empty()) pins_on_mount_.erase(on);
  pins_.erase(it);
  // The file state stays until the caller forgets it; unpinned, it is evictable again.
  if (auto fs = files_.find(file); fs != files_.end()) file_order_.push_back({fs->second.seq, file});
  return pin;
}

Finding Model::release_pin(uint64_t file, const Event& e, Confidence confidence) {
  Pin pin = drop_pin(file);
  Finding f;
  f.kind = Finding::Kind::PinReleased;
  f.time_ns = e.time_ns;
  f.backend = e.backend;
  f.mount = pin.mount;
  f.actor = e.task;
  f.held_ns = e.time_ns >= pin.since_ns ? e.time_ns - pin.since_ns : 0;
  f.release_confidence = confidence;
  const uint64_t* busy = last_busy_ns_.find(pin.mount.id);
  if (busy && e.time_ns >= *busy) f.after_busy_ns = e.time_ns - *busy;
  f.pins.push_back(std::move(pin));
  return f;
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
