// The Chrome trace, written as the events come (layout: timeline.hpp).
#include "fputrace/chrome_trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "fputrace/escape.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/span_tracker.hpp"
#include "fputrace/timeline.hpp"
#include "fputrace/trace_file.hpp"

namespace fputrace {

using nlohmann::json;

namespace {

std::string hex(uint64_t v) {
  return fmt::format("{:#x}", v);
}

// Chrome traces count microseconds; ours are nanoseconds of CLOCK_MONOTONIC.
double us(uint64_t ns) {
  return static_cast<double>(ns) / 1000.0;
}

// Flow events bind to a slice on their thread; an exited origin has none, so
// each end of a flow gets a tiny slice of its own to bind to.
constexpr uint64_t kAnchorNs = 100;

json at(const char* ph, const std::string& name, const Task& t, uint64_t ns) {
  return {{"ph", ph}, {"name", name}, {"pid", t.tgid}, {"tid", t.tid}, {"ts", us(ns)}};
}

json mount_args(const MountRef& m) {
  return {{"id", m.id}, {"path", m.path}};
}

json pin_args(const Pin& p, Backend backend) {
  json a = pin_to_json(p);
  a["mount"] = mount_args(p.mount);
  a["file_ptr"] = hex(p.file.ptr);
  a["backend"] = to_string(backend);
  return a;
}

std::string umount_result(int64_t ret) {
  if (ret == 0) return "ok";
  if (ret == -EBUSY) return "EBUSY";
  return fmt::format("errno {}", -ret);
}

std::string stage_name(Holder h) {
  return fmt::format("held by {}", to_string(h));
}

// Turns each piece the tracker reports into trace events, at once: it keeps
// nothing but the names of the tracks it has named.
class ChromeSink : public SpanSink {
 public:
  ChromeSink(ChromeTraceWriter::Out out, size_t task_cap) : out_(std::move(out)), processes_(task_cap) {}

  void emit(json e) {
    std::string text = first_ ? "" : ",\n";
    first_ = false;
    text += dump_json(std::move(e));
    out_(text);
  }

  // A process is named after its leader once the leader is seen, else after
  // its first thread; viewers take the last name given.
  void task(const Task& t, bool) override {
    bool leader = t.tid == t.tgid;
    bool* named_by_leader = processes_.find(t.tgid);
    if (!named_by_leader || (leader && !*named_by_leader)) {
      processes_[t.tgid] = leader;
      emit({{"ph", "M"}, {"name", "process_name"}, {"pid", t.tgid}, {"tid", t.tgid}, {"args", {{"name", t.comm}}}});
    }
    emit({{"ph", "M"}, {"name", "thread_name"}, {"pid", t.tgid}, {"tid", t.tid}, {"args", {{"name", t.comm}}}});
  }

  void work_begin(size_t, const WorkSlice&) override {}  // a complete slice, once it ends

  void work_end(size_t, const WorkSlice& w, bool evicted) override {
    bool ring = w.kind == EventType::RingExit;
    json e = at("X", ring ? "io_ring_exit_work" : "delayed_fput", w.task, w.start_ns);
    e["cat"] = "workqueue";
    e["dur"] = us(w.end_ns - w.start_ns);
    e["args"] = {{"work", hex(w.work)}, {"start_ns", w.start_ns}, {"end_ns", w.end_ns}};
    if (ring) e["args"]["ring"] = hex(w.ring);
    if (w.started_before_log) e["args"]["started_before_log"] = true;
    if (w.unfinished) e["args"]["unfinished"] = true;
    if (evicted) e["args"]["evicted"] = true;
    emit(std::move(e));
  }

  static std::string request_name(const RequestSpan& r) {
    return fmt::format("{} {}", r.aio ? "aio" : "io_uring req", r.path);
  }
  static std::string request_id(size_t n, const RequestSpan& r) {
    return fmt::format("req-{}-{}", hex(r.req), n);  // addresses are recycled
  }

