#include "fputrace/timeline.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

#include "fputrace/findings_out.hpp"
#include "fputrace/span_tracker.hpp"

namespace fputrace {

// ---- pairing starts with ends ----

SpanTracker::SpanTracker(SpanSink& sink, size_t open_cap, size_t task_cap)
    : sink_(sink),
      seen_(task_cap),
      work_(open_cap),
      requests_(open_cap),
      pins_(open_cap),
      mount_by_id_(4096),
      mount_at_(4096) {}

void SpanTracker::add(const LogRecord& r) {
  std::vector<Finding> findings = replay_.add(r);
  if (const auto* m = std::get_if<MountInfo>(&r)) return add(*m);
  add(std::get<Event>(r), findings);
}

void SpanTracker::add(const MountInfo& m) {
  mount_by_id_[m.id] = m;
  mount_at_[m.path] = m;
}

void SpanTracker::add(const Event& e, const std::vector<Finding>& findings) {
  on_event(e, findings);
  for (const Finding& f : findings) on_finding(f);
}

// Told once per task, and once more if an event shows a task that only a
// finding had named (the page lists tasks from events first).
void SpanTracker::see(const Task& t, bool from_event) {
  auto key = std::make_pair(t.tgid, t.tid);
  bool* by_event = seen_.find(key);
  if (by_event && (*by_event || !from_event)) return;
  seen_[key] = from_event;
  sink_.task(t, from_event);
}

std::string SpanTracker::file_path(const FileRef& f) const {
  MountRef m{f.mnt_id, f.mount_path};
  if (const MountInfo* known = mount_by_id_.find(f.mnt_id); m.path.empty() && known) m.path = known->path;
  return full_path(m, f);
}

void SpanTracker::on_event(const Event& e, const std::vector<Finding>& findings) {
  if (events_++ == 0) {
    start_ns_ = e.time_ns;
    backend_ = e.backend;
  }
  start_ns_ = std::min(start_ns_, e.time_ns);
  end_ns_ = std::max(end_ns_, e.time_ns);
  now_ns_ = e.time_ns;
  see(e.task, true);
  switch (e.type) {
    case EventType::RingExit:
    case EventType::DelayedRun:
      return on_work(e, false);
    case EventType::RingExitEnd:
    case EventType::DelayedRunEnd:
      return on_work(e, true);
    case EventType::UringReq:
      return on_request(e, false, false);
    case EventType::UringDone:
      return on_request(e, false, true);
    case EventType::AioSubmit:
      return on_request(e, true, false);
    case EventType::AioDone:
      return on_request(e, true, true);
    case EventType::Umount:
      return on_umount(e, findings);
    case EventType::TaskExit:
      return sink_.exit(e);
    default:
      return;
  }
}

// A span pushed out by the cap ends where it was pushed out.
void SpanTracker::make_room_for_work() {
  if (!work_.full()) return;
  auto [key, open] = work_.take_oldest();
  open.span.end_ns = std::max(now_ns_, open.span.start_ns);
  open.span.unfinished = true;
  sink_.work_end(open.n, open.span, true);
}

void SpanTracker::on_work(const Event& e, bool end) {
  EventType kind =
      (e.type == EventType::RingExit || e.type == EventType::RingExitEnd) ? EventType::RingExit : EventType::DelayedRun;
  // A kworker runs one item at a time, and ring teardowns of different rings
  // may interleave across kworkers.
  WorkKey key{kind, e.task.tid, e.ring};
  Open<WorkSlice>* open = work_.find(key);
  if (!end) {
    // A start while one is open: the end was lost; close it where the next began.
    if (open) {
      open->span.end_ns = e.time_ns;
      open->span.unfinished = true;
      sink_.work_end(open->n, open->span, false);
      work_.erase(key);
    }
    make_room_for_work();
    Open<WorkSlice>& o = work_[key];
    o.n = next_work_++;
    o.span = WorkSlice{kind, e.task, e.time_ns, e.time_ns, false, true, e.ring, e.req};
    sink_.work_begin(o.n, o.span);
    return;
  }
  if (!open) {  // it began before the log did: drawn from the log's start
    WorkSlice w{kind, e.task, start_ns_, e.time_ns, true, false, e.ring, e.req};
    size_t n = next_work_++;
    sink_.work_begin(n, w);
    sink_.work_end(n, w, false);
    return;
  }
  open->span.end_ns = e.time_ns;
  open->span.unfinished = false;
  sink_.work_end(open->n, open->span, false);
  work_.erase(key);
}

void SpanTracker::make_room_for_request() {
  if (!requests_.full()) return;
  auto [key, open] = requests_.take_oldest();
  open.span.end_ns = std::max(now_ns_, open.span.start_ns);
  sink_.request_end(open.n, open.span, true);
}

void SpanTracker::on_request(const Event& e, bool aio, bool end) {
  auto key = std::make_pair(aio, e.req);
  Open<RequestSpan>* open = requests_.find(key);
  if (!end) {
    // io_kiocb addresses are recycled: a new request at an open address means
    // the old completion went unseen.
    if (open) {
      open->span.end_ns = e.time_ns;
      sink_.request_end(open->n, open->span, false);
      requests_.erase(key);
    }
    make_room_for_request();
    Open<RequestSpan>& o = requests_[key];
    o.n = next_request_++;
    RequestSpan& r = o.span;
    r.aio = aio;
    r.submitter = e.task;
    r.start_ns = r.end_ns = e.time_ns;
    r.unfinished = true;
    r.file = e.file;
    r.path = file_path(e.file);
    r.ring = e.ring;
    r.req = e.req;
    r.user_data = e.user_data;
    sink_.request_begin(o.n, r);
    return;
  }
  if (!open) return;  // submitted before the log began: nothing to draw from
  RequestSpan& r = open->span;
  r.end_ns = e.time_ns;
  r.unfinished = false;
  r.completer = e.task;
  r.ret = e.ret;
  sink_.request_end(open->n, r, false);
  requests_.erase(key);
}

void SpanTracker::on_umount(const Event& e, const std::vector<Finding>& findings) {
  UmountMark m{e, std::nullopt, std::nullopt};
  if (const MountInfo* at = mount_at_.find(e.path)) m.mount = *at;
  // The model reports EBUSY at the umount event's own time, from its caller.
  for (const Finding& f : findings)
    if (f.kind == Finding::Kind::UmountBusy && f.time_ns == e.time_ns && f.actor.tid == e.task.tid) {
      m.busy = f;
      break;
    }
  sink_.umount(m);
}

void SpanTracker::on_finding(const Finding& f) {
  for (const Pin& p : f.pins) see(p.origin, false);
  see(f.actor, false);
  sink_.finding(f);
  if (f.kind == Finding::Kind::Deferred) on_pin_deferred(f);
  if (f.kind == Finding::Kind::PinReleased) on_pin_released(f);
}

void SpanTracker::make_room_for_pin() {
  if (!pins_.full()) return;
  auto [key, open] = pins_.take_oldest();
  open.span.end_ns = std::max(now_ns_, open.span.start_ns);
  sink_.pin_end(open.n, open.span, true);
}

void SpanTracker::on_pin_deferred(const Finding& f) {
  const Pin& pin = f.pins.at(0);
  if (Open<PinWindow>* open = pins_.find(pin.file.ptr)) {  // a holder change: the same window, a new stage
    auto& stages = open->span.stages;
    if (stages.empty() || stages.back().holder != pin.holder) {
      stages.push_back({pin.holder, f.time_ns});
      sink_.pin_stage(open->n, open->span);
    }
    return;
  }
  make_room_for_pin();
  Open<PinWindow>& o = pins_[pin.file.ptr];
  o.n = next_pin_++;
  o.span.pin = pin;
  o.span.stages.push_back({pin.holder, f.time_ns});
  o.span.start_ns = o.span.end_ns = f.time_ns;
  sink_.pin_begin(o.n, o.span);
}

void SpanTracker::on_pin_released(const Finding& f) {
  const Pin& pin = f.pins.at(0);
  Open<PinWindow>* open = pins_.find(pin.file.ptr);
  if (!open) {  // not reported as deferred: draw it from since_ns
    make_room_for_pin();
    open = &pins_[pin.file.ptr];
    open->n = next_pin_++;
    open->span.pin = pin;
    open->span.stages.push_back({pin.holder, pin.since_ns});
    open->span.start_ns = pin.since_ns;
    sink_.pin_begin(open->n, open->span);
  }
  open->span.end_ns = f.time_ns;
  open->span.released = f;
  sink_.pin_end(open->n, open->span, false);
  pins_.erase(pin.file.ptr);
}

void SpanTracker::finish() {
  for (const Finding& f : replay_.finish()) on_finding(f);
  // What never ended is drawn to the end of the log.
  std::vector<Open<WorkSlice>> work;
  work_.for_each([&](const WorkKey&, const Open<WorkSlice>& o) { work.push_back(o); });
  std::vector<Open<RequestSpan>> requests;
  requests_.for_each([&](const auto&, const Open<RequestSpan>& o) { requests.push_back(o); });
  std::vector<Open<PinWindow>> pins;
  pins_.for_each([&](uint64_t, const Open<PinWindow>& o) { pins.push_back(o); });
  auto by_n = [](const auto& a, const auto& b) { return a.n < b.n; };
  std::sort(work.begin(), work.end(), by_n);
  std::sort(requests.begin(), requests.end(), by_n);
  std::sort(pins.begin(), pins.end(), by_n);
  for (auto& o : work) {
    o.span.end_ns = end_ns_;
    sink_.work_end(o.n, o.span, false);
  }
  for (auto& o : requests) {
    o.span.end_ns = end_ns_;
    sink_.request_end(o.n, o.span, false);
  }
  for (auto& o : pins) {
    o.span.end_ns = std::max(end_ns_, o.span.start_ns);
    sink_.pin_end(o.n, o.span, false);
  }
}

// ---- the whole timeline, for the HTML page ----

namespace {

// Keeps everything, in the order each piece began.
class TimelineSink : public SpanSink {
 public:
  void task(const Task& t, bool from_event) override {
    // Tasks from events first, in log order, then those only findings named
    // (the order the page's rows have always had).
    (from_event ? tl.tasks : late_tasks_).push_back(t);
  }
  void work_begin(size_t, const WorkSlice& w) override { tl.work.push_back(w); }
  void work_end(size_t n, const WorkSlice& w, bool) override { tl.work[n] = w; }
  void request_begin(size_t, const RequestSpan& r) override { tl.requests.push_back(r); }
  void request_end(size_t n, const RequestSpan& r, bool) override { tl.requests[n] = r; }
  void pin_begin(size_t, const PinWindow& w) override { tl.pins.push_back(w); }
  void pin_stage(size_t n, const PinWindow& w) override { tl.pins[n].stages = w.stages; }
  void pin_end(size_t n, const PinWindow& w, bool) override { tl.pins[n] = w; }
  void umount(const UmountMark& m) override { tl.umounts.push_back(m); }
  void exit(const Event& e) override { tl.exits.push_back(e); }
  void finding(const Finding& f) override { tl.findings.push_back(f); }

