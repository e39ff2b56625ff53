// Decoded events: what the probes saw, as plain C++ values. The model consumes
// these and nothing else, so it can be driven from recordings in tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fputrace {

enum class EventType {
  RingFile,     // a file is in an io_uring ring's fixed file table
  UringReq,     // (old logs) an io_uring request took a file
  UringDone,    // a request completed on a kernel thread after its owner exited
  RingExit,     // io_ring_exit_work started (ring teardown, on a kworker)
  RingExitEnd,  // ... and returned
  AioSubmit,    // (old logs) io_submit of an iocb on a file
  AioDone,      // (old logs) aio completion
  Deferred,     // a final fput was queued on the delayed_fput list (observed)
  Released,     // __fput ran: the mount reference was dropped (observed)
  DelayedRun,   // the delayed_fput work item started
  DelayedRunEnd,
  TaskExit,       // the last thread of a process that owned files exited
  Umount,         // umount(2) returned
  PendingAtExit,  // io_uring requests on a file were in flight when their owner's process exited
  Loss,           // the collector noticed that the BPF side lost records (ret) or items (detail)
  LockBusy,       // a non-blocking file lock was refused (EAGAIN / EWOULDBLOCK)
  BdevBusy,       // opening a block device failed with EBUSY: it is claimed
};

enum class Backend { Tracepoint, Fentry, Kprobe };

// Why a final fput went to the delayed_fput list (Event::detail for Deferred).
enum class DeferReason : uint32_t {
  Unknown = 0,
  KernelThread = 1,
  NoTaskWork = 2,      // interrupt context
  TaskWorkFailed = 3,  // task past its task-work stage
  SeenAtRelease = 4,   // missed at fput (a concurrent drop): seen when __fput ran from delayed_fput
  AioCompletion = 5,   // tracepoint backend: an aio completion held the last reference
};

// What the kernel side knew of a file's owner when it sent the record: the
// task that last used it for io_uring or aio, claimed in the kernel.
enum class OwnerKind { UringRequest, UringRegistered, Aio };

// Task::flags bits as the event log stores them: the BPF side's FT_TASK_*
// values (include/fputrace/events.h, checked at compile time in
// src/probe/decode.cpp), so the model needs no BPF header.
enum TaskFlag : uint32_t {
  kTaskKernelThread = 1u << 0,  // PF_KTHREAD
  kTaskExiting = 1u << 1,       // PF_EXITING
  kTaskIoWorker = 1u << 2,      // PF_IO_WORKER
  kTaskLeader = 1u << 3,        // tid == tgid
};

// Event::detail bits of a ring_file record (FT_RING_FILE_*) and of a
// task_exit record (FT_EXIT_*), likewise checked against events.h.
enum RingFileDetail : uint32_t { kRingFileAtExit = 1u << 0 };
enum TaskExitDetail : uint32_t { kExitGroupDead = 1u << 0 };

struct Task {
  uint32_t tgid = 0;
  uint32_t tid = 0;
  uint32_t flags = 0;  // TaskFlag bits
  std::string comm;
  // Where it ran (containers.hpp): the cgroup2 id (the inode number of the
  // cgroup's directory) and its path from the hierarchy's root, as
  // /proc/PID/cgroup's 0:: line says; the mount namespace inode, as
  // /proc/PID/ns/mnt. 0 and "" when unknown (old logs, a removed cgroup).
  uint64_t cgroup_id = 0;
  std::string cgroup_path;
  uint64_t mntns = 0;

  bool kernel_thread() const;
  bool exiting() const;
  bool io_worker() const;
  bool leader() const;
};

struct FileRef {
  uint64_t ptr = 0;  // struct file address: links records about one file
  uint64_t ino = 0;
  uint32_t dev = 0;
  int32_t mnt_id = 0;
  std::string path;  // relative to the mount root ("/dir/name"); "" if unknown
  bool path_truncated = false;
  std::string mount_path;  // the mount's mount point as the kernel named it; "" if not sent
  uint64_t mount_ns = 0;   // the mount namespace mount_path holds in; 0 if unknown
  // The mount is in no namespace (umount -l detached it): mount_path is then
  // only "/", the mount's own root.
  bool mount_detached = false;
};

