#include "fputrace/model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <limits>

extern "C" {
#include "fputrace/events.h"
}

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

std::vector<Finding> Model::apply(const Event& e) {
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
  }
  return {};
}

std::vector<Pin> Model::pins_on(int32_t mnt_id) const {
  std::vector<Pin> out;
  for (const auto& [ptr, pin] : pins_)
    if (pin.mount.id == mnt_id) out.push_back(pin);
  return out;
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
  if (!f.mount_path.empty() && !internal_mount(f)) kernel_mount_paths_[f.mnt_id] = f.mount_path;
  FileState& fs = files_[f.ptr];
  // Keep a known path if a later record carried none.
  std::string path = fs.file.path.empty() ? f.path : fs.file.path;
  if (!f.path.empty()) path = f.path;
  fs.file = f;
  fs.file.path = path;
  return fs;
}

MountRef Model::name_mount(int32_t mnt_id) {
  MountRef ref{mnt_id, ""};
  if (auto k = kernel_mount_paths_.find(mnt_id); k != kernel_mount_paths_.end())
    ref.path = k->second;
  else if (auto m = mounts_.by_id(mnt_id))
    ref.path = m->path;
  return ref;
}

std::optional<MountRef> Model::mount_at(const std::string& raw) {
  std::string path = raw;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  for (const auto& [id, p] : kernel_mount_paths_)
    if (p == path) return MountRef{id, p};
  if (auto m = mounts_.by_path(path)) return MountRef{m->id, m->path};
  return std::nullopt;
}

// ---- who a file belongs to ----

std::string Model::registration(const Origin& o) {
  return fmt::format("registered with io_uring ring {:#x}{}", o.ring,
                     o.found_at_exit ? " (registration found at exit, not seen when it happened)" : "");
}

std::vector<Finding> Model::on_ring_file(const Event& e) {
  bool at_exit = (e.detail & FT_RING_FILE_AT_EXIT) != 0;
  FileState& fs = remember_file(e.file);
  if (at_exit && fs.origin && fs.origin->registered && fs.origin->task.tgid == e.task.tgid &&
      (fs.origin->ring == e.ring || fs.origin->ring == 0)) {
    // The registration was seen when it happened: keep that, but learn the
    // ring if it was registered by index (no fd to name it then).
    if (fs.origin->ring == 0 && e.ring) {
      if (auto old = rings_.find(0); old != rings_.end()) {
        old->second.files.erase(e.file.ptr);
        if (old->second.files.empty()) rings_.erase(old);
      }
      fs.origin->ring = e.ring;
      RingState& ring = rings_[e.ring];
      if (ring.files.empty()) ring.owner = fs.origin->task;
      ring.files.insert(e.file.ptr);
    }
    return {};
  }
  fs.origin = Origin{e.task, Source::IoUring, e.ring, true, e.time_ns, at_exit};
  RingState& ring = rings_[e.ring];
  if (ring.files.empty()) ring.owner = e.task;
  ring.files.insert(e.file.ptr);
  name_mount(e.file.mnt_id);  // name it while it surely exists
  return {};
}

std::vector<Finding> Model::on_uring_req(const Event& e) {
  FileState& fs = remember_file(e.file);
  if (!fs.origin || !fs.origin->registered) fs.origin = Origin{e.task, Source::IoUring, e.ring, false, e.time_ns};
  if (fs.pending_uring < std::numeric_limits<int>::max()) fs.pending_uring++;  // after a huge pending_at_exit count
  if (e.req) requests_[e.req] = Request{e.file.ptr};
  RingState& ring = rings_[e.ring];
  if (ring.files.empty()) ring.owner = e.task;
  ring.files.insert(e.file.ptr);
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
    auto req = requests_.find(e.req);
    if (req == requests_.end()) return {};
    file = req->second.file;
    requests_.erase(req);
    auto it = files_.find(file);
    if (it == files_.end()) return {};
    if (it->second.pending_uring > 0) it->second.pending_uring--;
  }
  if (!e.task.kernel_thread()) return {};
  // Completed on a kernel thread (the ring's exit work): the request's
  // reference is dropped there, and a kernel thread's last fput always goes
  // to the delayed_fput list. With fput probes we wait to see it instead.
  FileState& fs = files_.at(file);
  fs.done_on_kthread = true;
  if (sees_releases(e.backend)) return {};
  auto f = set_pin(e, file, Holder::DelayedFput, Confidence::Inferred,
                   fmt::format("io_uring request completed on kernel thread {} ({})", e.task.comm, e.task.tid));
  if (f) return {*f};
  return {};
}

std::vector<Finding> Model::on_aio_submit(const Event& e) {
  FileState& fs = remember_file(e.file);
  fs.origin = Origin{e.task, Source::Aio, e.ring, false, e.time_ns};
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
  fs.origin = origin;
  if (o.ring && o.kind != OwnerKind::Aio) {
    RingState& ring = rings_[o.ring];
    if (ring.files.empty()) ring.owner = o.task;
    ring.files.insert(e.file.ptr);
  }
}

std::vector<Finding> Model::on_pending_at_exit(const Event& e) {
  if (internal_mount(e.file)) return {};
  FileState& fs = remember_file(e.file);
  learn_owner(fs, e);
  fs.pending_uring = static_cast<int>(std::clamp<int64_t>(e.ret, 1, std::numeric_limits<int>::max()));
  name_mount(e.file.mnt_id);
  bool unsure = e.owner && e.owner->no_completions;
  std::string why =
      unsure ? fmt::format("{} io_uring request(s) submitted and not seen completing (this kernel's completion "
                           "tracepoint does not name requests) at exit",
                           fs.pending_uring)
             : fmt::format("{} io_uring request(s) in flight at exit", fs.pending_uring);
  auto f = set_pin(e, e.file.ptr, Holder::IoUring, Confidence::Inferred, why);
  if (f) return {*f};
  return {};
}