  Timeline tl;
  std::vector<Task> late_tasks_;
};

}  // namespace

struct TimelineBuilder::Impl {
  // The timeline keeps every span anyway: the cap only bounds pairing.
  Impl() : tracker(sink, 1 << 20, 1 << 20) {}
  TimelineSink sink;
  SpanTracker tracker;
};

TimelineBuilder::TimelineBuilder() : impl_(std::make_unique<Impl>()) {}
TimelineBuilder::~TimelineBuilder() = default;

void TimelineBuilder::add(const LogRecord& r) {
  impl_->tracker.add(r);
}

Timeline TimelineBuilder::finish() {
  impl_->tracker.finish();
  Timeline& tl = impl_->sink.tl;
  tl.start_ns = impl_->tracker.start_ns();
  tl.end_ns = impl_->tracker.end_ns();
  tl.events = impl_->tracker.events();
  tl.backend = impl_->tracker.backend();
  for (WorkSlice& w : tl.work)
    if (w.started_before_log) w.start_ns = tl.start_ns;
  // A task a finding named first and an event later is listed where the event was.
  std::set<std::pair<uint32_t, uint32_t>> listed;
  for (const Task& t : tl.tasks) listed.insert({t.tgid, t.tid});
  for (const Task& t : impl_->sink.late_tasks_)
    if (listed.insert({t.tgid, t.tid}).second) tl.tasks.push_back(t);
  return std::move(tl);
}

Timeline build_timeline(const std::vector<LogRecord>& log) {
  TimelineBuilder b;
  for (const LogRecord& r : log) b.add(r);
  return b.finish();
}

}  // namespace fputrace
