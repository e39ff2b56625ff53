// fputrace watch: trace live, explain umount EBUSY as it happens.
#include <fmt/format.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstring>
#include <ctime>
#include <deque>
#include <future>

#include "fputrace/chrome_trace.hpp"
#include "fputrace/cli.hpp"
#include "fputrace/cli_checks.hpp"
#include "fputrace/cli_filter.hpp"
#include "fputrace/command.hpp"
#include "fputrace/diagnose.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/event_json.hpp"
#include "fputrace/kernel_features.hpp"
#include "fputrace/loader.hpp"
#include "fputrace/metrics_out.hpp"
#include "fputrace/model.hpp"
#include "fputrace/output.hpp"
#include "fputrace/sink.hpp"
#include "fputrace/timeline.hpp"
#include "fputrace/trace_file.hpp"
#include "fputrace/watch_status.hpp"

namespace fputrace {

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) {
  g_stop = true;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: let poll return
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

std::string kernel_release() {
  struct utsname u {};
  if (::uname(&u) != 0) return "unknown";
  return std::string(u.release) + " " + u.version;
}

std::string utc_now() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

// How often a Chrome trace being recorded reaches the disk: what a SIGKILL or
// the OOM killer can lose.
constexpr auto kTraceFlushEvery = std::chrono::milliseconds(250);
// How often memory freed after a burst (a round of exits, its pins released)
// is handed back to the system: glibc keeps freed heap otherwise, so the RSS
// would stay at the burst's peak however little is left in use.
constexpr auto kTrimEvery = std::chrono::seconds(5);

// Outputs that are also inputs (or each other) would clobber one another.
std::string check_watch_paths(const WatchOptions& o) {
  bool recording = !o.trace_path.empty();
  return check_distinct_files(
      {{"-o", recording ? o.trace_path : o.output}, {"--events", o.events_path}, {"--metrics-file", o.metrics_file}});
}

// Closes every output; the first failure, if any, in error.
bool close_all(Sink& sink, std::vector<std::unique_ptr<Sink>>& logs, std::string& error) {
  bool ok = true;
  for (auto& log : logs)
    if (!log->close() && ok) ok = false, error = log->error();
  if (!sink.close() && ok) ok = false, error = sink.error();
  return ok;
}

// Findings in the order the model produced them. An EBUSY waits for its
// procfs scan (on its own thread); what follows it waits behind it.
class FindingQueue {
 public:
  void push(Finding f, std::optional<std::future<LiveScan>> scan) {
    queue_.push_back(Entry{std::move(f), std::move(scan)});
  }
  bool empty() const { return queue_.empty(); }
  void flush(Sink& sink, bool wait, const TaskFilter& filter) {
    while (!queue_.empty()) {
      Entry& head = queue_.front();
      if (head.scan) {
        if (!wait && head.scan->wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
        apply_diagnosis(head.finding, head.scan->get());
      }
      if (filter.matches(head.finding)) sink.write(head.finding);
      queue_.pop_front();
    }
  }

 private:
  struct Entry {
    Finding finding;
    std::optional<std::future<LiveScan>> scan;
  };
  std::deque<Entry> queue_;
};

// Polls until the buffer stays empty for quiet_ms.
void drain(Tracer& tracer, int quiet_ms) {
  auto last = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - last < std::chrono::milliseconds(quiet_ms)) {
    if (tracer.poll(20) > 0) last = std::chrono::steady_clock::now();
  }
}

}  // namespace

