// fputrace-bigtrace: writes a large synthetic Chrome trace, as `record` would
// under io_uring load, for the report-time test (no kernel needed).
//   fputrace-bigtrace OUT MEGABYTES
// Each round: 4 processes register 4 files each on a fresh tmpfs mount and
// exit; a umount retry loop fails with EBUSY three times; the rings' exit work
// and a delayed_fput run release the files; the umount succeeds. Plus a few
// io_uring requests (old log style) and an exit storm of short-lived
// processes. So, like a recording under load, the trace has many tasks (rows
// of the page), exits and umount attempts: what made report --html quadratic.
// Tracepoint backend, so the model infers every pin, as on this machine.
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fputrace/chrome_trace.hpp"
#include "fputrace/timeline.hpp"
#include "fputrace/trace_file.hpp"

extern "C" {
#include "fputrace/events.h"
}

namespace {

using namespace fputrace;

constexpr int kProcs = 4;
constexpr int kFiles = 4;
constexpr int kStorm = 24;   // short-lived processes per round
constexpr int kRetries = 3;  // EBUSYs per round

struct Gen {
  uint64_t now = 1'000'000'000;
  ChromeTraceWriter* out;

  Event make(EventType t, const Task& task) {
    Event e;
    e.type = t;
    e.backend = Backend::Tracepoint;
    e.time_ns = now += 1500;
    e.task = task;
    return e;
  }
  void add(Event e) { out->add(e); }
};

Task user(uint32_t tgid, const std::string& comm) {
  return Task{tgid, tgid, FT_TASK_LEADER, comm};
}

Task kworker(uint32_t tid) {
  return Task{tid, tid, FT_TASK_KTHREAD | FT_TASK_LEADER, fmt::format("kworker/u8:{}", tid % 10)};
}

void round(Gen& g, uint64_t r) {
  int32_t mnt = 1000 + static_cast<int32_t>(r % 4000);
  std::string mount = fmt::format("/tmp/fputrace-load.{:06}", r);
  g.out->add(MountInfo{mnt, 1, mount, "tmpfs", "load"});
  uint64_t base = 0xffff888100000000ULL + r * 0x100000;
  for (int p = 0; p < kProcs; ++p) {
    Task t = user(static_cast<uint32_t>(100000 + r * 8 + p), "uring-load");
    uint64_t ring = base + 0x80000 + p * 0x1000;
    for (int f = 0; f < kFiles; ++f) {
      Event e = g.make(EventType::RingFile, t);
      e.ring = ring;
      e.ret = -1;
      e.user_data = f;
      e.file = FileRef{base + (p * kFiles + f) * 0x100, static_cast<uint64_t>(p * kFiles + f + 2), 39, mnt,
                       fmt::format("/f{:05}", p * kFiles + f), false, mount};
      g.add(e);
    }
    // Old-style requests on the same files: spans in the trace.
    for (int q = 0; q < 2; ++q) {
      Event req = g.make(EventType::UringReq, t);
      req.ring = ring;
      req.req = base + 0x90000 + p * 0x100 + q * 0x10;
      req.file = FileRef{base + (p * kFiles + q) * 0x100, 2, 39, mnt, fmt::format("/f{:05}", p * kFiles + q), false,
                         mount};
      g.add(req);
      Event done = g.make(EventType::UringDone, t);
      done.ring = ring;
      done.req = req.req;
      done.ret = 14;
      g.add(done);
    }
    Event exit = g.make(EventType::TaskExit, t);
    exit.detail = FT_EXIT_GROUP_DEAD;
    g.add(exit);
  }
  for (int s = 0; s < kStorm; ++s) {
    Event exit = g.make(EventType::TaskExit, user(static_cast<uint32_t>(2'000'000 + r * kStorm + s), "sh"));
    exit.detail = FT_EXIT_GROUP_DEAD;
    g.add(exit);
  }
  Task umounter = user(99, "umount-loop");
  for (int t = 0; t < kRetries; ++t) {
    Event busy = g.make(EventType::Umount, umounter);
    busy.path = mount;
    busy.ret = -EBUSY;
    g.add(busy);
  }
  for (int p = 0; p < kProcs; ++p) {
    Task kw = kworker(static_cast<uint32_t>(50 + p));
    Event start = g.make(EventType::RingExit, kw);
    start.ring = base + 0x80000 + p * 0x1000;
    start.req = start.ring + 0x400;
    g.add(start);
    Event end = start;
    end.type = EventType::RingExitEnd;
    end.time_ns = g.now += 20000;
    g.add(end);
  }
  Task fput = kworker(60);
  g.add(g.make(EventType::DelayedRun, fput));
  g.add(g.make(EventType::DelayedRunEnd, fput));
  Event ok = g.make(EventType::Umount, umounter);
  ok.path = mount;
  g.add(ok);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fputrace-bigtrace OUT MEGABYTES\n");
    return 2;
  }
  uint64_t target = std::strtoull(argv[2], nullptr, 10) << 20;
  FILE* f = std::fopen(argv[1], "w");
  if (!f) {
    std::perror(argv[1]);
    return 1;
  }
  uint64_t written = 0;
  ChromeTraceWriter writer(
      [&](std::string_view s) {
        written += s.size();
        std::fwrite(s.data(), 1, s.size(), f);
      },
      TraceMeta{"6.18.0-synthetic", "tracepoint", "fputrace-bigtrace", "2026-01-01T00:00:00Z"});
  Gen g{1'000'000'000, &writer};
  uint64_t r = 0;
  while (written < target) round(g, r++);
  writer.finish();
  if (std::fclose(f) != 0) {
    std::perror(argv[1]);
    return 1;
  }
  std::printf("fputrace-bigtrace: %llu rounds, %llu records, %.1f MB\n", static_cast<unsigned long long>(r),
              static_cast<unsigned long long>(writer.records()), static_cast<double>(written) / (1 << 20));
  return 0;
}
