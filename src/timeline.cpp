#include "fputrace/timeline.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

#include "fputrace/escape.hpp"
#include "fputrace/findings_out.hpp"

namespace fputrace {

using nlohmann::json;

// ---- building the timeline ----

namespace {

std::string hex(uint64_t v) {
  return fmt::format("{:#x}", v);
}

class Builder {
 public:
  void on_mount(const MountInfo& m) {
    mount_by_id_[m.id] = m;
    mount_at_[m.path] = m;
  }
  void on_event(const Event& e);
  void on_finding(const Finding& f);
  Timeline finish();

 private:
  void see(const Task& t);
  void on_work(const Event& e, bool end);
  void on_request(const Event& e, bool aio, bool end);
  void on_umount(const Event& e);
  void on_pin_deferred(const Finding& f);
  void on_pin_released(const Finding& f);
  std::string file_path(const FileRef& f) const;

  Timeline tl_;
  std::set<std::pair<uint32_t, uint32_t>> seen_;  // (tgid, tid)
  // Open work items by (kind, tid, ring): a kworker runs one item at a time,
  // and ring teardowns of different rings may interleave across kworkers.
  std::map<std::tuple<EventType, uint32_t, uint64_t>, size_t> open_work_;
  std::map<std::pair<bool, uint64_t>, size_t> open_req_;  // (aio, req) -> index
  std::map<uint64_t, size_t> open_pin_;                   // struct file -> index
  std::map<int32_t, MountInfo> mount_by_id_;
  std::map<std::string, MountInfo> mount_at_;
};

void Builder::see(const Task& t) {
  if (seen_.insert({t.tgid, t.tid}).second) tl_.tasks.push_back(t);
}

std::string Builder::file_path(const FileRef& f) const {
  MountRef m{f.mnt_id, f.mount_path};
  if (auto it = mount_by_id_.find(f.mnt_id); m.path.empty() && it != mount_by_id_.end()) m.path = it->second.path;
  return full_path(m, f);
}

void Builder::on_event(const Event& e) {
  if (tl_.events++ == 0) {
    tl_.start_ns = e.time_ns;
    tl_.backend = e.backend;
  }
  tl_.start_ns = std::min(tl_.start_ns, e.time_ns);
  tl_.end_ns = std::max(tl_.end_ns, e.time_ns);
  see(e.task);
  switch (e.type) {
    case EventType::RingExit:
      return on_work(e, false);
    case EventType::RingExitEnd:
      return on_work(e, true);
    case EventType::DelayedRun:
      return on_work(e, false);
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
      return on_umount(e);
    case EventType::TaskExit:
      tl_.exits.push_back(e);
      return;
    default:
      return;
  }
}

void Builder::on_work(const Event& e, bool end) {
  EventType kind =
      (e.type == EventType::RingExit || e.type == EventType::RingExitEnd) ? EventType::RingExit : EventType::DelayedRun;
  auto key = std::make_tuple(kind, e.task.tid, e.ring);
  auto it = open_work_.find(key);
  if (!end) {
    // A start while one is open: the end was lost; close it where the next began.
    if (it != open_work_.end()) {
      tl_.work[it->second].end_ns = e.time_ns;
      tl_.work[it->second].unfinished = true;
    }
    open_work_[key] = tl_.work.size();
    tl_.work.push_back(WorkSlice{kind, e.task, e.time_ns, e.time_ns, false, true, e.ring, e.req});
    return;
  }
  if (it == open_work_.end()) {  // it began before the log did
    tl_.work.push_back(WorkSlice{kind, e.task, 0, e.time_ns, true, false, e.ring, e.req});
    return;
  }
  WorkSlice& w = tl_.work[it->second];
  w.end_ns = e.time_ns;
  w.unfinished = false;
  open_work_.erase(it);
}

void Builder::on_request(const Event& e, bool aio, bool end) {
  auto key = std::make_pair(aio, e.req);
  auto it = open_req_.find(key);
  if (!end) {
    // io_kiocb addresses are recycled: a new request at an open address means
    // the old completion went unseen.
    if (it != open_req_.end()) tl_.requests[it->second].end_ns = e.time_ns;
    RequestSpan r;
    r.aio = aio;
    r.submitter = e.task;
    r.start_ns = r.end_ns = e.time_ns;
    r.unfinished = true;
    r.file = e.file;
    r.path = file_path(e.file);
    r.ring = e.ring;
    r.req = e.req;
    r.user_data = e.user_data;
    open_req_[key] = tl_.requests.size();
    tl_.requests.push_back(std::move(r));
    return;
  }
  if (it == open_req_.end()) return;  // submitted before the log began: nothing to draw from
  RequestSpan& r = tl_.requests[it->second];
  r.end_ns = e.time_ns;
  r.unfinished = false;
  r.completer = e.task;
  r.ret = e.ret;
  open_req_.erase(it);
}

void Builder::on_umount(const Event& e) {
  UmountMark m{e, std::nullopt, std::nullopt};
  if (auto it = mount_at_.find(e.path); it != mount_at_.end()) m.mount = it->second;
  tl_.umounts.push_back(std::move(m));
}

void Builder::on_finding(const Finding& f) {
  tl_.findings.push_back(f);
  for (const Pin& p : f.pins) see(p.origin);
  see(f.actor);
  switch (f.kind) {
    case Finding::Kind::Deferred:
      return on_pin_deferred(f);
    case Finding::Kind::PinReleased:
      return on_pin_released(f);
    case Finding::Kind::UmountBusy:
      // The model reports EBUSY at the umount event's own time, from its caller.
      for (UmountMark& m : tl_.umounts)
        if (m.event.time_ns == f.time_ns && m.event.task.tid == f.actor.tid && !m.busy) m.busy = f;
      return;
  }
}

void Builder::on_pin_deferred(const Finding& f) {
  const Pin& pin = f.pins.at(0);
  auto it = open_pin_.find(pin.file.ptr);
  if (it != open_pin_.end()) {  // a holder change: the same window, a new stage
    auto& stages = tl_.pins[it->second].stages;
    if (stages.empty() || stages.back().holder != pin.holder) stages.push_back({pin.holder, f.time_ns});
    return;
  }
  PinWindow w;
  w.pin = pin;
  w.stages.push_back({pin.holder, f.time_ns});
  w.start_ns = w.end_ns = f.time_ns;
  open_pin_[pin.file.ptr] = tl_.pins.size();
  tl_.pins.push_back(std::move(w));
}

void Builder::on_pin_released(const Finding& f) {
  const Pin& pin = f.pins.at(0);
  auto it = open_pin_.find(pin.file.ptr);
  if (it == open_pin_.end()) {  // not reported as deferred: draw it from since_ns
    PinWindow w;
    w.pin = pin;
    w.stages.push_back({pin.holder, pin.since_ns});
    w.start_ns = pin.since_ns;
    open_pin_[pin.file.ptr] = tl_.pins.size();
    tl_.pins.push_back(std::move(w));
    it = open_pin_.find(pin.file.ptr);
  }
  PinWindow& w = tl_.pins[it->second];
  w.end_ns = f.time_ns;
  w.released = f;
  open_pin_.erase(it);
}

Timeline Builder::finish() {
  // What never ended is drawn to the end of the log; what never began, from its start.
  for (WorkSlice& w : tl_.work) {
    if (w.started_before_log) w.start_ns = tl_.start_ns;
    if (w.unfinished && w.end_ns == w.start_ns) w.end_ns = tl_.end_ns;
  }
  for (auto& [key, i] : open_req_) tl_.requests[i].end_ns = tl_.end_ns;
  for (auto& [file, i] : open_pin_) tl_.pins[i].end_ns = std::max(tl_.end_ns, tl_.pins[i].start_ns);
  return std::move(tl_);
}

}  // namespace

Timeline build_timeline(const std::vector<LogRecord>& log) {
  Builder b;
  for (const LogRecord& r : log) {
    if (const auto* m = std::get_if<MountInfo>(&r))
      b.on_mount(*m);
    else
      b.on_event(std::get<Event>(r));
  }
  replay(log, [&](const Finding& f) { b.on_finding(f); });
  return b.finish();
}

// ---- the Chrome trace ----

namespace {

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

json task_args(const Task& t) {
  return {{"tgid", t.tgid}, {"tid", t.tid}, {"comm", t.comm}};
}

json mount_args(const MountRef& m) {
  return {{"id", m.id}, {"path", m.path}};
}

void metadata_events(const Timeline& tl, json& out) {
  // A process is named after its leader when the leader was seen.
  std::map<uint32_t, std::string> process;
  for (const Task& t : tl.tasks)
    if (t.tid == t.tgid || !process.count(t.tgid)) process[t.tgid] = t.comm;
  for (const auto& [tgid, comm] : process)
    out.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", tgid}, {"tid", tgid}, {"args", {{"name", comm}}}});
  for (const Task& t : tl.tasks)
    out.push_back(
        {{"ph", "M"}, {"name", "thread_name"}, {"pid", t.tgid}, {"tid", t.tid}, {"args", {{"name", t.comm}}}});
}

void work_events(const Timeline& tl, json& out) {
  for (const WorkSlice& w : tl.work) {
    bool ring = w.kind == EventType::RingExit;
    json e = at("X", ring ? "io_ring_exit_work" : "delayed_fput", w.task, w.start_ns);
    e["cat"] = "workqueue";
    e["dur"] = us(w.end_ns - w.start_ns);
    e["args"] = {{"work", hex(w.work)}, {"start_ns", w.start_ns}, {"end_ns", w.end_ns}};
    if (ring) e["args"]["ring"] = hex(w.ring);
    if (w.started_before_log) e["args"]["started_before_log"] = true;
    if (w.unfinished) e["args"]["unfinished"] = true;
    out.push_back(std::move(e));
  }
}

void request_events(const Timeline& tl, json& out) {
  for (size_t i = 0; i < tl.requests.size(); ++i) {
    const RequestSpan& r = tl.requests[i];
    std::string name = fmt::format("{} {}", r.aio ? "aio" : "io_uring req", r.path);
    std::string id = fmt::format("req-{}-{}", hex(r.req), i);  // addresses are recycled
    json b = at("b", name, r.submitter, r.start_ns);
    b["cat"] = r.aio ? "aio" : "io_uring";
    b["id"] = id;
    b["args"] = {{"req", hex(r.req)},
                 {"ring", hex(r.ring)},
                 {"user_data", r.user_data},
                 {"ino", r.file.ino},
                 {"file", r.path},
                 {"mount_id", r.file.mnt_id},
                 {"file_ptr", hex(r.file.ptr)},
                 {"submitter", task_args(r.submitter)}};
    // The end stays on the submitter's track: async pairs match within a process.
    json e = at("e", name, r.submitter, r.end_ns);
    e["cat"] = b["cat"];
    e["id"] = id;
    e["args"] = {{"ret", r.ret}};
    if (r.completer) e["args"]["completed_by"] = task_args(*r.completer);
    if (r.unfinished) e["args"]["unfinished"] = true;
    out.push_back(std::move(b));
    out.push_back(std::move(e));
  }
}

json pin_args(const Pin& p, Backend backend) {
  json a = pin_to_json(p);
  a["mount"] = mount_args(p.mount);
  a["file_ptr"] = hex(p.file.ptr);
  a["backend"] = to_string(backend);
  return a;
}

void pin_stage_events(const PinWindow& w, const std::string& id, json& out) {
  for (size_t s = 0; s < w.stages.size(); ++s) {
    uint64_t end = s + 1 < w.stages.size() ? w.stages[s + 1].start_ns : w.end_ns;
    std::string name = fmt::format("held by {}", to_string(w.stages[s].holder));
    for (const char* ph : {"b", "e"}) {
      json e = at(ph, name, w.pin.origin, *ph == 'b' ? w.stages[s].start_ns : end);
      e["cat"] = "pin";
      e["id"] = id;
      out.push_back(std::move(e));
    }
  }
}

void pin_flow_events(const PinWindow& w, size_t n, json& out) {
  const Finding& rel = *w.released;
  std::string path = full_path(w.pin.mount, w.pin.file);
  json from = at("X", "pin leaves " + w.pin.origin.comm, w.pin.origin, w.pin.since_ns);
  from["dur"] = us(kAnchorNs);
  from["args"] = {{"file", path}, {"source", to_string(w.pin.source)}};
  uint64_t rel_start = rel.time_ns >= kAnchorNs ? rel.time_ns - kAnchorNs : 0;
  from["cat"] = "pin.flow";
  json to = at("X", "release " + path, rel.actor, rel_start);
  to["cat"] = "pin.flow";
  to["dur"] = us(rel.time_ns - rel_start);
  to["args"] = {{"file", path}, {"release_confidence", to_string(rel.release_confidence)}};
  json s = at("s", "pin release", w.pin.origin, w.pin.since_ns + kAnchorNs / 2);
  json f = at("f", "pin release", rel.actor, rel_start + (rel.time_ns - rel_start) / 2);
  for (json* e : {&s, &f}) {
    (*e)["cat"] = "pin.flow";
    (*e)["id"] = n;
  }
  f["bp"] = "e";
  for (json* e : {&from, &s, &to, &f}) out.push_back(std::move(*e));
}

void pin_events(const Timeline& tl, json& out) {
  for (size_t i = 0; i < tl.pins.size(); ++i) {
    const PinWindow& w = tl.pins[i];
    Backend backend = tl.backend.value_or(Backend::Tracepoint);
    std::string id = fmt::format("pin-{}", i);
    json b = at("b", "pin " + full_path(w.pin.mount, w.pin.file), w.pin.origin, w.start_ns);
    b["cat"] = "pin";
    b["id"] = id;
    b["args"] = pin_args(w.pin, backend);
    json e = at("e", b["name"].get<std::string>(), w.pin.origin, w.end_ns);
    e["cat"] = "pin";
    e["id"] = id;
    if (w.released) {
      e["args"] = {{"released_by", task_args(w.released->actor)},
                   {"release_confidence", to_string(w.released->release_confidence)},
                   {"held_ns", w.released->held_ns}};
      e["args"]["after_busy_ns"] = w.released->after_busy_ns ? json(*w.released->after_busy_ns) : json(nullptr);
    } else {
      e["args"] = {{"unreleased", true}};
    }
    out.push_back(std::move(b));
    pin_stage_events(w, id, out);
    out.push_back(std::move(e));
    if (w.released) pin_flow_events(w, i, out);
  }
}

std::string umount_result(int64_t ret) {
  if (ret == 0) return "ok";
  if (ret == -EBUSY) return "EBUSY";
  return fmt::format("errno {}", -ret);
}

void umount_events(const Timeline& tl, json& out) {
  for (const UmountMark& m : tl.umounts) {
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
    out.push_back(std::move(e));
  }
}

void exit_events(const Timeline& tl, json& out) {
  for (const Event& x : tl.exits) {
    bool leader = x.task.leader() || x.task.tid == x.task.tgid;
    // A leader's exit ends the process; another thread's only that thread.
    json e = at("i", leader ? "process exit" : "thread exit", x.task, x.time_ns);
    e["s"] = leader ? "p" : "t";
    e["cat"] = "task";
    e["args"] = task_args(x.task);
    e["args"]["flags"] = x.task.flags;
    out.push_back(std::move(e));
  }
}

json raw_events(const std::vector<LogRecord>& log) {
  json out = json::array();
  for (const LogRecord& r : log) {
    if (const auto* m = std::get_if<MountInfo>(&r))
      out.push_back(mount_to_json(*m));
    else
      out.push_back(event_to_json(std::get<Event>(r)));
  }
  return out;
}

// Metadata first, then by time; the stable sort keeps each begin before its
// nested begins and each anchor slice before the flow event bound to it.
void sort_events(json& events) {
  auto key = [](const json& e) { return e["ph"] == "M" ? -1.0 : e["ts"].get<double>(); };
  std::stable_sort(events.begin(), events.end(), [&](const json& a, const json& b) { return key(a) < key(b); });
}

}  // namespace

json chrome_trace(const std::vector<LogRecord>& log, const TraceMeta& meta) {
  Timeline tl = build_timeline(log);
  json events = json::array();
  metadata_events(tl, events);
  work_events(tl, events);
  request_events(tl, events);
  pin_events(tl, events);
  umount_events(tl, events);
  exit_events(tl, events);
  sort_events(events);
  std::string backend = meta.backend;
  if (backend.empty() && tl.backend) backend = std::string(to_string(*tl.backend));
  json fp{{"version", 1}, {"backend", backend}, {"kernel", meta.kernel}, {"command", meta.command}};
  fp["recorded_at"] = meta.recorded_at.empty() ? json(nullptr) : json(meta.recorded_at);
  fp["events"] = raw_events(log);
  return {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ns"}, {"metadata", {{"fputrace", std::move(fp)}}}};
}

// ---- reading a trace or log back ----

namespace {

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument(what);
}

LogRecord record_from(const json& j) {
  if (!j.is_object()) bad("record is not a JSON object");
  return record_from_json(j);
}

std::string string_or_empty(const json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? unescape_bytes(it->get_ref<const std::string&>()) : "";
}

TraceFile from_chrome(const json& doc) {
  auto meta = doc.find("metadata");
  if (meta == doc.end() || !meta->is_object() || !meta->contains("fputrace"))
    bad("not an fputrace trace: no metadata.fputrace.events");
  const json& fp = (*meta)["fputrace"];
  if (!fp.is_object() || !fp.contains("events") || !fp["events"].is_array())
    bad("not an fputrace trace: no metadata.fputrace.events");
  if (!fp.contains("version") || !fp["version"].is_number_integer() || fp["version"] != 1)
    bad(fmt::format("unsupported fputrace trace version {} (this fputrace reads version 1)",
                    fp.contains("version") ? fp["version"].dump() : "(missing)"));
  TraceFile out;
  out.chrome = true;
  out.meta = {string_or_empty(fp, "kernel"), string_or_empty(fp, "backend"), string_or_empty(fp, "command"),
              string_or_empty(fp, "recorded_at")};
  const json& events = fp["events"];
  for (size_t i = 0; i < events.size(); ++i) {
    try {
      out.log.push_back(record_from(events[i]));
    } catch (const std::invalid_argument& ex) {
      bad(fmt::format("metadata.fputrace.events[{}]: {}", i, ex.what()));
    }
  }
  return out;
}

TraceFile from_lines(const std::string& text) {
  std::istringstream in(text);
  TraceFile out;
  out.log = read_event_log(in);
  for (const LogRecord& r : out.log)
    if (const auto* e = std::get_if<Event>(&r)) {
      out.meta.backend = std::string(to_string(e->backend));
      break;
    }
  return out;
}

// The first line parsed on its own (discarded when it is not complete JSON):
// in a JSON-lines log it is a record; in a compact trace, the whole file.
json first_line(const std::string& text, size_t first) {
  return json::parse(text.substr(first, text.find('\n', first) - first), nullptr, false);
}

std::string describe_start(char c) {
  if (c >= 0x20 && c < 0x7f) return fmt::format("'{}'", c);
  return fmt::format("byte {:#04x}", static_cast<unsigned char>(c));
}

json parse_whole(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& ex) {
    // nlohmann says "unexpected end of input" when the text stops mid-value.
    size_t end = text.find_last_not_of(" \t\r\n") + 1;
    if (std::string_view(ex.what()).find("end of input") != std::string_view::npos)
      bad(fmt::format("truncated JSON at byte {} (the file ends inside a value)", end));
    bad(fmt::format("invalid JSON at byte {}", ex.byte));
  } catch (const json::exception& ex) {  // out_of_range: a number beyond a double's range
    bad(fmt::format("invalid JSON: {}", ex.what()));
  }
}

}  // namespace

TraceFile read_trace_file(std::istream& in) {
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) bad("empty input: neither an fputrace trace nor an event log");
  if (text[first] == '[') bad("not an fputrace trace: a bare JSON array has no metadata.fputrace.events");
  if (text[first] != '{')
    bad(fmt::format("not an fputrace trace or event log: starts with {}", describe_start(text[first])));
  check_json_depth(text);
  json head = first_line(text, first);
  if (!head.is_discarded() && head.is_object() && head.contains("type")) return from_lines(text);
  bool whole = text.find_first_not_of(" \t\r\n", text.find('\n', first)) == std::string::npos;
  json doc = !head.is_discarded() && whole ? std::move(head) : parse_whole(text);
  if (doc.contains("traceEvents") || doc.contains("metadata")) return from_chrome(doc);
  bad("not an fputrace trace: no metadata.fputrace.events");
}

std::vector<LogRecord> log_from_trace_file(std::istream& in) {
  return read_trace_file(in).log;
}

}  // namespace fputrace
