#include "loader.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "decode.hpp"

extern "C" {
#include "fputrace/events.h"
}
#include "fputrace_cast.skel.h"
#include "fputrace_kread.skel.h"

namespace fputrace {

const std::vector<FunctionTarget>& function_targets() {
  static const std::vector<FunctionTarget> targets{
      {"fput", true, "last-reference detection"},
      {"__fput", true, "final release (mount reference dropped)"},
      {"task_work_add", true, "tells task-work deferral from the delayed_fput list"},
      {"fput_close", false, "last-reference detection on close paths (6.15+)"},
      {"aio_complete_rw", false, "aio completion context"},
      // Syscall wrappers: probing them keeps the syscall tracepoints, which put
      // every syscall of every task on the slow entry path, switched off.
      {"__x64_sys_io_uring_register",
       false,
       "io_uring_register without a syscall tracepoint",
       {"syscalls/sys_enter_io_uring_register", "syscalls/sys_exit_io_uring_register"},
       true},
      {"__x64_sys_io_submit", false, "io_submit without a syscall tracepoint", {"syscalls/sys_enter_io_submit"}, true},
      {"__x64_sys_umount",
       false,
       "umount without a syscall tracepoint",
       {"syscalls/sys_enter_umount", "syscalls/sys_exit_umount"},
       true},
  };
  return targets;
}

namespace {

// Tries the backends allowed by the request for one function, fentry first.
std::optional<Backend> choose_for_function(const FunctionTarget& t, const std::string& requested, ProbePlan& plan) {
  if (requested == "auto" || requested == "fentry") {
    Capability c = try_fentry(t.name, t.reads_args_from_ctx);
    plan.fentry_tried[t.name] = c;
    if (c.available) return Backend::Fentry;
  }
  if (requested == "auto" || requested == "kprobe") {
    Capability c = try_kprobe(t.name);
    plan.kprobe_tried[t.name] = c;
    if (c.available) return Backend::Kprobe;
  }
  return std::nullopt;
}

std::string refusal(const ProbePlan& plan, const std::string& func, const std::string& requested) {
  std::vector<std::string> reasons;
  if (auto it = plan.fentry_tried.find(func); it != plan.fentry_tried.end())
    reasons.push_back("fentry: " + it->second.reason);
  if (auto it = plan.kprobe_tried.find(func); it != plan.kprobe_tried.end())
    reasons.push_back("kprobe: " + it->second.reason);
  std::string joined;
  for (const auto& r : reasons) joined += (joined.empty() ? "" : "; ") + r;
  return joined.empty() ? requested + " not tried" : joined;
}

}  // namespace

std::optional<ProbePlan> plan_probes(const std::string& requested, std::string& error) {
  if (requested != "auto" && requested != "fentry" && requested != "kprobe" && requested != "tracepoint") {
    error = fmt::format("unknown backend '{}': use auto, fentry, kprobe or tracepoint", requested);
    return std::nullopt;
  }
  ProbePlan plan;
  bool kread = probe_read_kernel_allowed().available;
  // Testing knob: FPUTRACE_READS=cast exercises the lockdown-safe object on a
  // kernel that would also allow bpf_probe_read_kernel.
  if (const char* reads = getenv("FPUTRACE_READS"); reads && std::string(reads) == "cast") kread = false;
  if (requested != "tracepoint") {
    std::string blocker;  // why the fput probes cannot run, if they cannot
    std::vector<std::string> skipped;
    for (const auto& t : function_targets()) {
      auto chosen = choose_for_function(t, requested, plan);
      if (chosen) {
        plan.functions[t.name] = *chosen;
      } else if (t.required && blocker.empty()) {
        blocker = fmt::format("cannot probe {}: {}", t.name, refusal(plan, t.name, requested));
      } else if (!t.required) {
        skipped.push_back(fmt::format("skipped {} ({}): {}", t.name, t.purpose, refusal(plan, t.name, requested)));
      }
    }
    if (blocker.empty() && !kread)
      blocker = "fput probes need bpf_probe_read_kernel, which this kernel withdraws (lockdown)";
    if (blocker.empty()) {
      plan.fput_backend = plan.functions.at("fput");
      plan.notices = skipped;
      return plan;
    }
    if (requested != "auto") {
      error = fmt::format("--backend {}: {}", requested, blocker);
      return std::nullopt;
    }
    plan.functions.clear();
    plan.notices.push_back(blocker);
    plan.notices.push_back("using tracepoints: deferrals are inferred, not observed");
  }
  plan.fput_backend = Backend::Tracepoint;
  if (!kread) {
    Capability cast = rdonly_cast_available();
    if (!cast.available) {
      error = "this kernel allows neither bpf_probe_read_kernel nor bpf_rdonly_cast: nothing can read files";
      return std::nullopt;
    }
    plan.use_cast_reads = true;
  }
  return plan;
}

std::string Tracer::describe() const {
  std::string out = fmt::format("backend {}", to_string(plan_.fput_backend));
  if (plan_.fput_backend != Backend::Tracepoint) {
    std::string per;
    for (const auto& [fn, b] : plan_.functions) per += fmt::format("{}{}={}", per.empty() ? "" : " ", fn, to_string(b));
    out += " (" + per + ")";
  } else {
    out += plan_.use_cast_reads ? " (lockdown-safe reads via bpf_rdonly_cast)" : "";
  }
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
    detach();
    if (skel_) Skel::destroy(skel_);
  }

