#include "fputrace/loader.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>

#include "fputrace/decode.hpp"

extern "C" {
#include "fputrace/events.h"
}
#include "fputrace_cast.skel.h"
#include "fputrace_kread.skel.h"

namespace fputrace {

namespace {

constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";

// The kernel as the plan asks it: by trying to load each kind of program.
class ThisKernel : public KernelProbes {
 public:
  Capability fentry(const std::string& func, bool reads_first_arg) override {
    return try_fentry(func, reads_first_arg);
  }
  Capability kprobe(const std::string& func) override { return try_kprobe(func); }
  Capability kprobe_multi(const std::string& func) override {
    // Testing knob: FPUTRACE_KPROBE_MULTI=0 keeps the kprobe backend on plain
    // kprobes where kprobe.multi would load (tests and the benchmark compare both).
    if (const char* v = getenv("FPUTRACE_KPROBE_MULTI"); v && std::string(v) == "0")
      return Capability{false, 0, "FPUTRACE_KPROBE_MULTI=0"};
    return try_kprobe_multi(func);
  }
  Capability probe_read_kernel() override { return probe_read_kernel_allowed(); }
  Capability rdonly_cast() override { return rdonly_cast_available(); }
};

}  // namespace

std::optional<ProbePlan> plan_probes(const std::string& requested, std::string& error) {
  ThisKernel kernel;
  // Testing knob: FPUTRACE_READS=cast exercises the lockdown-safe object on a
  // kernel that would also allow bpf_probe_read_kernel; =kread the other one.
  const char* forced = getenv("FPUTRACE_READS");
  return plan_probes(requested, kernel, forced ? forced : "", error);
}

std::string Tracer::describe() const {
  std::string out = fmt::format("backend {}", to_string(plan_.fput_backend));
  if (plan_.fput_backend != Backend::Tracepoint) {
    std::string per;
    for (const auto& [fn, b] : plan_.functions)
      per += fmt::format("{}{}={}{}", per.empty() ? "" : " ", fn, to_string(b),
                         plan_.kprobe_multi.count(fn) ? ".multi" : "");
    out += " (" + per + ")";
  }
  out += plan_.use_cast_reads ? " (reads kernel memory with plain loads via bpf_rdonly_cast)" : "";
  std::vector<std::string> notes = plan_.notices;
  notes.insert(notes.end(), attach_notices_.begin(), attach_notices_.end());
  for (const auto& n : notes) out += "; " + n;
  return out;
}

namespace {

// "fentry/fput_close" -> {"fentry", "fput_close"}
std::pair<std::string, std::string> split_section(const char* sec) {
  std::string s = sec ? sec : "";
  auto slash = s.find('/');
  if (slash == std::string::npos) return {s, ""};
  return {s.substr(0, slash), s.substr(slash + 1)};
}

bool tracepoint_exists(const std::string& tracefs, const std::string& cat_name) {
  return ::access(fmt::format("{}/events/{}/id", tracefs, cat_name).c_str(), R_OK) == 0;
}

template <typename Skel>
class SkelTracer : public Tracer {
 public:
  SkelTracer(ProbePlan plan, Callback cb) : cb_(std::move(cb)) { plan_ = std::move(plan); }

  ~SkelTracer() override {
    if (rb_) ring_buffer__free(rb_);
    if (control_rb_) ring_buffer__free(control_rb_);
    detach();
    if (skel_) Skel::destroy(skel_);
  }

