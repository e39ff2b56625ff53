// The model, part 2: io_uring rings and their registered files, requests
// and aio iocbs, what they hold when their owner exits, and ring teardown.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "fputrace/model.hpp"

namespace fputrace {

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

std::vector<Finding> Model::on_ring_exit(const Event& e, bool end) {
  RingState* ring = rings_.find(e.ring);
  if (!ring) return {};
  ring->torn_down = true;
  if (!end) ring->exit_started_ns = e.time_ns;
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
    // The exit work queued it partway through: a run that began and ended
    // within the exit work may have taken it (then no later run comes).
    if (end && ring.exit_started_ns && last_done_run_started_ns_ >= ring.exit_started_ns && pins_.count(file)) {
      maybe_taken_[file] = MaybeTaken{e.time_ns, last_done_run_task_};
      uint64_t due = e.time_ns + kSettleNs;
      next_settle_ns_ = maybe_taken_.size() == 1 ? due : std::min(next_settle_ns_, due);
    }
  }
  return out;
}

}  // namespace fputrace
