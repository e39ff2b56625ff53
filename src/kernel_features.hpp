// Calibration: what the running kernel has and allows, found by looking and
// by trying (loading tiny programs), never by comparing version numbers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

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

// Text symbol addresses from /proc/kallsyms (0 when hidden by kptr_restrict).
std::map<std::string, uint64_t> kallsyms_lookup(const std::initializer_list<std::string>& names);

bool kernel_has_btf_func(const std::string& name);

// Each tries for real: loads a two-instruction program and attaches it.
// reads_first_arg: the program also loads the function's first argument, which
// some kernels refuse when its BTF type is only a forward declaration (the
// x86-64 syscall wrappers on 5.10).
Capability try_fentry(const std::string& func, bool reads_first_arg = false);
Capability try_kprobe(const std::string& func);
Capability try_tracepoint(const std::string& tracefs, const std::string& category, const std::string& name);
Capability try_tp_btf(const std::string& tracepoint);
Capability probe_read_kernel_allowed();
Capability rdonly_cast_available();

// Whether the caller may use BPF at all: root, or CAP_BPF with CAP_PERFMON.
Capability bpf_privileges();

}  // namespace fputrace