// ---- what happened to it ----

std::vector<Finding> Model::on_ring_exit(const Event& e, bool end) {
  auto ring = rings_.find(e.ring);
  if (ring == rings_.end()) return {};
  ring->second.torn_down = true;
  if (sees_releases(e.backend)) return {};  // fput probes will report each file
  // Without fput probes: the ring's exit work drops its fixed files and
  // cancelled requests on a kworker, so their last fput lands on the
  // delayed_fput list. That is inferred from the teardown we saw.
  std::vector<Finding> out;
  for (uint64_t file : ring->second.files) {
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
  for (const auto& [file, pin] : pins_)
    if (pin.holder == Holder::DelayedFput && pin.holder_since_ns <= delayed_run_started_ns_) done.push_back(file);
  std::vector<Finding> out;
  for (uint64_t file : done) {
    out.push_back(release_pin(file, e, Confidence::Inferred));
    forget_file(file);
  }
  return out;
}

std::vector<Finding> Model::on_task_exit(const Event& e) {
  // The process is gone when its leader exits (other threads rarely outlive
  // it) or, whichever thread it is, its last thread.
  if (!e.task.leader() && !(e.detail & FT_EXIT_GROUP_DEAD)) return {};
  // The process is gone, but what it handed to io_uring and aio lives on.
  std::vector<Finding> out;
  for (auto& [ptr, fs] : files_) {
    if (!fs.origin || fs.origin->task.tgid != e.task.tgid || pins_.count(ptr)) continue;
    std::optional<Finding> f;
    if (fs.pending_aio > 0) {
      f = set_pin(e, ptr, Holder::Aio, Confidence::Inferred,
                  fmt::format("{} aio request(s) in flight at exit", fs.pending_aio));
    } else if (fs.origin->registered) {
      f = set_pin(e, ptr, Holder::IoUring, Confidence::Inferred,
                  fmt::format("{}; the ring outlives the process", registration(*fs.origin)));
    } else if (fs.pending_uring > 0) {
      f = set_pin(e, ptr, Holder::IoUring, Confidence::Inferred,
                  fmt::format("{} io_uring request(s) pending at exit", fs.pending_uring));
    }
    if (f) out.push_back(*f);
  }
  return out;
}

std::vector<Finding> Model::on_umount(const Event& e) {
  if (e.ret != 0 && e.ret != -EBUSY) return {};
  std::optional<MountRef> mount = mount_at(e.path);
  if (!mount) return {};
  if (e.ret == -EBUSY) {
    last_busy_ns_[mount->id] = e.time_ns;
    Finding busy;
    busy.kind = Finding::Kind::UmountBusy;
    busy.time_ns = e.time_ns;
    busy.backend = e.backend;
    busy.mount = *mount;
    busy.pins = pins_on(mount->id);
    busy.actor = e.task;
    busy.verdict = busy.pins.empty() ? "unknown" : "deferred_release";
    return {busy};
  }
  // Unmounted: whatever we still thought was pinned there is gone.
  std::vector<uint64_t> left;
  for (const auto& [file, pin] : pins_)
    if (pin.mount.id == mount->id) left.push_back(file);
  std::vector<Finding> out;
  for (uint64_t file : left) out.push_back(release_pin(file, e, Confidence::Inferred));
  std::vector<uint64_t> stale;
  for (const auto& [ptr, fs] : files_)
    if (fs.file.mnt_id == mount->id) stale.push_back(ptr);
  for (uint64_t ptr : stale) forget_file(ptr);
  last_busy_ns_.erase(mount->id);
  kernel_mount_paths_.erase(mount->id);
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
    Pin& pin = existing->second;
    bool changed = pin.holder != holder || (confidence == Confidence::Observed && pin.confidence != confidence);
    if (!changed) return std::nullopt;
    if (pin.holder != holder) pin.holder_since_ns = e.time_ns;
    pin.holder = holder;
    if (confidence == Confidence::Observed) pin.confidence = confidence;
    pin.why = why;
    pin.file = fs->second.file;
    Finding f{Finding::Kind::Deferred, e.time_ns, e.backend, pin.mount, {pin}, e.task};
    return f;
  }
  Pin pin = pin_for(fs->second, e, holder, confidence, why);
  pins_[file] = pin;
  Finding f{Finding::Kind::Deferred, e.time_ns, e.backend, pin.mount, {pin}, e.task};
  return f;
}

Finding Model::release_pin(uint64_t file, const Event& e, Confidence confidence) {
  Pin pin = pins_.at(file);
  pins_.erase(file);
  Finding f;
  f.kind = Finding::Kind::PinReleased;
  f.time_ns = e.time_ns;
  f.backend = e.backend;
  f.mount = pin.mount;
  f.actor = e.task;
  f.held_ns = e.time_ns >= pin.since_ns ? e.time_ns - pin.since_ns : 0;
  f.release_confidence = confidence;
  auto busy = last_busy_ns_.find(pin.mount.id);
  if (busy != last_busy_ns_.end() && e.time_ns >= busy->second) f.after_busy_ns = e.time_ns - busy->second;
  f.pins.push_back(std::move(pin));
  return f;
}

void Model::forget_file(uint64_t file) {
  auto fs = files_.find(file);
  if (fs == files_.end()) return;
  if (fs->second.origin) {
    auto ring = rings_.find(fs->second.origin->ring);
    if (ring != rings_.end()) {
      ring->second.files.erase(file);
      if (ring->second.files.empty()) rings_.erase(ring);
    }
  }
  files_.erase(fs);
}

}  // namespace fputrace
