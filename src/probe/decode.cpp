#include "fputrace/decode.hpp"

#include <cstring>
#include <string>

extern "C" {
#include "fputrace/events.h"
}

namespace fputrace {

// The model keeps the BPF side's bit values under its own names (event.hpp).
constexpr bool same_bit(uint32_t model, uint32_t abi) {
  return model == abi;
}
static_assert(same_bit(kTaskKernelThread, FT_TASK_KTHREAD) && same_bit(kTaskExiting, FT_TASK_EXITING) &&
              same_bit(kTaskIoWorker, FT_TASK_IO_WORKER) && same_bit(kTaskLeader, FT_TASK_LEADER));
static_assert(same_bit(kRingFileAtExit, FT_RING_FILE_AT_EXIT) && same_bit(kExitGroupDead, FT_EXIT_GROUP_DEAD));

namespace {

std::string bounded(const char* s, size_t max) {
  return std::string(s, ::strnlen(s, max));
}

std::optional<EventType> type_of(uint32_t raw) {
  switch (raw) {
    case FT_EV_RING_FILE:
      return EventType::RingFile;
    case FT_EV_URING_REQ:
      return EventType::UringReq;
    case FT_EV_URING_DONE:
      return EventType::UringDone;
    case FT_EV_RING_EXIT:
      return EventType::RingExit;
    case FT_EV_RING_EXIT_END:
      return EventType::RingExitEnd;
    case FT_EV_AIO_SUBMIT:
      return EventType::AioSubmit;
    case FT_EV_AIO_DONE:
      return EventType::AioDone;
    case FT_EV_DEFERRED:
      return EventType::Deferred;
    case FT_EV_RELEASED:
      return EventType::Released;
    case FT_EV_DELAYED_RUN:
      return EventType::DelayedRun;
    case FT_EV_DELAYED_RUN_END:
      return EventType::DelayedRunEnd;
    case FT_EV_TASK_EXIT:
      return EventType::TaskExit;
    case FT_EV_PENDING_AT_EXIT:
      return EventType::PendingAtExit;
    default:
      return std::nullopt;
  }
}

Backend backend_of(uint32_t raw) {
  switch (raw) {
    case FT_BACKEND_FENTRY:
      return Backend::Fentry;
    case FT_BACKEND_KPROBE:
      return Backend::Kprobe;
    default:
      return Backend::Tracepoint;
  }
}

// Dentry names come leaf first; the path reads root first.
std::string join_path(const char (&names)[FT_PATH_DEPTH][FT_NAME_LEN], bool truncated) {
  std::string path;
  for (int i = 0; i < FT_PATH_DEPTH; ++i) {
    std::string name = bounded(names[i], FT_NAME_LEN);
    if (name.empty()) break;
    path.insert(0, name);
    path.insert(0, 1, '/');
  }
  if (truncated) path.insert(0, "/...");
  return path;
}

std::optional<Owner> owner_of(const ft_origin& o) {
  Owner owner;
  switch (o.source) {
    case FT_SRC_URING_REQ:
      owner.kind = OwnerKind::UringRequest;
      break;
    case FT_SRC_URING_REG:
      owner.kind = OwnerKind::UringRegistered;
      break;
    case FT_SRC_AIO:
      owner.kind = OwnerKind::Aio;
      break;
    default:
      return std::nullopt;  // FT_SRC_NONE: no owner known
  }
  owner.task = Task{o.tgid, o.tid, 0, bounded(o.comm, FT_COMM_LEN)};
  owner.task.cgroup_id = o.cgroup_id;  // the path is the collector's to find (containers.hpp)
  owner.task.mntns = o.mntns;
  owner.ring = o.ring;
  owner.since_ns = o.time_ns;
  owner.found_at_exit = o.flags & FT_ORIGIN_AT_EXIT;
  owner.gone = o.flags & FT_ORIGIN_GONE;
  owner.no_completions = o.flags & FT_ORIGIN_NO_COMPLETIONS;
  return owner;
}

std::string join_names(const char (&names)[FT_PATH_DEPTH][FT_NAME_LEN], bool truncated) {
  std::string path = join_path(names, truncated);
  return path.empty() ? "/" : path;
}

std::optional<Event> decode_event(const void* data, size_t size);

Event decode_umount(const ft_umount_event& raw) {
  Event e;
  e.type = EventType::Umount;
  e.backend = backend_of(raw.backend);
  e.time_ns = raw.time_ns;
  e.task = Task{raw.task.tgid, raw.task.tid, raw.task.flags, bounded(raw.task.comm, FT_COMM_LEN)};
  e.task.cgroup_id = raw.task.cgroup_id;
  e.task.mntns = raw.task.mntns;
  e.ret = raw.ret;
  e.detail = raw.flags;
  e.path = bounded(raw.path, FT_UMOUNT_PATH_LEN);
  UmountInfo u;
  u.flags = raw.flags;
  if (raw.info & FT_UMOUNT_MOUNT_KNOWN) {
    u.mount_known = true;
    u.mnt_id = raw.mnt_id;
    u.mnt_unique = raw.mnt_unique;
    u.mnt_ns = raw.mnt_ns;
    u.mount_path_truncated = raw.info & FT_UMOUNT_MNT_TRUNCATED;
    u.mount_path = join_names(raw.mnt_names, u.mount_path_truncated);
  }
  if (raw.info & FT_UMOUNT_REFS_KNOWN) u.refs = raw.refs;
  u.nr_children = raw.nr_children;
  for (uint32_t i = 0; i < raw.nr_children && i < FT_UMOUNT_CHILDREN; ++i)
    u.children.push_back(ChildMount{raw.child_ids[i], bounded(raw.child_names[i], FT_NAME_LEN)});
  if (raw.info & FT_UMOUNT_CWD_KNOWN) {
    u.cwd_truncated = raw.info & FT_UMOUNT_CWD_TRUNCATED;
    u.cwd = join_names(raw.cwd_names, u.cwd_truncated);
  }
  e.umount = std::move(u);
  return e;
}

LockKind lock_kind_of(uint32_t raw) {
  switch (raw) {
    case FT_LOCK_OFD:
      return LockKind::Ofd;
    case FT_LOCK_POSIX:
      return LockKind::Posix;
    default:
      return LockKind::Flock;
  }
}

FileRef file_of(const ft_file& raw) {
  FileRef f;
  if (!raw.ptr) return f;
  f.ptr = raw.ptr;
  f.ino = raw.ino;
  f.dev = raw.dev;
  f.mnt_id = raw.mnt_id;
  if (raw.flags & FT_FILE_DESCRIBED) {
    f.path = join_path(raw.names, false);
    f.path_truncated = raw.flags & FT_FILE_PATH_TRUNCATED;
    f.mount_path = join_path(raw.mnt_names, raw.flags & FT_FILE_MNT_TRUNCATED);
    if (f.mount_path.empty()) f.mount_path = "/";
    f.mount_ns = raw.mnt_ns;
    f.mount_detached = raw.flags & FT_FILE_MNT_DETACHED;
  }
  return f;
}

Event decode_lock(const ft_lock_event& raw) {
  Event e;
  e.type = EventType::LockBusy;
  e.backend = backend_of(raw.backend);
  e.time_ns = raw.time_ns;
  e.task = Task{raw.task.tgid, raw.task.tid, raw.task.flags, bounded(raw.task.comm, FT_COMM_LEN)};
  e.task.cgroup_id = raw.task.cgroup_id;
  e.task.mntns = raw.task.mntns;
  e.file = file_of(raw.file);
  e.ret = raw.ret;
  LockInfo lock;
  lock.kind = lock_kind_of(raw.kind);
  lock.write = raw.lock_type == 1;  // F_WRLCK
  lock.layout_unknown = raw.info & FT_LOCK_LIST_UNKNOWN;
  lock.nr_holders = raw.nr_holders;
  for (uint32_t i = 0; i < raw.nr_holders && i < FT_LOCK_HOLDERS; ++i) {
    const ft_lock_holder& h = raw.holders[i];
    LockHolder holder{h.file, h.ino, h.mnt_id, h.pid, lock_kind_of(h.kind), h.type == 1, std::nullopt};
    if (h.has_origin) holder.owner = owner_of(h.origin);
    lock.holders.push_back(std::move(holder));
  }
  e.lock = std::move(lock);
  return e;
}

Event decode_bdev(const ft_bdev_event& raw) {
  Event e;
  e.type = EventType::BdevBusy;
  e.backend = backend_of(raw.backend);
  e.time_ns = raw.time_ns;
  e.task = Task{raw.task.tgid, raw.task.tid, raw.task.flags, bounded(raw.task.comm, FT_COMM_LEN)};
  e.task.cgroup_id = raw.task.cgroup_id;
  e.task.mntns = raw.task.mntns;
  e.file = file_of(raw.file);
  e.ret = raw.ret;
  e.bdev = BlockDevInfo{raw.rdev, raw.f_flags};
  return e;
}

}  // namespace

std::optional<Event> decode(const void* data, size_t size) {
  if (size >= sizeof(uint32_t) && *static_cast<const uint32_t*>(data) == FT_EV_BDEV_BUSY) {
    if (size < sizeof(ft_bdev_event)) return std::nullopt;
    ft_bdev_event raw;
    std::memcpy(&raw, data, sizeof(raw));
    return decode_bdev(raw);
  }
  if (size >= sizeof(uint32_t) && *static_cast<const uint32_t*>(data) == FT_EV_LOCK_BUSY) {
    if (size < sizeof(ft_lock_event)) return std::nullopt;
    ft_lock_event raw;
    std::memcpy(&raw, data, sizeof(raw));
    return decode_lock(raw);
  }
  if (size >= sizeof(uint32_t) && *static_cast<const uint32_t*>(data) == FT_EV_UMOUNT) {
    if (size < sizeof(ft_umount_event)) return std::nullopt;
    ft_umount_event raw;
    std::memcpy(&raw, data, sizeof(raw));
    return decode_umount(raw);
  }
  return decode_event(data, size);
}

namespace {

std::optional<Event> decode_event(const void* data, size_t size) {
  if (size < sizeof(ft_event)) return std::nullopt;
  ft_event raw;
  std::memcpy(&raw, data, sizeof(raw));
  auto type = type_of(raw.type);
  if (!type) return std::nullopt;
  Event e;
  e.type = *type;
  e.backend = backend_of(raw.backend);
  e.time_ns = raw.time_ns;
  e.task = Task{raw.task.tgid, raw.task.tid, raw.task.flags, bounded(raw.task.comm, FT_COMM_LEN)};
  e.task.cgroup_id = raw.task.cgroup_id;
  e.task.mntns = raw.task.mntns;
  // No struct file, no file: as the event log has it (event_to_json), so that
  // a replayed log tells what the live model was told.
  e.file = file_of(raw.file);
  e.ring = raw.ring;
  e.req = raw.req;
  e.user_data = raw.user_data;
  e.ret = raw.ret;
  e.detail = raw.detail;
  e.path = bounded(raw.path, FT_UMOUNT_PATH_LEN);
  e.owner = owner_of(raw.origin);
  return e;
}

}  // namespace

}  // namespace fputrace