  void request_begin(size_t n, const RequestSpan& r) override {
    json b = at("b", request_name(r), r.submitter, r.start_ns);
    b["cat"] = r.aio ? "aio" : "io_uring";
    b["id"] = request_id(n, r);
    b["args"] = {{"req", hex(r.req)},
                 {"ring", hex(r.ring)},
                 {"user_data", r.user_data},
                 {"ino", r.file.ino},
                 {"file", r.path},
                 {"mount_id", r.file.mnt_id},
                 {"file_ptr", hex(r.file.ptr)},
                 {"submitter", task_to_json(r.submitter)}};
    emit(std::move(b));
  }

  void request_end(size_t n, const RequestSpan& r, bool evicted) override {
    // The end stays on the submitter's track: async pairs match within a process.
    json e = at("e", request_name(r), r.submitter, r.end_ns);
    e["cat"] = r.aio ? "aio" : "io_uring";
    e["id"] = request_id(n, r);
    e["args"] = {{"ret", r.ret}};
    if (r.completer) e["args"]["completed_by"] = task_to_json(*r.completer);
    if (r.unfinished) e["args"]["unfinished"] = true;
    if (evicted) e["args"]["evicted"] = true;
    emit(std::move(e));
  }

  void stage_event(const char* ph, const PinWindow& w, size_t n, Holder h, uint64_t ns) {
    json e = at(ph, stage_name(h), w.pin.origin, ns);
    e["cat"] = "pin";
    e["id"] = fmt::format("pin-{}", n);
    emit(std::move(e));
  }

  void pin_begin(size_t n, const PinWindow& w) override {
    json b = at("b", "pin " + full_path(w.pin.mount, w.pin.file), w.pin.origin, w.start_ns);
    b["cat"] = "pin";
    b["id"] = fmt::format("pin-{}", n);
    b["args"] = pin_args(w.pin, backend.value_or(Backend::Tracepoint));
    emit(std::move(b));
    stage_event("b", w, n, w.stages.front().holder, w.stages.front().start_ns);
  }

  void pin_stage(size_t n, const PinWindow& w) override {
    const auto& last = w.stages.back();
    stage_event("e", w, n, w.stages[w.stages.size() - 2].holder, last.start_ns);
    stage_event("b", w, n, last.holder, last.start_ns);
  }

  void pin_end(size_t n, const PinWindow& w, bool evicted) override {
    stage_event("e", w, n, w.stages.back().holder, w.end_ns);
    json e = at("e", "pin " + full_path(w.pin.mount, w.pin.file), w.pin.origin, w.end_ns);
    e["cat"] = "pin";
    e["id"] = fmt::format("pin-{}", n);
    if (w.released) {
      e["args"] = {{"released_by", task_to_json(w.released->actor)},
                   {"release_confidence", to_string(w.released->release_confidence)},
                   {"held_ns", w.released->held_ns}};
      e["args"]["after_busy_ns"] = w.released->after_busy_ns ? json(*w.released->after_busy_ns) : json(nullptr);
    } else {
      e["args"] = {{"unreleased", true}};
      if (evicted) e["args"]["evicted"] = true;
    }
    emit(std::move(e));
    if (w.released) flow(w, n);
  }

