// Calibration: what the running kernel has and allows, found by looking and
// by trying (loading tiny programs), never by comparing version numbers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fputrace {

struct Capability {
  bool available = false;
  int error = 0;       // errno of the failed attempt
  std::string reason;  // plain words; empty when available
};

struct KernelInfo {
  std::string release;
  bool btf = false;      // /sys/kernel/btf/vmlinux
  std::string lockdown;  // "none", "integrity", "confidentiality", or "unknown"
  std::string tracefs;   // mount point of tracefs, "" if none
};

KernelInfo read_kernel_info();

// Mounts tracefs at /sys/kernel/tracing if no tracefs is mounted; returns its
// mount point or "" (with the reason in error).
std::string ensure_tracefs(std::string& error);

// Symbol addresses (text, and data where listed) from /proc/kallsyms (0 when
// hidden by kptr_restrict).
std::map<std::string, uint64_t> kallsyms_lookup(const std::initializer_list<std::string>& names);

bool kernel_has_btf_func(const std::string& name);

// The parameters of a tracepoint as its raw (BPF_RAW_TRACEPOINT) program sees
// them, from the kernel's btf_trace_<name> typedef: one entry per argument,
// "ptr:STRUCT" for a pointer to a named struct, "ptr" for other pointers,
// "int" for everything else. nullopt when the kernel has no such tracepoint.
std::optional<std::vector<std::string>> raw_tracepoint_args(const std::string& tracepoint);

// Where the io_uring tracepoints keep what the BPF side reads (their
// prototypes changed over the years); -1 where this kernel lacks it.
struct UringTracepointArgs {
  int file_get_fd = -1;             // io_uring_file_get: the fd
  bool file_get_req_first = false;  // its first argument is the io_kiocb, not the ring
  int complete_req = -1;            // io_uring_complete: the io_kiocb
};
UringTracepointArgs uring_tracepoint_args();

// Each tries for real: loads a two-instruction program and attaches it.
// reads_first_arg: the program also loads the function's first argument, which
// some kernels refuse when its BTF type is only a forward declaration (the
// x86-64 syscall wrappers on 5.10).
Capability try_fentry(const std::string& func, bool reads_first_arg = false);
Capability try_kprobe(const std::string& func);
// A kprobe.multi link (fprobe, 5.18+ with CONFIG_FPROBE) on one function.
Capability try_kprobe_multi(const std::string& func);
Capability try_tracepoint(const std::string& tracefs, const std::string& category, const std::string& name);
Capability try_tp_btf(const std::string& tracepoint);
Capability probe_read_kernel_allowed();
Capability rdonly_cast_available();

// Whether the caller may use BPF at all: root, or CAP_BPF with CAP_PERFMON.
Capability bpf_privileges();

}  // namespace fputrace
