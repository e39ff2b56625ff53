// How fast the model digests events: the collector must keep up with the
// ring buffer. Replays a recorded log (tests/data) over and over, and a
// synthetic stream of ring registrations, exits and releases.
#include <benchmark/benchmark.h>

#include <fstream>

#include "fputrace/event_json.hpp"
#include "fputrace/replay.hpp"
#include "fputrace/model.hpp"

namespace fputrace {
namespace {

std::vector<LogRecord> recorded(const char* name) {
  std::ifstream in(std::string(FPUTRACE_TEST_DATA) + "/" + name);
  return read_event_log(in);
}

void BM_ReplayRecordedLog(benchmark::State& state) {
  auto log = recorded("bullseye-fentry.uring-registered.events.jsonl");
  size_t events = 0;
  for (auto _ : state) {
    replay(log, [](const Finding& f) { benchmark::DoNotOptimize(f.time_ns); });
    events += log.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(events));
}
BENCHMARK(BM_ReplayRecordedLog);

Event make(EventType t, uint64_t time, uint32_t tgid, uint32_t flags) {
  Event e;
  e.type = t;
  e.backend = Backend::Fentry;
  e.time_ns = time;
  e.task = Task{tgid, tgid, flags, "app"};
  return e;
}

// Many processes, each registering a file and exiting; kworkers deferring and
// releasing them: the model's steady state on a busy io_uring host.
void BM_SyntheticChurn(benchmark::State& state) {
  StaticMounts mounts;
  mounts.add(MountInfo{44, 1, "/mnt/x", "tmpfs", "tmpfs"});
  Model model(mounts);
  uint64_t t = 0, n = 0;
  for (auto _ : state) {
    uint32_t pid = 1000 + static_cast<uint32_t>(n % 30000);
    uint64_t file = 0xffff000000000000ULL + n * 256, ring = 0xffff100000000000ULL + n * 4096;
    Event reg = make(EventType::RingFile, ++t, pid, 8);
    reg.ring = ring;
    reg.file = FileRef{file, n, 39, 44, "/f", false, "/mnt/x"};
    model.apply(reg);
    model.apply(make(EventType::TaskExit, ++t, pid, 8));
    Event d = make(EventType::Deferred, ++t, 77, 9);
    d.file = reg.file;
    d.detail = 1;
    model.apply(d);
    Event r = make(EventType::Released, ++t, 77, 9);
    r.file.ptr = file;
    model.apply(r);
    ++n;
  }
  state.SetItemsProcessed(static_cast<int64_t>(n * 4));
}
BENCHMARK(BM_SyntheticChurn);

}  // namespace
}  // namespace fputrace

BENCHMARK_MAIN();