  void flow(const PinWindow& w, size_t n) {
    const Finding& rel = *w.released;
    std::string path = full_path(w.pin.mount, w.pin.file);
    json from = at("X", "pin leaves " + w.pin.origin.comm, w.pin.origin, w.pin.since_ns);
    from["dur"] = us(kAnchorNs);
    from["args"] = {{"file", path}, {"source", to_string(w.pin.source)}};
    from["cat"] = "pin.flow";
    uint64_t rel_start = rel.time_ns >= kAnchorNs ? rel.time_ns - kAnchorNs : 0;
    json to = at("X", "release " + path, rel.actor, rel_start);
    to["cat"] = "pin.flow";
    to["dur"] = us(rel.time_ns - rel_start);
    to["args"] = {{"file", path}, {"release_confidence", to_string(rel.release_confidence)}};
    json s = at("s", "pin release", w.pin.origin, w.pin.since_ns + kAnchorNs / 2);
    // A pin released at the instant it began (inferred at a ring's exit end)
    // still has its flow start first.
    uint64_t f_ns = std::max(rel_start + (rel.time_ns - rel_start) / 2, w.pin.since_ns + kAnchorNs / 2);
    json f = at("f", "pin release", rel.actor, f_ns);
    for (json* e : {&s, &f}) {
      (*e)["cat"] = "pin.flow";
      (*e)["id"] = n;
    }
    f["bp"] = "e";
    // Each anchor slice before the flow event bound to it.
    for (json* e : {&from, &s, &to, &f}) emit(std::move(*e));
  }

  void umount(const UmountMark& m) override {
    std::string result = umount_result(m.event.ret);
    json e = at("i", "umount " + result, m.event.task, m.event.time_ns);
    e["s"] = "p";
    e["cat"] = "umount";
    e["args"] = {
        {"path", m.event.path}, {"result", result}, {"ret", m.event.ret}, {"backend", to_string(m.event.backend)}};
    if (m.mount) e["args"]["mount"] = {{"id", m.mount->id}, {"path", m.mount->path}};
    if (m.busy) {
      e["args"]["mount"] = mount_args(m.busy->mount);
      json pins = json::array();
      for (const Pin& p : m.busy->pins) pins.push_back(pin_args(p, m.busy->backend));
      e["args"]["pins"] = std::move(pins);
      e["args"]["explanation"] = finding_to_text(*m.busy);
    }
    emit(std::move(e));
  }

  void exit(const Event& x) override {
    bool leader = x.task.leader() || x.task.tid == x.task.tgid;
    // A leader's exit ends the process; another thread's only that thread.
    json e = at("i", leader ? "process exit" : "thread exit", x.task, x.time_ns);
    e["s"] = leader ? "p" : "t";
    e["cat"] = "task";
    e["args"] = task_to_json(x.task);
    e["args"]["flags"] = x.task.flags;
    emit(std::move(e));
  }

  // Losses are drawn where they happened, on the collector's own track, as a
  // global instant: every finding around it may be incomplete.
  void finding(const Finding& f) override {
    if (f.kind == Finding::Kind::LockBusy || f.kind == Finding::Kind::BdevBusy) return refused(f);
    if (f.kind != Finding::Kind::Loss) return;
    json e = at("i", "records lost", Task{0, 0, 0, "fputrace"}, f.time_ns);
    e["s"] = "g";
    e["cat"] = "loss";
    e["args"] = {{"records_dropped", f.lost_records}, {"items_untracked", f.lost_items}};
    emit(std::move(e));
  }

  // A refused lock or block device, on its caller's track, with the deferred
  // releases that hold it.
  void refused(const Finding& f) {
    bool lock = f.kind == Finding::Kind::LockBusy;
    std::string what = lock ? "lock refused: " + lock_request_name(f.lock->kind, f.lock->write)
                            : "block device " + dev_name(f.bdev->rdev) + " busy";
    json e = at("i", what, f.actor, f.time_ns);
    e["s"] = "p";
    e["cat"] = lock ? "lock" : "bdev";
    json pins = json::array();
    for (const Pin& p : f.pins) pins.push_back(pin_args(p, f.backend));
    e["args"] = {{"file", full_path(f.mount, f.target_file)},
                 {"verdict", f.verdict},
                 {"pins", std::move(pins)},
                 {"explanation", finding_to_text(f)}};
    emit(std::move(e));
  }

  void out(std::string_view text) { out_(text); }

  std::optional<Backend> backend;  // of the first event: pins are drawn with it