struct Owner {
  OwnerKind kind = OwnerKind::UringRequest;
  Task task;                    // flags unused
  uint64_t ring = 0;            // io_ring_ctx, or aio context id
  uint64_t since_ns = 0;        // when it claimed the file
  bool found_at_exit = false;   // in a ring's table at exit; the registration was not seen
  bool gone = false;            // its process had exited
  bool no_completions = false;  // this kernel cannot tell completed requests: counts only grow
};

// What the kernel side saw of a umount(2) beyond its result.
struct ChildMount {
  int32_t id = 0;
  std::string name;  // the leaf of its mount point
};
struct UmountInfo {
  // Identified in the kernel (path_umount): the mount the path resolved to.
  bool mount_known = false;
  int32_t mnt_id = 0;
  uint64_t mnt_unique = 0;  // mnt_id_unique (6.8+), else a value that changes when the id is reused
  uint32_t mnt_ns = 0;      // inode of the mount's namespace
  std::string mount_path;   // its mount point in that namespace
  bool mount_path_truncated = false;
  std::optional<int64_t> refs;  // mnt_get_count() at the EBUSY
  std::vector<ChildMount> children;
  uint32_t nr_children = 0;  // may exceed children.size()
  // Tracepoint backend: the caller's working directory, for relative paths.
  std::string cwd;
  bool cwd_truncated = false;
  uint32_t flags = 0;  // umount2 flags
  // Found by the collector in the caller's mount namespace (its mountinfo),
  // when the kernel did not name the mount.
  std::optional<int32_t> resolved_mnt_id;
  std::string resolved_path;
};

// A file lock refused: the lock asked for and the locks that conflicted.
enum class LockKind { Flock, Ofd, Posix };
struct LockHolder {
  uint64_t file = 0;  // the struct file the conflicting lock lives on (flock, OFD: its owner)
  uint64_t ino = 0;
  int32_t mnt_id = 0;
  uint32_t pid = 0;  // the process that took the lock (fl_pid)
  LockKind kind = LockKind::Flock;
  bool write = false;
  std::optional<Owner> owner;  // the kernel side's owner of that file, when it had one
};
struct LockInfo {
  LockKind kind = LockKind::Flock;
  bool write = false;  // F_WRLCK / LOCK_EX asked for
  std::vector<LockHolder> holders;
  uint32_t nr_holders = 0;     // may exceed holders.size()
  bool layout_unknown = false; // this kernel's lock layout is not known: no holders read
};

// A block device open refused with EBUSY.
struct BlockDevInfo {
  uint32_t rdev = 0;  // kernel dev_t: major << 20 | minor, as FileRef::dev
  uint32_t flags = 0; // the open's flags
  bool exclusive() const { return flags & 0200; }  // O_EXCL
};
// "7:0" from a kernel dev_t.
std::string dev_name(uint32_t dev);

struct Event {
  EventType type = EventType::Umount;
  Backend backend = Backend::Tracepoint;
  uint64_t time_ns = 0;  // CLOCK_MONOTONIC, from the BPF side
  Task task;             // the task the probe fired in
  FileRef file;
  uint64_t ring = 0;  // io_ring_ctx address, or aio context id
  uint64_t req = 0;   // io_kiocb / iocb address
  uint64_t user_data = 0;
  int64_t ret = 0;
  uint32_t detail = 0;
  std::string path;                  // umount target
  std::optional<Owner> owner;        // Deferred, PendingAtExit, UringDone, RingFile
  std::optional<UmountInfo> umount;  // Umount
  std::optional<LockInfo> lock;      // LockBusy
  std::optional<BlockDevInfo> bdev;  // BdevBusy (file: the device node opened)
};

std::string_view to_string(EventType t);
std::optional<EventType> event_type_from_string(std::string_view s);
std::string_view to_string(Backend b);
std::optional<Backend> backend_from_string(std::string_view s);
std::string_view to_string(OwnerKind k);
std::optional<OwnerKind> owner_kind_from_string(std::string_view s);
std::string_view to_string(LockKind k);
std::optional<LockKind> lock_kind_from_string(std::string_view s);
// "flock(LOCK_EX)", "OFD write lock", ...: the request as a user wrote it.
std::string lock_request_name(LockKind k, bool write);

// A path relative to dir (or absolute), with "." and ".." resolved by name:
// "/a/b" + "../c/./d" -> "/a/c/d". How a umount's relative path is read
// against the caller's working directory (symlinks are not followed).
std::string joined_path(const std::string& dir, const std::string& rel);

// True when the backend probes fput/__fput, so deferrals and releases are seen.
bool sees_releases(Backend b);

}  // namespace fputrace
