// The streaming core of timelines and Chrome traces: replays a log record by
// record through the model and pairs starts with ends (work items, requests,
// pins), telling a SpanSink about each piece as soon as it is known. It keeps
// only what is open, up to a cap per kind; a span pushed out by the cap is
// ended where it was pushed out and flagged `evicted`, and counted.
#pragma once

#include <cstdint>
#include <tuple>
#include <utility>

#include "fputrace/capped_map.hpp"
#include "fputrace/replay.hpp"
#include "fputrace/event_json.hpp"
#include "fputrace/timeline.hpp"

namespace fputrace {

// Each span is numbered n in the order it began (per kind, from 0).
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  // A task's first appearance (and its first in an event, if a finding named it before).
  virtual void task(const Task&, bool from_event) = 0;
  virtual void work_begin(size_t n, const WorkSlice& w) = 0;
  virtual void work_end(size_t n, const WorkSlice& w, bool evicted) = 0;
  virtual void request_begin(size_t n, const RequestSpan& r) = 0;
  virtual void request_end(size_t n, const RequestSpan& r, bool evicted) = 0;
  virtual void pin_begin(size_t n, const PinWindow& w) = 0;
  virtual void pin_stage(size_t n, const PinWindow& w) = 0;  // w.stages.back() began; the one before ended
  virtual void pin_end(size_t n, const PinWindow& w, bool evicted) = 0;
  virtual void umount(const UmountMark& m) = 0;
  virtual void exit(const Event& e) = 0;
  virtual void finding(const Finding& f) = 0;
};

class SpanTracker {
 public:
  SpanTracker(SpanSink& sink, size_t open_cap, size_t task_cap);
  // A record, through the tracker's own replay of the model.
  void add(const LogRecord& r);
  // An event and what a model outside concluded from it (the live one).
  void add(const Event& e, const std::vector<Finding>& findings);
  void add(const MountInfo& m);
  // Ends what is still open at the end of the log.
  void finish();

  uint64_t start_ns() const { return start_ns_; }
  uint64_t end_ns() const { return end_ns_; }
  size_t events() const { return events_; }
  std::optional<Backend> backend() const { return backend_; }
  uint64_t evictions() const { return work_.evictions() + requests_.evictions() + pins_.evictions(); }
  const Model& model() const { return replay_.model(); }

 private:
  template <typename T>
  struct Open {
    size_t n = 0;
    T span;
  };
  using WorkKey = std::tuple<EventType, uint32_t, uint64_t>;  // (kind, tid, ring)

  void on_event(const Event& e, const std::vector<Finding>& findings);
  void see(const Task& t, bool from_event);
  void on_work(const Event& e, bool end);
  void on_request(const Event& e, bool aio, bool end);
  void on_umount(const Event& e, const std::vector<Finding>& findings);
  void on_finding(const Finding& f);
  void on_pin_deferred(const Finding& f);
  void on_pin_released(const Finding& f);
  void make_room_for_work();
  void make_room_for_request();
  void make_room_for_pin();
  std::string file_path(const FileRef& f) const;

  SpanSink& sink_;
  Replay replay_;
  CappedMap<std::pair<uint32_t, uint32_t>, bool> seen_;  // (tgid, tid) -> seen in an event
  CappedMap<WorkKey, Open<WorkSlice>> work_;
  CappedMap<std::pair<bool, uint64_t>, Open<RequestSpan>> requests_;  // (aio, req)
  CappedMap<uint64_t, Open<PinWindow>> pins_;                         // by struct file
  CappedMap<int32_t, MountInfo> mount_by_id_;
  CappedMap<std::string, MountInfo> mount_at_;
  size_t next_work_ = 0, next_request_ = 0, next_pin_ = 0;
  uint64_t start_ns_ = 0, end_ns_ = 0, now_ns_ = 0;
  size_t events_ = 0;
  std::optional<Backend> backend_;
};

}  // namespace fputrace