  bool start(const TraceOptions& opts, const std::string& tracefs, std::string& error) {
    // CO-RE relocates against the kernel's own BTF only. Given as a custom
    // path, libbpf does not go on to walk the modules' BTF objects when a
    // type flavour is absent, which needs CAP_SYS_ADMIN (libbpf before 1.2
    // fails the load there): with CAP_BPF and CAP_PERFMON (fputrace.service)
    // the load works. Every type fputrace reads is in vmlinux.
    LIBBPF_OPTS(bpf_object_open_opts, open_opts);
    if (::access(kVmlinuxBtf, R_OK) == 0) open_opts.btf_custom_path = kVmlinuxBtf;
    skel_ = Skel::open(&open_opts);
    if (!skel_) return fail(error, "opening the BPF object failed");
    // Testing knob: a tiny ring buffer (e.g. 4096 bytes) makes the overload
    // tests lose records on purpose, so the loss path runs on a real kernel.
    if (const char* bytes = getenv("FPUTRACE_RINGBUF_BYTES"))
      if (bpf_map__set_max_entries(skel_->maps.events, static_cast<uint32_t>(std::strtoul(bytes, nullptr, 10))) != 0)
        return fail(error,
                    fmt::format("FPUTRACE_RINGBUF_BYTES={}: not a power-of-two multiple of the page size", bytes));
    // Testing knob: a small owners map (e.g. 64 entries) lets a host test
    // reach the map's capacity, where the eviction count is worked out.
    if (const char* entries = getenv("FPUTRACE_OWNERS_MAP_ENTRIES"))
      if (bpf_map__set_max_entries(skel_->maps.files, static_cast<uint32_t>(std::strtoul(entries, nullptr, 10))) != 0)
        return fail(error, fmt::format("FPUTRACE_OWNERS_MAP_ENTRIES={}: not a valid map size", entries));
    configure(opts);
    select_programs(tracefs);
    if (int err = Skel::load(skel_); err) {
      return fail(
          error,
          fmt::format("loading the BPF programs failed ({}); run 'fputrace doctor' to see what this kernel allows",
                      std::strerror(-err)));
    }
    if (!fill_mount_filter(opts, error)) return false;
    if (!attach_all(error)) return false;
    // The control ring first: within one poll its records wait in
    // control_queue_ and go out in time order among the file records.
    rb_ = ring_buffer__new(bpf_map__fd(skel_->maps.control_events), &SkelTracer::on_control_record, this, nullptr);
    if (!rb_ || ring_buffer__add(rb_, bpf_map__fd(skel_->maps.events), &SkelTracer::on_record, this) != 0)
      return fail(error, "creating the ring buffer reader failed");
    // A second reader of the control ring alone, drained before each file
    // record: epoll may hand us the file ring first.
    control_rb_ =
        ring_buffer__new(bpf_map__fd(skel_->maps.control_events), &SkelTracer::on_control_record, this, nullptr);
    if (!control_rb_) return fail(error, "creating the ring buffer reader failed");
    return true;
  }

  int poll(int timeout_ms) override {
    int n = ring_buffer__poll(rb_, timeout_ms);
    // epoll may have woken us for the control ring alone: drain the file
    // ring too before the remaining control records go out, or an exit
    // would overtake the registration it follows.
    if (n >= 0) {
      int more = ring_buffer__consume(rb_);
      if (more > 0) n += more;
    }
    report_new_losses();
    flush_control(UINT64_MAX);
    if (n == -EINTR) return 0;
    return n;
  }

  // Reverse order: the fput probes, attached last, go first.
  void detach() override {
    flush_losses_ = true;  // the final drain reports every loss left
    for (auto it = links_.rbegin(); it != links_.rend(); ++it) bpf_link__destroy(*it);
    links_.clear();
  }

