#include "fputrace/event.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

namespace fputrace {

bool Task::kernel_thread() const {
  return flags & kTaskKernelThread;
}
bool Task::exiting() const {
  return flags & kTaskExiting;
}
bool Task::io_worker() const {
  return flags & kTaskIoWorker;
}
bool Task::leader() const {
  return flags & kTaskLeader;
}

namespace {
constexpr std::array<std::pair<EventType, std::string_view>, 17> kEventNames{{
    {EventType::RingFile, "ring_file"},
    {EventType::UringReq, "uring_req"},
    {EventType::UringDone, "uring_done"},
    {EventType::RingExit, "ring_exit"},
    {EventType::RingExitEnd, "ring_exit_end"},
    {EventType::AioSubmit, "aio_submit"},
    {EventType::AioDone, "aio_done"},
    {EventType::Deferred, "fput_deferred"},
    {EventType::Released, "fput_released"},
    {EventType::DelayedRun, "delayed_fput_run"},
    {EventType::DelayedRunEnd, "delayed_fput_run_end"},
    {EventType::TaskExit, "task_exit"},
    {EventType::Umount, "umount"},
    {EventType::PendingAtExit, "pending_at_exit"},
    {EventType::Loss, "loss"},
    {EventType::LockBusy, "lock_busy"},
    {EventType::BdevBusy, "bdev_busy"},
}};

constexpr std::array<std::pair<LockKind, std::string_view>, 3> kLockKindNames{{
    {LockKind::Flock, "flock"},
    {LockKind::Ofd, "ofd"},
    {LockKind::Posix, "posix"},
}};

constexpr std::array<std::pair<OwnerKind, std::string_view>, 3> kOwnerKindNames{{
    {OwnerKind::UringRequest, "io_uring_request"},
    {OwnerKind::UringRegistered, "io_uring_registered"},
    {OwnerKind::Aio, "aio"},
}};

constexpr std::array<std::pair<Backend, std::string_view>, 3> kBackendNames{{
    {Backend::Tracepoint, "tracepoint"},
    {Backend::Fentry, "fentry"},
    {Backend::Kprobe, "kprobe"},
}};
}  // namespace

std::string_view to_string(EventType t) {
  for (const auto& [type, name] : kEventNames)
    if (type == t) return name;
  return "unknown";
}

std::optional<EventType> event_type_from_string(std::string_view s) {
  for (const auto& [type, name] : kEventNames)
    if (name == s) return type;
  return std::nullopt;
}

std::string_view to_string(LockKind k) {
  for (const auto& [kind, name] : kLockKindNames)
    if (kind == k) return name;
  return "unknown";
}

std::optional<LockKind> lock_kind_from_string(std::string_view s) {
  for (const auto& [kind, name] : kLockKindNames)
    if (name == s) return kind;
  return std::nullopt;
}

std::string dev_name(uint32_t dev) {
  return std::to_string(dev >> 20) + ":" + std::to_string(dev & 0xfffff);
}

std::string lock_request_name(LockKind k, bool write) {
  switch (k) {
    case LockKind::Flock:
      return write ? "flock(LOCK_EX)" : "flock(LOCK_SH)";
    case LockKind::Ofd:
      return write ? "an OFD write lock" : "an OFD read lock";
    case LockKind::Posix:
      return write ? "a POSIX write lock" : "a POSIX read lock";
  }
  return "a lock";
}

std::string_view to_string(Backend b) {
  for (const auto& [backend, name] : kBackendNames)
    if (backend == b) return name;
  return "unknown";
}

std::optional<Backend> backend_from_string(std::string_view s) {
  for (const auto& [backend, name] : kBackendNames)
    if (name == s) return backend;
  return std::nullopt;
}

std::string_view to_string(OwnerKind k) {
  for (const auto& [kind, name] : kOwnerKindNames)
    if (kind == k) return name;
  return "unknown";
}

std::optional<OwnerKind> owner_kind_from_string(std::string_view s) {
  for (const auto& [kind, name] : kOwnerKindNames)
    if (name == s) return kind;
  return std::nullopt;
}

std::string joined_path(const std::string& dir, const std::string& rel) {
  std::vector<std::string> parts;
  auto add = [&](const std::string& p) {
    size_t i = 0;
    while (i <= p.size()) {
      size_t j = std::min(p.find('/', i), p.size());
      std::string part = p.substr(i, j - i);
      if (part == "..") {
        if (!parts.empty()) parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.push_back(part);
      }
      i = j + 1;
    }
  };
  if (rel.empty() || rel[0] != '/') add(dir);
  add(rel);
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

bool sees_releases(Backend b) {
  return b == Backend::Fentry || b == Backend::Kprobe;
}

}  // namespace fputrace
