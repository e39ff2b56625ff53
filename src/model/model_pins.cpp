// The model, part 3: pins. Deferrals seen by the probes, the exit of an
// owner that leaves files behind, and the release that ends a pin.
#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "fputrace/model.hpp"

namespace fputrace {

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
  if (pins_.count(e.file.ptr)) {
    out.push_back(release_pin(e.file.ptr, e, Confidence::Observed));
    // Seen at __fput's entry: the mount's reference goes at its end.
    constexpr size_t kFinishingKept = 64;
    finishing_.emplace_back(e.time_ns, out.back().pins.at(0));
    if (finishing_.size() > kFinishingKept) finishing_.pop_front();
  }
  forget_file(e.file.ptr);
  return out;
}

std::vector<Finding> Model::on_delayed_run(const Event& e, bool end) {
  if (!end) {
    delayed_run_started_ns_ = e.time_ns;
    delayed_run_active_ = true;
    maybe_taken_.clear();  // queued before this run began: its end releases them
    return {};
  }
  delayed_run_active_ = false;
  last_done_run_started_ns_ = delayed_run_started_ns_;
  last_done_run_task_ = e.task;
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
  maybe_taken_.erase(file);
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

std::vector<Pin> Model::finishing_pins(const std::function<bool(const Pin&)>& match, uint64_t now, size_t most,
                                       const std::function<std::string(double)>& explain) const {
  constexpr uint64_t kFinishingNs = 50'000'000;
  std::vector<Pin> out;
  for (auto it = finishing_.rbegin(); it != finishing_.rend() && out.size() < most; ++it) {
    const auto& [began_ns, pin] = *it;
    if (began_ns > now || now - began_ns > kFinishingNs || !match(pin)) continue;
    Pin p = pin;
    p.confidence = Confidence::Inferred;
    p.why += explain(static_cast<double>(now - began_ns) / 1e6);
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<Finding> Model::settle_teardowns(uint64_t now, bool all) {
  std::vector<std::pair<uint64_t, MaybeTaken>> due;
  next_settle_ns_ = UINT64_MAX;
  for (const auto& [file, m] : maybe_taken_) {
    if (all || now >= m.exit_end_ns + kSettleNs)
      due.emplace_back(file, m);
    else
      next_settle_ns_ = std::min(next_settle_ns_, m.exit_end_ns + kSettleNs);
  }
  std::vector<Finding> out;
  for (const auto& [file, m] : due) {
    maybe_taken_.erase(file);
    if (pins_.count(file)) {
      Event e;
      e.type = EventType::DelayedRunEnd;
      e.backend = Backend::Tracepoint;
      e.time_ns = m.exit_end_ns;
      e.task = m.run_task;
      out.push_back(release_pin(file, e, Confidence::Inferred));
      out.back().pins.at(0).why +=
          "; taken by the delayed_fput run that ended within the ring's exit work (no later run came)";
      forget_file(file);
    }
  }
  return out;
}

std::vector<Finding> Model::finish() {
  std::vector<Finding> out = settle_teardowns(now_ns_, true);
  note_detached_releases(out);
  for (Finding& f : out) judge_completeness(f);
  return out;
}

}  // namespace fputrace