  TraceStats stats() const override {
    TraceStats s;
    s.undecodable = undecodable_;
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return s;
    std::vector<uint64_t> values(static_cast<size_t>(ncpu));
    auto sum = [&](uint32_t key) {
      uint64_t total = 0;
      if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.stats), &key, values.data()) == 0)
        for (uint64_t v : values) total += v;
      return total;
    };
    s.ringbuf_drops = sum(FT_STAT_RINGBUF_DROPS);
    s.map_full = sum(FT_STAT_MAP_FULL);
    s.final_fputs = sum(FT_STAT_FINAL_FPUTS);
    s.deferred = sum(FT_STAT_DEFERRED);
    s.fd_scan_truncated = sum(FT_STAT_FD_SCAN_TRUNCATED);
    s.ring_layout_unknown = sum(FT_STAT_RING_LAYOUT_UNKNOWN);
    s.late_deferrals = sum(FT_STAT_LATE_DEFERRALS);
    s.uring_requests = sum(FT_STAT_URING_REQUESTS);
    s.owner_evictions = owner_evictions(sum(FT_STAT_FILES_INSERTED), sum(FT_STAT_FILES_DELETED));
    return s;
  }

 private:
  // The owners map is an LRU map: the kernel evicts silently when it is full.
  // Every entry is inserted once and removed by __fput or by eviction, so the
  // evictions are inserts - deletes - live entries (counted only when the
  // difference says the map may have been full: walking it costs syscalls).
  uint64_t owner_evictions(uint64_t inserted, uint64_t deleted) const {
    int fd = bpf_map__fd(skel_->maps.files);
    uint64_t capacity = bpf_map__max_entries(skel_->maps.files);
    if (inserted < deleted || inserted - deleted <= capacity) return 0;
    uint64_t live = 0;
    uint64_t key = 0, next = 0;
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      live++;
      key = next;
      prev = &key;
    }
    return inserted - deleted > live ? inserted - deleted - live : 0;
  }

  static int on_record(void* ctx, void* data, size_t size) {
    auto* self = static_cast<SkelTracer*>(ctx);
    self->report_new_losses();
    if (auto e = decode(data, size)) {
      ring_buffer__consume(self->control_rb_);
      self->flush_control(e->time_ns);
      self->cb_(*e);
    } else {
      self->undecodable_++;
    }
    return 0;
  }

  static int on_control_record(void* ctx, void* data, size_t size) {
    auto* self = static_cast<SkelTracer*>(ctx);
    if (auto e = decode(data, size))
      self->control_queue_.push_back(std::move(*e));
    else
      self->undecodable_++;
    return 0;
  }

  // Control records up to a time, in order (each ring is in time order).
  // An umount's finding is judged complete or not as it is handled: every
  // loss the BPF side counted before it must be known by then, so the check
  // before an umount is not rate-limited (umounts are rare).
  void flush_control(uint64_t until_ns) {
    while (!control_queue_.empty() && control_queue_.front().time_ns <= until_ns) {
      Event e = std::move(control_queue_.front());
      control_queue_.pop_front();
      if (e.type == EventType::Umount) report_new_losses(true);
      cb_(e);
    }
  }

  // Before each record (and after each poll): has the BPF side lost anything
  // since we last looked? Its counters sit in the mmap'ed .bss: no syscall.
  // The loss goes down the same path as the records, as an event, so it
  // lands in the output where it happened.
  void report_new_losses(bool now_or_never = false) {
    uint64_t records = __atomic_load_n(&skel_->bss->lost_records, __ATOMIC_RELAXED);
    uint64_t items = __atomic_load_n(&skel_->bss->lost_items, __ATOMIC_RELAXED);
    if (records == seen_lost_records_ && items == seen_lost_items_) return;
    // At most one report per 100 ms of loss: a flood is one line per burst
    // (unless a finding is about to be judged: now_or_never).
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);  // bpf_ktime_get_ns's clock
    uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
    if (last_loss_report_ns_ && now < last_loss_report_ns_ + 100'000'000 && !flush_losses_ && !now_or_never) return;
    last_loss_report_ns_ = now;
    Event loss;
    loss.type = EventType::Loss;
    loss.backend = plan_.fput_backend;
    loss.time_ns = __atomic_load_n(&skel_->bss->last_loss_ns, __ATOMIC_RELAXED);
    loss.ret = static_cast<int64_t>(records - seen_lost_records_);
    loss.detail = static_cast<uint32_t>(items - seen_lost_items_);
    loss.task.comm = "fputrace";
    seen_lost_records_ = records;
    seen_lost_items_ = items;
    cb_(loss);
  }

  bool fail(std::string& error, std::string msg) {
    error = std::move(msg);
    return false;
  }

  void configure(const TraceOptions& opts) {
    auto syms = kallsyms_lookup({"delayed_fput", "io_ring_exit_work", "aio_complete_rw", "__per_cpu_offset"});
    auto addr = [&](const char* n) -> uint64_t {
      auto it = syms.find(n);
      return it == syms.end() ? 0 : it->second;
    };
    skel_->rodata->filter_mounts = !opts.mount_ids.empty();
    skel_->rodata->fput_backend = plan_.fput_backend == Backend::Fentry   ? FT_BACKEND_FENTRY
                                  : plan_.fput_backend == Backend::Kprobe ? FT_BACKEND_KPROBE
                                                                          : FT_BACKEND_TRACEPOINT;
    skel_->rodata->self_tgid = static_cast<uint32_t>(::getpid());
    skel_->rodata->addr_delayed_fput = addr("delayed_fput");
    skel_->rodata->addr_ring_exit_work = addr("io_ring_exit_work");
    skel_->rodata->addr_aio_complete_rw = addr("aio_complete_rw");
    skel_->rodata->addr_per_cpu_offset = addr("__per_cpu_offset");
    skel_->rodata->nr_cpus = static_cast<uint32_t>(std::max(0, libbpf_num_possible_cpus()));
    UringTracepointArgs uring = uring_tracepoint_args();
    skel_->rodata->file_get_fd_arg = uring.file_get_fd;
    skel_->rodata->file_get_req_first = uring.file_get_req_first;
    skel_->rodata->complete_req_arg = uring.complete_req;
    // Benchmark knob (bench/qemu-guest.sh): the hot programs return at once.
    if (const char* empty = getenv("FPUTRACE_BENCH_EMPTY_HOOKS"); empty && std::string(empty) == "1") {
      skel_->rodata->bench_empty_hooks = true;
      attach_notices_.push_back(
          "FPUTRACE_BENCH_EMPTY_HOOKS=1: the fput and io_uring request programs return at once; "
          "this run measures the cost of the hooks, it traces nothing");
    }
    // blkdev_open has no tracepoint: on this backend a claimed block device
    // (mkfs after umount -l) is not seen.
    if (plan_.fput_backend == Backend::Tracepoint)
      attach_notices_.push_back(
          "block device opens refused with EBUSY are not seen: blkdev_open needs the fentry or kprobe backend");
    if (!addr("delayed_fput")) attach_notices_.push_back("delayed_fput not in /proc/kallsyms: its runs are not seen");
    // Data symbols are listed only with CONFIG_KALLSYMS_ALL (Debian's arm64 6.1 has it off).
    if (!addr("__per_cpu_offset") && plan_.functions.count("path_umount"))
      attach_notices_.push_back(
          "__per_cpu_offset not in /proc/kallsyms (listed only with CONFIG_KALLSYMS_ALL, shown only with "
          "CAP_SYSLOG): the kernel's count on a busy mount is not read, its unexplained references are unknown "
          "(null)");
    if (!addr("io_ring_exit_work"))
      attach_notices_.push_back("io_ring_exit_work not in /proc/kallsyms: ring teardown is not seen");
    if (uring.complete_req < 0)
      attach_notices_.push_back(
          "io_uring_complete does not name the request on this kernel: requests count as in flight until exit");
  }

  // Autoload exactly the programs the plan chose; skip missing tracepoints.
  void select_programs(const std::string& tracefs) {
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
      auto [kind, target] = split_section(bpf_program__section_name(prog));
      bool load = false;
      if (kind == "tracepoint") {
        bool exists = tracepoint_exists(tracefs, target);
        load = exists && !replaced_by_function(target);
        if (!exists) attach_notices_.push_back(fmt::format("skipped tracepoint {}: not in this kernel", target));
      } else if (kind == "raw_tp" || kind == "tp_btf") {
        bool exists = raw_tracepoint_args(target).has_value();
        load = exists && wanted_on_backend(target);
        if (!exists && wanted_on_backend(target))
          attach_notices_.push_back(fmt::format("skipped tracepoint {}: not in this kernel", target));
      } else {
        auto it = plan_.functions.find(target);
        bool fentry_kind = kind == "fentry" || kind == "fexit";
        // A function on the kprobe backend loads either its kprobe.multi
        // program or its kprobe one, as the plan found.
        bool multi = plan_.kprobe_multi.count(target) > 0;
        bool kprobe_kind = (kind == "kprobe" && !multi) || kind == "kretprobe" || (kind == "kprobe.multi" && multi);
        if (it != plan_.functions.end())
          load = (fentry_kind && it->second == Backend::Fentry) || (kprobe_kind && it->second == Backend::Kprobe);
      }
      bpf_program__set_autoload(prog, load);
    }
  }

  // iomap_dio_complete stands in for the fput probes on the tracepoint
  // backend only (aio completions); the others run with every backend.
  bool wanted_on_backend(const std::string& tracepoint) const {
    if (tracepoint == "iomap_dio_complete") return plan_.fput_backend == Backend::Tracepoint;
    return true;
  }

  // True when a probed function does this tracepoint's job.
  bool replaced_by_function(const std::string& tracepoint) const {
    for (const auto& t : function_targets())
      if (plan_.functions.count(t.name))
        for (const auto& r : t.replaces)
          if (r == tracepoint) return true;
    return false;
  }

  bool fill_mount_filter(const TraceOptions& opts, std::string& error) {
    int fd = bpf_map__fd(skel_->maps.watched_mounts);
    for (int32_t id : opts.mount_ids) {
      uint8_t one = 1;
      if (bpf_map_update_elem(fd, &id, &one, BPF_ANY) != 0)
        return fail(error, fmt::format("cannot add mount {} to the filter: {}", id, std::strerror(errno)));
    }
    return true;
  }

  // The fput probes go last: until __fput and the workqueue probes are
  // attached, a deferral would not be matched with its release.
  static bool is_fput_probe(const std::string& target) { return target == "fput" || target == "fput_close"; }

  bool attach_all(std::string& error) {
    for (bool fput_pass : {false, true}) {
      bpf_program* prog;
      bpf_object__for_each_program(prog, skel_->obj) {
        if (!bpf_program__autoload(prog)) continue;
        auto [kind, target] = split_section(bpf_program__section_name(prog));
        if (is_fput_probe(target) != fput_pass) continue;
        if (!attach_one(prog, kind, target, error)) return false;
      }
    }
    return true;
  }

  bool attach_one(bpf_program* prog, const std::string& kind, const std::string& target, std::string& error) {
    bpf_link* link = bpf_program__attach(prog);
    if (link) {
      links_.push_back(link);
      return true;
    }
    int err = errno;
    if (kind != "tracepoint")
      return fail(error, fmt::format("attaching {} to {} failed: {}", kind, target, std::strerror(err)));
    attach_notices_.push_back(fmt::format("skipped tracepoint {}: {}", target, std::strerror(err)));
    return true;
  }

  Callback cb_;
  Skel* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  ring_buffer* control_rb_ = nullptr;
  std::vector<bpf_link*> links_;
  uint64_t undecodable_ = 0;
  uint64_t seen_lost_records_ = 0, seen_lost_items_ = 0;
  uint64_t last_loss_report_ns_ = 0;
  std::deque<Event> control_queue_;
  bool flush_losses_ = false;
};

