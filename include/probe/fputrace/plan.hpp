// The probe plan: which backend attaches each kernel function, and which BPF
// object reads kernel memory, decided by trying rather than by kernel version.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fputrace/event.hpp"
#include "fputrace/kernel_features.hpp"

namespace fputrace {

// A kernel function fputrace probes with fentry/fexit or kprobe/kretprobe.
struct FunctionTarget {
  std::string name;
  bool required;        // without it the fput probes cannot work at all
  std::string purpose;  // for notices and doctor
  // Tracepoints ("category/name") this probe makes unnecessary when it attaches.
  std::vector<std::string> replaces = {};
  bool reads_args_from_ctx = false;  // try fentry with a program that reads its first argument
  // Runs on every fput or release: on the kprobe backend, try kprobe.multi
  // (fprobe) first, whose entry costs less than a kprobe's.
  bool hot = false;
};
const std::vector<FunctionTarget>& function_targets();

struct ProbePlan {
  Backend fput_backend = Backend::Tracepoint;
  bool use_cast_reads = false;               // the object that reads with plain loads (bpf_rdonly_cast)
  bool kread_available = false;              // bpf_probe_read_kernel allowed: the other object can load
  std::map<std::string, Backend> functions;  // chosen per function
  std::map<std::string, Capability> fentry_tried, kprobe_tried, kprobe_multi_tried;
  // Functions on the kprobe backend attached with kprobe.multi links.
  std::set<std::string> kprobe_multi;
  std::vector<std::string> notices;  // one line each: what was skipped and why
};

// What the plan needs to know of the kernel, asked by trying (loader.cpp asks
// the running kernel; the unit tests a made-up one).
class KernelProbes {
 public:
  virtual ~KernelProbes() = default;
  virtual Capability fentry(const std::string& func, bool reads_first_arg) = 0;
  virtual Capability kprobe(const std::string& func) = 0;
  virtual Capability kprobe_multi(const std::string& func) = 0;
  virtual Capability probe_read_kernel() = 0;  // bpf_probe_read_kernel allowed (not lockdown)
  virtual Capability rdonly_cast() = 0;        // the bpf_rdonly_cast kfunc (6.2+)
};

// requested: "auto", "fentry", "kprobe" or "tracepoint"; forced: "", "cast" or
// "kread" (which object reads kernel memory). Returns nullopt with a one-line
// reason when the request cannot be met.
std::optional<ProbePlan> plan_probes(const std::string& requested, KernelProbes& kernel, const std::string& forced,
                                     std::string& error);

}  // namespace fputrace