  bool start(const TraceOptions& opts, const std::string& tracefs, std::string& error) {
    skel_ = Skel::open();
    if (!skel_) return fail(error, "opening the BPF object failed");
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
    rb_ = ring_buffer__new(bpf_map__fd(skel_->maps.events), &SkelTracer::on_record, this, nullptr);
    if (!rb_) return fail(error, "creating the ring buffer reader failed");
    return true;
  }

  int poll(int timeout_ms) override {
    int n = ring_buffer__poll(rb_, timeout_ms);
    if (n == -EINTR) return 0;
    return n;
  }

  // Reverse order: the fput probes, attached last, go first.
  void detach() override {
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
    return s;
  }

 private:
  static int on_record(void* ctx, void* data, size_t size) {
    auto* self = static_cast<SkelTracer*>(ctx);
    if (auto e = decode(data, size))
      self->cb_(*e);
    else
      self->undecodable_++;
    return 0;
  }

  bool fail(std::string& error, std::string msg) {
    error = std::move(msg);
    return false;
  }

  void configure(const TraceOptions& opts) {
    auto syms = kallsyms_lookup({"____fput", "delayed_fput", "io_ring_exit_work"});
    auto addr = [&](const char* n) -> uint64_t {
      auto it = syms.find(n);
      return it == syms.end() ? 0 : it->second;
    };
    skel_->rodata->filter_mounts = !opts.mount_ids.empty();
    skel_->rodata->track_releases = plan_.fput_backend != Backend::Tracepoint;
    skel_->rodata->fput_backend = plan_.fput_backend == Backend::Fentry   ? FT_BACKEND_FENTRY
                                  : plan_.fput_backend == Backend::Kprobe ? FT_BACKEND_KPROBE
                                                                          : FT_BACKEND_TRACEPOINT;
    skel_->rodata->self_tgid = static_cast<uint32_t>(::getpid());
    skel_->rodata->addr_task_work_fput = addr("____fput");
    skel_->rodata->addr_delayed_fput = addr("delayed_fput");
    skel_->rodata->addr_ring_exit_work = addr("io_ring_exit_work");
    if (!addr("delayed_fput")) attach_notices_.push_back("delayed_fput not in /proc/kallsyms: its runs are not seen");
    if (!addr("io_ring_exit_work"))
      attach_notices_.push_back("io_ring_exit_work not in /proc/kallsyms: ring teardown is not seen");
  }

  // Autoload exactly the programs the plan chose; skip missing tracepoints.
  void select_programs(const std::string& tracefs) {
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
      auto [kind, target] = split_section(bpf_program__section_name(prog));
      bool load = false;
      if (kind == "tracepoint") {
        load = tracepoint_exists(tracefs, target) && !replaced_by_function(target);
        if (!tracepoint_exists(tracefs, target))
          attach_notices_.push_back(fmt::format("skipped tracepoint {}: not in this kernel", target));
      } else {
        auto it = plan_.functions.find(target);
        bool fentry_kind = kind == "fentry" || kind == "fexit";
        bool kprobe_kind = kind == "kprobe" || kind == "kretprobe";
        if (it != plan_.functions.end())
          load = (fentry_kind && it->second == Backend::Fentry) || (kprobe_kind && it->second == Backend::Kprobe);
      }
      bpf_program__set_autoload(prog, load);
    }
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

  // The fput probes go last: until task_work_add and __fput are attached, a
  // final fput would look deferred (libbpf itself reads sysfs files while
  // attaching kprobes).
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
  std::vector<bpf_link*> links_;
  uint64_t undecodable_ = 0;
};

// libbpf prints to stderr by default; keep warnings, drop the debug chatter.
int quiet_libbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  if (level == LIBBPF_INFO && !getenv("FPUTRACE_LIBBPF_VERBOSE")) return 0;
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
  libbpf_set_print(getenv("FPUTRACE_LIBBPF_VERBOSE") ? nullptr : quiet_libbpf);
  std::string tracefs = ensure_tracefs(error);
  if (tracefs.empty()) return nullptr;
  auto plan = plan_probes(opts.backend, error);
  if (!plan) return nullptr;
  auto tracer = start_with_plan(*plan, opts, tracefs, on_event, error);
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