 private:
  ChromeTraceWriter::Out out_;
  bool first_ = true;
  CappedMap<uint32_t, bool> processes_;  // tgid -> named after its leader
};

}  // namespace

struct ChromeTraceWriter::Impl {
  Impl(Out out, ChromeLimits limits)
      : sink(std::move(out), limits.tasks), tracker(sink, limits.open_spans, limits.tasks) {}
  ChromeSink sink;
  SpanTracker tracker;
  size_t records = 0;
  bool finished = false;
};

ChromeTraceWriter::ChromeTraceWriter(Out out, const TraceMeta& meta, ChromeLimits limits)
    : impl_(std::make_unique<Impl>(std::move(out), limits)) {
  json fp{{"version", kTraceVersion}, {"backend", meta.backend}, {"kernel", meta.kernel}, {"command", meta.command}};
  fp["recorded_at"] = meta.recorded_at.empty() ? json(nullptr) : json(meta.recorded_at);
  // Metadata first: a file cut short still says what it is.
  impl_->sink.out("{\"metadata\":{\"fputrace\":" + dump_json(std::move(fp)) +
                  "},\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
}

ChromeTraceWriter::~ChromeTraceWriter() = default;

namespace {

// A raw log record as a trace event viewers ignore.
json raw_record(const LogRecord& r) {
  json raw{{"ph", "M"}, {"name", "fputrace_record"}};
  if (const auto* m = std::get_if<MountInfo>(&r)) {
    raw["pid"] = 0;
    raw["tid"] = 0;
    raw["args"] = mount_to_json(*m);
    return raw;
  }
  const Event& e = std::get<Event>(r);
  raw["pid"] = e.task.tgid;
  raw["tid"] = e.task.tid;
  raw["args"] = event_to_json(e);
  return raw;
}

}  // namespace

void ChromeTraceWriter::add(const LogRecord& r) {
  ++impl_->records;
  if (const auto* e = std::get_if<Event>(&r); e && !impl_->sink.backend) impl_->sink.backend = e->backend;
  impl_->sink.emit(raw_record(r));
  impl_->tracker.add(r);
}

void ChromeTraceWriter::add(const Event& e, const std::vector<Finding>& findings) {
  ++impl_->records;
  if (!impl_->sink.backend) impl_->sink.backend = e.backend;
  impl_->sink.emit(raw_record(e));
  impl_->tracker.add(e, findings);
}

void ChromeTraceWriter::finish() {
  if (impl_->finished) return;
  impl_->finished = true;
  impl_->tracker.finish();
  impl_->sink.out("\n]}\n");
}

uint64_t ChromeTraceWriter::evictions() const {
  return impl_->tracker.evictions();
}

size_t ChromeTraceWriter::records() const {
  return impl_->records;
}

const Model& ChromeTraceWriter::model() const {
  return impl_->tracker.model();
}

namespace {

// dump_json() escaped every string (names are bytes): undo it, so the value
// holds raw bytes again, like everything else in memory.
json unescaped(const json& j) {
  if (j.is_string()) return unescape_bytes(j.get_ref<const std::string&>());
  if (j.is_array()) {
    json out = json::array();
    for (const json& v : j) out.push_back(unescaped(v));
    return out;
  }
  if (j.is_object()) {
    json out = json::object();
    for (const auto& [k, v] : j.items()) out[unescape_bytes(k)] = unescaped(v);
    return out;
  }
  return j;
}

}  // namespace

json chrome_trace(const std::vector<LogRecord>& log, const TraceMeta& meta) {
  TraceMeta m = meta;
  if (m.backend.empty())
    for (const LogRecord& r : log)
      if (const auto* e = std::get_if<Event>(&r)) {
        m.backend = std::string(to_string(e->backend));
        break;
      }
  std::string text;
  ChromeTraceWriter writer([&](std::string_view s) { text += s; }, m);
  for (const LogRecord& r : log) writer.add(r);
  writer.finish();
  return unescaped(json::parse(text));
}

}  // namespace fputrace
