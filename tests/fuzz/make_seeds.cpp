// Builds the fuzz targets' seed corpora from the recorded logs in tests/data
// and docs/sample-trace.json, into one directory per target:
//   event_log/  trace_file/  the logs and the sample trace, as they are
//   decode/     single raw struct ft_event records, encoded from logged events
//   pipeline/   each log's events as one sequence of raw records
// Usage: fuzz-make-seeds OUT_DIR SAMPLE_TRACE EVENT_LOG...
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "fputrace/event_json.hpp"

extern "C" {
#include "fputrace/events.h"
}

namespace fs = std::filesystem;
using namespace fputrace;

namespace {

uint32_t raw_type(EventType t) {
  switch (t) {
    case EventType::RingFile:
      return FT_EV_RING_FILE;
    case EventType::UringReq:
      return FT_EV_URING_REQ;
    case EventType::UringDone:
      return FT_EV_URING_DONE;
    case EventType::RingExit:
      return FT_EV_RING_EXIT;
    case EventType::RingExitEnd:
      return FT_EV_RING_EXIT_END;
    case EventType::AioSubmit:
      return FT_EV_AIO_SUBMIT;
    case EventType::AioDone:
      return FT_EV_AIO_DONE;
    case EventType::Deferred:
      return FT_EV_DEFERRED;
    case EventType::Released:
      return FT_EV_RELEASED;
    case EventType::DelayedRun:
      return FT_EV_DELAYED_RUN;
    case EventType::DelayedRunEnd:
      return FT_EV_DELAYED_RUN_END;
    case EventType::TaskExit:
      return FT_EV_TASK_EXIT;
    case EventType::Umount:
      return FT_EV_UMOUNT;
    case EventType::PendingAtExit:
      return FT_EV_PENDING_AT_EXIT;
    case EventType::Loss:
      return 0;  // made by the collector from the BPF side's counters: no raw record
  }
  return 0;
}

uint32_t raw_backend(Backend b) {
  return b == Backend::Fentry ? FT_BACKEND_FENTRY : b == Backend::Kprobe ? FT_BACKEND_KPROBE : FT_BACKEND_TRACEPOINT;
}

uint32_t raw_source(OwnerKind k) {
  return k == OwnerKind::Aio ? FT_SRC_AIO : k == OwnerKind::UringRegistered ? FT_SRC_URING_REG : FT_SRC_URING_REQ;
}

template <size_t N>
void put(char (&to)[N], const std::string& s) {
  std::memcpy(to, s.data(), std::min(N, s.size()));  // not NUL-terminated when full, as BPF leaves it
}

// "/a/b/c" -> names leaf first; true when deeper than the record holds.
bool put_path(char (&names)[FT_PATH_DEPTH][FT_NAME_LEN], const std::string& path) {
  std::vector<std::string> parts;
  for (size_t at = 0; at < path.size();) {
    size_t end = path.find('/', at);
    if (end == std::string::npos) end = path.size();
    if (end > at) parts.push_back(path.substr(at, end - at));
    at = end + 1;
  }
  for (size_t i = 0; i < parts.size() && i < FT_PATH_DEPTH; ++i) put(names[i], parts[parts.size() - 1 - i]);
  return parts.size() > FT_PATH_DEPTH;
}

ft_event encode(const Event& e) {
  ft_event raw{};
  raw.type = raw_type(e.type);
  raw.backend = raw_backend(e.backend);
  raw.time_ns = e.time_ns;
  raw.task.tgid = e.task.tgid;
  raw.task.tid = e.task.tid;
  raw.task.flags = e.task.flags;
  put(raw.task.comm, e.task.comm);
  raw.file.ptr = e.file.ptr;
  raw.file.ino = e.file.ino;
  raw.file.dev = e.file.dev;
  raw.file.mnt_id = e.file.mnt_id;
  if (!e.file.path.empty() || !e.file.mount_path.empty()) {
    raw.file.flags = FT_FILE_DESCRIBED;
    if (put_path(raw.file.names, e.file.path) || e.file.path_truncated) raw.file.flags |= FT_FILE_PATH_TRUNCATED;
    if (put_path(raw.file.mnt_names, e.file.mount_path)) raw.file.flags |= FT_FILE_MNT_TRUNCATED;
  }
  raw.ring = e.ring;
  raw.req = e.req;
  raw.user_data = e.user_data;
  raw.ret = e.ret;
  raw.detail = e.detail;
  put(raw.path, e.path);
  if (e.owner) {
    raw.origin.tgid = e.owner->task.tgid;
    raw.origin.tid = e.owner->task.tid;
    raw.origin.source = raw_source(e.owner->kind);
    raw.origin.flags = (e.owner->found_at_exit ? FT_ORIGIN_AT_EXIT : 0) | (e.owner->gone ? FT_ORIGIN_GONE : 0) |
                       (e.owner->no_completions ? FT_ORIGIN_NO_COMPLETIONS : 0);
    raw.origin.ring = e.owner->ring;
    raw.origin.time_ns = e.owner->since_ns;
    put(raw.origin.comm, e.owner->task.comm);
  }
  return raw;
}

void write_file(const fs::path& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 4) {
    std::cerr << "usage: fuzz-make-seeds OUT_DIR SAMPLE_TRACE EVENT_LOG...\n";
    return 1;
  }
  fs::path out = argv[1];
  for (const char* target : {"event_log", "trace_file", "decode", "pipeline"}) {
    fs::remove_all(out / target);
    fs::create_directories(out / target);
  }
  fs::copy_file(argv[2], out / "trace_file" / fs::path(argv[2]).filename());
  std::map<uint32_t, int> per_type;  // decode seeds: a few records of each type
  for (int i = 3; i < argc; ++i) {
    fs::path log_path = argv[i];
    std::string name = log_path.filename().string();
    fs::copy_file(log_path, out / "event_log" / name);
    fs::copy_file(log_path, out / "trace_file" / name);
    std::ifstream in(log_path);
    std::vector<ft_event> sequence;
    for (const LogRecord& r : read_event_log(in)) {
      const auto* e = std::get_if<Event>(&r);
      if (!e) continue;
      ft_event raw = encode(*e);
      sequence.push_back(raw);
      if (per_type[raw.type]++ < 4)
        write_file(out / "decode" / (name + "." + std::to_string(sequence.size())), &raw, sizeof(raw));
    }
    write_file(out / "pipeline" / (name + ".raw"), sequence.data(), sequence.size() * sizeof(ft_event));
  }
  return 0;
} catch (const std::exception& ex) {
  std::cerr << "fuzz-make-seeds: " << ex.what() << "\n";
  return 1;
}
