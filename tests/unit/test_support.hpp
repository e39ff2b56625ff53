// Builders for event sequences in model tests.
#pragma once

#include <cerrno>
#include <string>

#include "fputrace/event.hpp"

extern "C" {
#include "fputrace/events.h"
}

namespace fputrace::test {

inline Task user(uint32_t tgid, uint32_t tid = 0, const std::string& comm = "app") {
  uint32_t t = tid ? tid : tgid;
  return Task{tgid, t, t == tgid ? uint32_t{FT_TASK_LEADER} : 0u, comm};
}

inline Task kworker(uint32_t pid = 77) {
  return Task{pid, pid, FT_TASK_KTHREAD | FT_TASK_LEADER, "kworker/u8:1"};
}

inline FileRef file(uint64_t ptr, int32_t mnt = 44, const std::string& path = "/data") {
  return FileRef{ptr, 12, 39, mnt, path, false};
}

struct Seq {
  Backend backend = Backend::Tracepoint;
  uint64_t now = 1000;

  Event make(EventType t, Task task) {
    Event e;
    e.type = t;
    e.backend = backend;
    e.time_ns = (now += 1000);
    e.task = std::move(task);
    return e;
  }
  Event ring_file(Task t, uint64_t ring, FileRef f) {
    Event e = make(EventType::RingFile, std::move(t));
    e.ring = ring;
    e.file = std::move(f);
    return e;
  }
  Event uring_req(Task t, uint64_t ring, uint64_t req, FileRef f) {
    Event e = make(EventType::UringReq, std::move(t));
    e.ring = ring;
    e.req = req;
    e.file = std::move(f);
    return e;
  }
  Event uring_done(Task t, uint64_t ring, uint64_t req, uint64_t file_ptr) {
    Event e = make(EventType::UringDone, std::move(t));
    e.ring = ring;
    e.req = req;
    e.file.ptr = file_ptr;
    return e;
  }
  Event ring_exit(uint64_t ring, bool end) {
    Event e = make(end ? EventType::RingExitEnd : EventType::RingExit, kworker());
    e.ring = ring;
    return e;
  }
  Event aio_submit(Task t, FileRef f) {
    Event e = make(EventType::AioSubmit, std::move(t));
    e.ring = 0x5000;
    e.file = std::move(f);
    return e;
  }
  Event deferred(Task t, FileRef f, DeferReason why) {
    Event e = make(EventType::Deferred, std::move(t));
    e.file = std::move(f);
    e.detail = static_cast<uint32_t>(why);
    return e;
  }
  Event released(Task t, FileRef f) {
    Event e = make(EventType::Released, std::move(t));
    e.file = std::move(f);
    return e;
  }
  // The kernel side's owner of a file, as records carry it.
  static Owner owner(Task t, OwnerKind kind, uint64_t ring = 0) {
    Owner o;
    o.kind = kind;
    o.task = std::move(t);
    o.ring = ring;
    return o;
  }
  Event pending_at_exit(Task t, FileRef f, uint64_t ring, int64_t count) {
    Event e = make(EventType::PendingAtExit, t);
    e.file = std::move(f);
    e.ring = ring;
    e.ret = count;
    e.owner = owner(std::move(t), OwnerKind::UringRequest, ring);
    e.owner->gone = true;
    return e;
  }
  Event deferred_owned(Task by, FileRef f, DeferReason why, Owner o) {
    Event e = deferred(std::move(by), std::move(f), why);
    e.owner = std::move(o);
    return e;
  }
  Event uring_done_on(Task by, FileRef f, Owner o) {
    Event e = make(EventType::UringDone, std::move(by));
    e.file = std::move(f);
    e.ring = o.ring;
    e.owner = std::move(o);
    return e;
  }
  Event loss(uint64_t records, uint32_t items = 0) {
    Event e = make(EventType::Loss, Task{0, 0, 0, "fputrace"});
    e.ret = static_cast<int64_t>(records);
    e.detail = items;
    return e;
  }
  Event delayed_run(bool end) { return make(end ? EventType::DelayedRunEnd : EventType::DelayedRun, kworker(5)); }
  Event exit(Task t) { return make(EventType::TaskExit, std::move(t)); }
  Event umount(Task t, const std::string& path, int64_t ret) {
    Event e = make(EventType::Umount, std::move(t));
    e.path = path;
    e.ret = ret;
    return e;
  }
};

}  // namespace fputrace::test
