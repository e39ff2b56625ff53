#include "fputrace/kernel_features.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

namespace fputrace {

namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// r0 = 0; exit
const struct bpf_insn kReturnZero[] = {
    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
    {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
};

// r0 = *(u64 *)(r1 + 0); r0 = 0; exit
const struct bpf_insn kReadArgReturnZero[] = {
    {.code = BPF_LDX | BPF_MEM | BPF_DW, .dst_reg = 0, .src_reg = 1, .off = 0, .imm = 0},
    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
    {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
};

std::string why_refused(const char* what, int err) {
  switch (err) {
    case EPERM:
      return fmt::format("{} refused with EPERM: kernel lockdown or missing CAP_BPF/CAP_PERFMON", what);
    case EACCES:
      return fmt::format("{} refused with EACCES: a security policy denies it", what);
    case ENOENT:
    case ESRCH:
      return fmt::format("{}: target not found in this kernel", what);
    case EINVAL:
      return fmt::format("{} rejected with EINVAL: not supported by this kernel", what);
    case ENOTSUP:
      return fmt::format("{} not supported by this kernel (EOPNOTSUPP)", what);
    case 524:  // the kernel-internal ENOTSUPP, which strerror does not know
      return fmt::format(
          "{} not supported by this kernel (ENOTSUPP, 524: e.g. arm64 before 6.4 has no ftrace direct calls "
          "for BPF trampolines)",
          what);
    default:
      return fmt::format("{} failed: {}", what, std::strerror(err));
  }
}

Capability ok() {
  return Capability{true, 0, ""};
}
Capability refused(int err, std::string reason) {
  return Capability{false, err, std::move(reason)};
}

long perf_event_open(perf_event_attr* attr, int cpu, int group) {
  return ::syscall(__NR_perf_event_open, attr, -1, cpu, group, PERF_FLAG_FD_CLOEXEC);
}

Capability attach_via_perf(int prog_fd, perf_event_attr& attr, const char* what) {
  Fd ev(static_cast<int>(perf_event_open(&attr, 0, -1)));
  if (ev.fd < 0) return refused(errno, why_refused(what, errno));
  if (::ioctl(ev.fd, PERF_EVENT_IOC_SET_BPF, prog_fd) < 0) return refused(errno, why_refused(what, errno));
  return ok();
}

// The kernel's BTF, parsed once: every try below needs it, and parsing a few
// MB of BTF is the slowest part of starting up.
const btf* vmlinux_btf() {
  static std::unique_ptr<btf, void (*)(btf*)> cached(btf__load_vmlinux_btf(), btf__free);
  return cached.get();
}

}  // namespace

KernelInfo read_kernel_info() {
  KernelInfo k;
  struct utsname u {};
  if (::uname(&u) == 0) k.release = u.release;
  k.btf = exists("/sys/kernel/btf/vmlinux");
  if (!exists("/sys/kernel/security/lockdown")) ::mount("securityfs", "/sys/kernel/security", "securityfs", 0, nullptr);
  std::string mode = read_first_line("/sys/kernel/security/lockdown");
  auto open = mode.find('['), close = mode.find(']');
  if (open != std::string::npos && close != std::string::npos && close > open)
    k.lockdown = mode.substr(open + 1, close - open - 1);
  else
    k.lockdown = "unknown";
  if (exists("/sys/kernel/tracing/events"))
    k.tracefs = "/sys/kernel/tracing";
  else if (exists("/sys/kernel/debug/tracing/events"))
    k.tracefs = "/sys/kernel/debug/tracing";
  return k;
}

std::string ensure_tracefs(std::string& error) {
  KernelInfo k = read_kernel_info();
  if (!k.tracefs.empty()) return k.tracefs;
  if (::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0 && exists("/sys/kernel/tracing/events"))
    return "/sys/kernel/tracing";
  error = fmt::format(
      "tracefs is not mounted and mounting it failed ({}): run 'mount -t tracefs nodev /sys/kernel/tracing'",
      std::strerror(errno));
  return "";
}

std::map<std::string, uint64_t> kallsyms_lookup(const std::initializer_list<std::string>& names) {
  std::set<std::string> wanted(names);
  std::map<std::string, uint64_t> found;
  std::ifstream in("/proc/kallsyms");
  std::string line;
  while (std::getline(in, line) && found.size() < wanted.size()) {
    std::istringstream ls(line);
    std::string addr, type, name;
    if (!(ls >> addr >> type >> name)) continue;
    // Text, and data for the few variables asked for (__per_cpu_offset):
    // those are listed only with CONFIG_KALLSYMS_ALL.
    if (type.size() != 1 || !std::strchr("tTdDbBrR", type[0])) continue;
    if (!wanted.count(name) || found.count(name)) continue;
    found[name] = std::stoull(addr, nullptr, 16);
  }
  return found;
}

std::optional<std::vector<std::string>> raw_tracepoint_args(const std::string& tracepoint) {
  const btf* vmlinux = vmlinux_btf();
  if (!vmlinux) return std::nullopt;
  int id = btf__find_by_name_kind(vmlinux, ("btf_trace_" + tracepoint).c_str(), BTF_KIND_TYPEDEF);
  if (id <= 0) return std::nullopt;
  // typedef -> pointer -> function prototype (void *__data, args...)
  const btf_type* t = btf__type_by_id(vmlinux, btf__resolve_type(vmlinux, id));
  if (!t || !btf_is_ptr(t)) return std::nullopt;
  const btf_type* proto = btf__type_by_id(vmlinux, t->type);
  if (!proto || !btf_is_func_proto(proto)) return std::nullopt;
  std::vector<std::string> args;
  const btf_param* p = btf_params(proto);
  for (int i = 1; i < btf_vlen(proto); ++i) {  // [0] is __data
    const btf_type* a = btf__type_by_id(vmlinux, btf__resolve_type(vmlinux, p[i].type));
    if (!a || !btf_is_ptr(a)) {
      args.emplace_back("int");
      continue;
    }
    const btf_type* target = btf__type_by_id(vmlinux, btf__resolve_type(vmlinux, a->type));
    if (target && btf_is_struct(target))
      args.push_back(std::string("ptr:") + btf__name_by_offset(vmlinux, target->name_off));
    else
      args.emplace_back("ptr");
  }
  return args;
}

UringTracepointArgs uring_tracepoint_args() {
  UringTracepointArgs out;
  // io_uring_file_get: (ctx, fd) up to 5.17, (ctx, req, user_data, fd) 5.18 -
  // 6.2, (struct io_kiocb *req, fd) since 6.3: the fd is the last argument.
  if (auto a = raw_tracepoint_args("io_uring_file_get");
      a && (a->size() == 2 || a->size() == 4) && a->back() == "int") {
    out.file_get_fd = static_cast<int>(a->size()) - 1;
    out.file_get_req_first = a->front() == "ptr:io_kiocb";
  }
  // io_uring_complete: (ctx, user_data, res[, cflags]) up to 5.17; (ctx, req,
  // ...) since: the request is the second argument, a pointer.
  if (auto a = raw_tracepoint_args("io_uring_complete"); a && a->size() >= 3 && a->at(1).starts_with("ptr"))
    out.complete_req = 1;
  return out;
}

bool kernel_has_btf_func(const std::string& name) {
  const btf* vmlinux = vmlinux_btf();
  if (!vmlinux) return false;
  return btf__find_by_name_kind(vmlinux, name.c_str(), BTF_KIND_FUNC) > 0;
}

Capability try_fentry(const std::string& func, bool reads_first_arg) {
  const btf* vmlinux = vmlinux_btf();
  if (!vmlinux) return refused(ENOENT, "no kernel BTF: fentry needs /sys/kernel/btf/vmlinux");
  int id = btf__find_by_name_kind(vmlinux, func.c_str(), BTF_KIND_FUNC);
  if (id <= 0) return refused(ENOENT, fmt::format("{} is not in the kernel's BTF (inlined or absent)", func));
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY,
              .attach_btf_id = static_cast<__u32>(id));
  Fd prog(reads_first_arg ? bpf_prog_load(BPF_PROG_TYPE_TRACING, "ft_probe", "GPL", kReadArgReturnZero, 3, &opts)
                          : bpf_prog_load(BPF_PROG_TYPE_TRACING, "ft_probe", "GPL", kReturnZero, 2, &opts));
  if (prog.fd < 0) return refused(errno, why_refused("loading an fentry program", errno));
  Fd link(bpf_raw_tracepoint_open(nullptr, prog.fd));
  if (link.fd < 0) return refused(errno, why_refused(fmt::format("attaching fentry to {}", func).c_str(), errno));
  return ok();
}

Capability try_kprobe(const std::string& func) {
  std::string type = read_first_line("/sys/bus/event_source/devices/kprobe/type");
  if (type.empty()) return refused(ENOENT, "kprobes are not built into this kernel (no kprobe PMU)");
  if (kallsyms_lookup({func}).empty()) return refused(ENOENT, fmt::format("{} is not in /proc/kallsyms", func));
  Fd prog(bpf_prog_load(BPF_PROG_TYPE_KPROBE, "ft_probe", "GPL", kReturnZero, 2, nullptr));
  if (prog.fd < 0) return refused(errno, why_refused("loading a kprobe program", errno));
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = static_cast<__u32>(std::stoul(type));
  attr.config1 = reinterpret_cast<__u64>(func.c_str());
  attr.config2 = 0;
  return attach_via_perf(prog.fd, attr, fmt::format("attaching a kprobe to {}", func).c_str());
}

// No look in /proc/kallsyms first (the plan asks only after a kprobe on func
// attached): the kernel resolves the name and refuses an unknown one.
Capability try_kprobe_multi(const std::string& func) {
  LIBBPF_OPTS(bpf_prog_load_opts, load, .expected_attach_type = BPF_TRACE_KPROBE_MULTI);
  Fd prog(bpf_prog_load(BPF_PROG_TYPE_KPROBE, "ft_probe", "GPL", kReturnZero, 2, &load));
  if (prog.fd < 0) return refused(errno, why_refused("loading a kprobe.multi program", errno));
  const char* syms[] = {func.c_str()};
  LIBBPF_OPTS(bpf_link_create_opts, attach);
  attach.kprobe_multi.syms = syms;
  attach.kprobe_multi.cnt = 1;
  Fd link(bpf_link_create(prog.fd, 0, BPF_TRACE_KPROBE_MULTI, &attach));
  if (link.fd < 0) return refused(errno, why_refused(fmt::format("attaching kprobe.multi to {}", func).c_str(), errno));
  return ok();
}

Capability try_tracepoint(const std::string& tracefs, const std::string& category, const std::string& name) {
  std::string id = read_first_line(fmt::format("{}/events/{}/{}/id", tracefs, category, name));
  if (id.empty()) return refused(ENOENT, fmt::format("tracepoint {}:{} does not exist", category, name));
  Fd prog(bpf_prog_load(BPF_PROG_TYPE_TRACEPOINT, "ft_probe", "GPL", kReturnZero, 2, nullptr));
  if (prog.fd < 0) return refused(errno, why_refused("loading a tracepoint program", errno));
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.config = std::stoull(id);
  attr.sample_period = 1;
  return attach_via_perf(prog.fd, attr, fmt::format("attaching to tracepoint {}:{}", category, name).c_str());
}

Capability try_tp_btf(const std::string& tracepoint) {
  const btf* vmlinux = vmlinux_btf();
  if (!vmlinux) return refused(ENOENT, "no kernel BTF: tp_btf needs /sys/kernel/btf/vmlinux");
  int id = btf__find_by_name_kind(vmlinux, ("btf_trace_" + tracepoint).c_str(), BTF_KIND_TYPEDEF);
  if (id <= 0) return refused(ENOENT, fmt::format("tracepoint {} has no BTF type", tracepoint));
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_RAW_TP,
              .attach_btf_id = static_cast<__u32>(id));
  Fd prog(bpf_prog_load(BPF_PROG_TYPE_TRACING, "ft_probe", "GPL", kReturnZero, 2, &opts));
  if (prog.fd < 0) return refused(errno, why_refused("loading a tp_btf program", errno));
  Fd link(bpf_raw_tracepoint_open(nullptr, prog.fd));
  if (link.fd < 0) return refused(errno, why_refused("attaching a tp_btf program", errno));
  return ok();
}

Capability probe_read_kernel_allowed() {
  int r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_probe_read_kernel, nullptr);
  if (r == 1) return ok();
  return refused(EPERM, "bpf_probe_read_kernel is withdrawn (lockdown=confidentiality)");
}

Capability rdonly_cast_available() {
  if (kernel_has_btf_func("bpf_rdonly_cast")) return ok();
  return refused(ENOENT, "the bpf_rdonly_cast kfunc is not in this kernel (needs 6.2+)");
}

Capability bpf_privileges() {
  if (::geteuid() == 0) return ok();
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) return refused(errno, "cannot read capabilities");
  auto has = [&](int cap) { return data[cap / 32].effective & (1u << (cap % 32)); };
  if (has(CAP_SYS_ADMIN) || (has(39 /* CAP_BPF */) && has(38 /* CAP_PERFMON */))) return ok();
  return refused(EPERM, "needs root, or CAP_BPF and CAP_PERFMON: run it with sudo");
}

}  // namespace fputrace