// libbpf's messages: warnings only, or (FPUTRACE_LIBBPF_VERBOSE set) every
// level, the verifier's log included. (libbpf_set_print(nullptr) would
// silence them all.)
int quiet_libbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level != LIBBPF_WARN) return 0;
  return vfprintf(stderr, fmt, args);
}
int verbose_libbpf(enum libbpf_print_level, const char* fmt, va_list args) {
  return vfprintf(stderr, fmt, args);
}

}  // namespace

namespace {

// A load failure caused by an optional probe must not cost the whole trace:
// drop the optional function probes (their tracepoints take over) and say so.
bool drop_optional_functions(ProbePlan& plan, const std::string& why) {
  bool dropped = false;
  for (const auto& t : function_targets()) {
    if (t.required || !plan.functions.count(t.name)) continue;
    plan.functions.erase(t.name);
    dropped = true;
  }
  if (dropped) plan.notices.push_back(fmt::format("optional probes dropped after a load failure ({})", why));
  return dropped;
}

std::unique_ptr<Tracer> start_with_plan(const ProbePlan& plan, const TraceOptions& opts, const std::string& tracefs,
                                        Tracer::Callback on_event, std::string& error) {
  if (plan.use_cast_reads) {
    auto t = std::make_unique<SkelTracer<fputrace_cast>>(plan, std::move(on_event));
    if (!t->start(opts, tracefs, error)) return nullptr;
    return t;
  }
  auto t = std::make_unique<SkelTracer<fputrace_kread>>(plan, std::move(on_event));
  if (!t->start(opts, tracefs, error)) return nullptr;
  return t;
}

}  // namespace

