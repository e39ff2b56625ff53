#include "fputrace/plan.hpp"

#include <fmt/format.h>

// The syscall wrappers' names on the architecture this is built for; the BPF
// objects are built for the same one (bpf/syscalls.bpf.h, FT_SYSCALL_WRAPPER).
#if defined(__x86_64__)
#define FPUTRACE_SYSCALL_WRAPPER(name) "__x64_sys_" name
#elif defined(__aarch64__)
#define FPUTRACE_SYSCALL_WRAPPER(name) "__arm64_sys_" name
#else
#error "syscall wrapper prefix unknown for this architecture"
#endif

namespace fputrace {

const std::vector<FunctionTarget>& function_targets() {
  static const std::vector<FunctionTarget> targets{
      {"fput", true, "final fputs that cannot use task work, decided at entry", {}, false, true},
      {"__fput", true, "final release (mount reference dropped)", {}, false, true},
      {"fput_close", false, "final fputs on close paths (6.15+)", {}, false, true},
      // Syscall wrappers: probing them keeps the syscall tracepoints, which put
      // every syscall of every task on the slow entry path, switched off.
      {FPUTRACE_SYSCALL_WRAPPER("io_submit"),
       false,
       "io_submit without a syscall tracepoint",
       {"syscalls/sys_enter_io_submit"},
       true},
      // A block device open refused with EBUSY (mkfs on a device a detached
      // filesystem still claims). No tracepoint is there.
      {"blkdev_open", false, "block device opens refused with EBUSY (a claimed device)"},
      // The mount umount resolved, in the kernel: no syscall tracepoint either.
      {"path_umount",
       false,
       "umount's mount identified in the kernel, with its count and children at the EBUSY",
       {"syscalls/sys_enter_umount", "syscalls/sys_exit_umount"}},
  };
  return targets;
}

namespace {

// A kprobe's entry on x86 goes through ftrace, then the kprobe table and the
// perf layer to the program; a kprobe.multi link's goes from ftrace straight
// to the program. On the functions run per fput that is worth a try.
void try_kprobe_multi_for(const std::string& func, KernelProbes& kernel, ProbePlan& plan) {
  Capability c = kernel.kprobe_multi(func);
  plan.kprobe_multi_tried[func] = c;
  if (c.available) plan.kprobe_multi.insert(func);
}

// Tries the backends allowed by the request for one function, fentry first.
std::optional<Backend> choose_for_function(const FunctionTarget& t, const std::string& requested, KernelProbes& kernel,
                                           ProbePlan& plan) {
  if (requested == "auto" || requested == "fentry") {
    Capability c = kernel.fentry(t.name, t.reads_args_from_ctx);
    plan.fentry_tried[t.name] = c;
    if (c.available) return Backend::Fentry;
  }
  if (requested == "auto" || requested == "kprobe") {
    Capability c = kernel.kprobe(t.name);
    plan.kprobe_tried[t.name] = c;
    if (c.available) {
      if (t.hot) try_kprobe_multi_for(t.name, kernel, plan);
      return Backend::Kprobe;
    }
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

std::optional<ProbePlan> plan_probes(const std::string& requested, KernelProbes& kernel, const std::string& forced,
                                     std::string& error) {
  if (requested != "auto" && requested != "fentry" && requested != "kprobe" && requested != "tracepoint") {
    error = fmt::format("unknown backend '{}': use auto, fentry, kprobe or tracepoint", requested);
    return std::nullopt;
  }
  ProbePlan plan;
  // How the programs read kernel memory, whatever the backend: plain loads
  // through bpf_rdonly_cast where the kernel has it (6.2+), the cheaper way
  // per io_uring request; else bpf_probe_read_kernel, which lockdown withdraws.
  bool kread = forced != "cast" && kernel.probe_read_kernel().available;
  bool cast = forced != "kread" && kernel.rdonly_cast().available;
  if (!kread && !cast) {
    error = forced.empty()
                ? "this kernel allows neither bpf_probe_read_kernel nor bpf_rdonly_cast: nothing can read files"
                : fmt::format("FPUTRACE_READS={}: this kernel does not allow it", forced);
    return std::nullopt;
  }
  plan.use_cast_reads = cast;
  plan.kread_available = kread;
  if (requested != "tracepoint") {
    std::string blocker;  // why the fput probes cannot run, if they cannot
    std::vector<std::string> skipped;
    for (const auto& t : function_targets()) {
      auto chosen = choose_for_function(t, requested, kernel, plan);
      if (chosen) {
        plan.functions[t.name] = *chosen;
      } else if (t.required && blocker.empty()) {
        blocker = fmt::format("cannot probe {}: {}", t.name, refusal(plan, t.name, requested));
      } else if (!t.required) {
        skipped.push_back(fmt::format("skipped {} ({}): {}", t.name, t.purpose, refusal(plan, t.name, requested)));
      }
    }
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
  return plan;
}

}  // namespace fputrace