int run_watch(const WatchOptions& o) {
  std::string error = check_watch_paths(o);
  if (!error.empty()) return complain(error), 1;
  if (!preflight(error)) return complain(error), 1;
  ProcMounts mounts;
  auto mount_ids = resolve_mounts(o.mounts, mounts, error);
  if (!mount_ids) return complain(error), 1;
  bool recording = !o.trace_path.empty();
  bool chrome = recording && o.trace_format == "chrome";
  // Every output is created now, so a bad path fails before anything is traced.
  // record prints no findings; watch prints them where asked.
  SinkFormat format = o.journal          ? SinkFormat::Journal
                      : o.journal_export ? SinkFormat::JournalExport
                      : o.json           ? SinkFormat::Json
                                         : SinkFormat::Text;
  auto sink = Sink::open(recording ? "/dev/null" : o.output, format, error);
  if (!sink) return complain(error), 1;
  // The metrics count what was reported, and the file exists (or the path
  // fails) before anything is traced.
  FindingMetrics metrics;
  bool metrics_ok = true;
  auto write_metrics = [&](const TraceStats& stats, const CollectorLosses& losses) {
    if (o.metrics_file.empty() || !metrics_ok) return;
    std::string why;
    metrics_ok = replace_file(
        o.metrics_file, metrics.text(collector_counters(stats, losses), static_cast<double>(realtime_us()) / 1e6), why);
    if (!metrics_ok) complain(why);
  };
  if (!o.metrics_file.empty()) {
    sink->on_write([&](const Finding& f) { metrics.observe(f); });
    write_metrics(TraceStats{}, CollectorLosses{});
    if (!metrics_ok) return 1;
  }
  std::vector<std::unique_ptr<Sink>> raw_logs;
  for (const std::string& path : {o.events_path, recording && !chrome ? o.trace_path : std::string()}) {
    if (path.empty()) continue;
    raw_logs.push_back(Sink::open(path, true, error));
    if (!raw_logs.back()) return complain(error), 1;
  }
  std::unique_ptr<OutFile> trace_out;
  if (chrome && !(trace_out = OutFile::open(o.trace_path, error))) return complain(error), 1;

  std::optional<Command> cmd;
  if (!o.command.empty()) {
    cmd = Command::prepare(o.command, error);
    if (!cmd) return complain(error), 1;
  }

  // A failed write stops the run: what follows would be lost too.
  auto writes_ok = [&] {
    for (const auto& log : raw_logs)
      if (!log->ok()) return false;
    if (trace_out && !trace_out->ok()) return false;
    return sink->ok() && metrics_ok;
  };
  // The Chrome trace is written as the events come (its header once the
  // backend is known): a killed recording leaves a readable file.
  std::unique_ptr<ChromeTraceWriter> trace;
  RecordingMounts named(mounts, [&](const MountInfo& m) {
    for (auto& log : raw_logs) log->write_json(mount_to_json(m));
    if (trace) trace->add(m);
  });
  Model model(named);
  FindingQueue pending;
  uint64_t events_seen = 0;
  TraceOptions topts{o.backend, *mount_ids};
  const TaskFilter filter = resolve_filter(o.filter);
  auto tracer = start_tracer(topts, naming_cgroups([&](const Event& e) {
                               if (!writes_ok()) return;
                               ++events_seen;
                               Event ev = e;
                               resolve_in_caller_namespace(ev);
                               // Mount names the model looks up are logged before the event itself.
                               std::vector<Finding> findings = model.apply(ev);
                               if (filter.keeps(ev, findings)) {
                                 for (auto& log : raw_logs) log->write_json(event_to_json(ev));
                                 if (trace) trace->add(ev, findings);  // the live model's findings: one model is enough
                               }
                               for (Finding& f : findings) {
                                 if (recording) continue;
                                 // The procfs scan of an EBUSY starts now on its own thread; the
                                 // findings stay in order behind it (and the filter judges them once
                                 // the live holders are known).
                                 std::optional<std::future<LiveScan>> scan;
                                 if (f.kind == Finding::Kind::UmountBusy)
                                   scan = start_live_scan(f.mount, static_cast<uint32_t>(::getpid()));
                                 pending.push(std::move(f), std::move(scan));
                               }
                               pending.flush(*sink, false, filter);
                             }),
                             error);
  if (!tracer) {
    if (cmd) ::kill(cmd->pid(), SIGKILL), cmd->finished();
    return complain(error), 1;
  }
  if (chrome) {
    TraceMeta meta{kernel_release(), std::string(to_string(tracer->plan().fput_backend)), joined(o.command), utc_now()};
    trace = std::make_unique<ChromeTraceWriter>([&](std::string_view s) { trace_out->write(s); }, meta);
  }
  install_signal_handlers();
  if (cmd && !cmd->start(error)) return complain(error), 1;
  complain("tracing with " + tracer->describe());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                         std::chrono::duration<double>(o.duration_s));
  auto flushed = std::chrono::steady_clock::now(), trimmed = flushed, metrics_at = flushed;
  auto started = flushed, status_at = flushed;
  // A long recording shows how it goes, on a terminal only.
  std::optional<StatusLine> status;
  if (recording && ::isatty(STDERR_FILENO)) status.emplace(o.trace_path);
  while (!g_stop && writes_ok()) {
    tracer->poll(pending.empty() ? 100 : 5);
    pending.flush(*sink, false, filter);
    auto now = std::chrono::steady_clock::now();
    if (trace_out && now - flushed >= kTraceFlushEvery) {
      trace_out->flush();
      flushed = now;
    }
    if (!o.metrics_file.empty() && now - metrics_at >= kMetricsEvery) {
      write_metrics(tracer->stats(), CollectorLosses{model.evictions(), trace ? trace->evictions() : 0});
      metrics_at = now;
    }
    if (status && now - status_at >= StatusLine::kEvery) {
      status->show(now - started, events_seen, tracer->stats().ringbuf_drops);
      status_at = now;
    }
    if (now - trimmed >= kTrimEvery) {
      ::malloc_trim(0);
      trimmed = now;
    }
    if (cmd && cmd->finished()) break;
    if (o.duration_s > 0 && std::chrono::steady_clock::now() >= deadline) break;
  }
  if (status) status->clear();
  // The command is gone (or we were told to stop): collect what is in flight.
  if (writes_ok()) drain(*tracer, 250);
  tracer->detach();
  if (writes_ok()) drain(*tracer, 20);
  // The stream has ended: what waited for a later record is settled now.
  for (Finding& f : model.finish())
    if (!recording) pending.push(std::move(f), std::nullopt);
  pending.flush(*sink, true, filter);
  CollectorLosses losses{model.evictions(), 0};
  if (trace) {
    trace->finish();
    losses.trace_spans_evicted = trace->evictions();
  }
  if (writes_ok()) {
    TraceStats stats = tracer->stats();
    report_losses(stats, losses, *sink);
    write_metrics(stats, losses);
  }
  if (!metrics_ok) return 1;
  if (!close_all(*sink, raw_logs, error)) return complain(error), 1;
  if (trace_out && !trace_out->close()) return complain(trace_out->error()), 1;
  if (recording) complain(fmt::format("recorded {} to {}", chrome ? "a Chrome trace" : "the event log", o.trace_path));
  return 0;
}

}  // namespace fputrace