std::unique_ptr<Tracer> start_tracer(const TraceOptions& opts, Tracer::Callback on_event, std::string& error) {
  libbpf_set_print(getenv("FPUTRACE_LIBBPF_VERBOSE") ? verbose_libbpf : quiet_libbpf);
  std::string tracefs = ensure_tracefs(error);
  if (tracefs.empty()) return nullptr;
  auto plan = plan_probes(opts.backend, error);
  if (!plan) return nullptr;
  auto tracer = start_with_plan(*plan, opts, tracefs, on_event, error);
  if (!tracer && plan->use_cast_reads && plan->kread_available) {
    // The plain-load object was refused here (a verifier older or stricter
    // than the ones it was tried on): the helper-read one does the same work.
    plan->notices.push_back(fmt::format(
        "reading with plain loads (bpf_rdonly_cast) failed ({}): reading with bpf_probe_read_kernel", error));
    plan->use_cast_reads = false;
    tracer = start_with_plan(*plan, opts, tracefs, on_event, error);
  }
  if (!tracer && drop_optional_functions(*plan, error)) tracer = start_with_plan(*plan, opts, tracefs, on_event, error);
  if (tracer || opts.backend != "auto" || plan->fput_backend == Backend::Tracepoint) return tracer;
  // auto: the fput probes passed the tries but the full programs did not load
  // or attach here; tracepoints still explain what they can.
  std::string why = error;
  TraceOptions tp = opts;
  tp.backend = "tracepoint";
  auto fallback = plan_probes("tracepoint", error);
  if (!fallback) return nullptr;
  fallback->notices.push_back(
      fmt::format("{} probes failed ({}): using tracepoints", to_string(plan->fput_backend), why));
  return start_with_plan(*fallback, tp, tracefs, std::move(on_event), error);
}

}  // namespace fputrace
