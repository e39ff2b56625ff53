// fputrace doctor: what this kernel allows, tried for real, and which backend
// `watch` would use.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "fputrace/cli.hpp"
#include "fputrace/escape.hpp"
#include "fputrace/kernel_features.hpp"
#include "fputrace/loader.hpp"

namespace fputrace {

namespace {

using nlohmann::json;

json capability_json(const Capability& c) {
  json j{{"available", c.available}};
  if (!c.available) {
    j["errno"] = c.error;
    j["reason"] = c.reason;
  }
  return j;
}

struct TracepointUse {
  const char* category;
  const char* name;
};
const TracepointUse kTracepoints[] = {
    {"io_uring", "io_uring_register"},      {"io_uring", "io_uring_file_get"},
    {"io_uring", "io_uring_complete"},      {"workqueue", "workqueue_execute_start"},
    {"workqueue", "workqueue_execute_end"}, {"syscalls", "sys_enter_io_submit"},
    {"sched", "sched_process_exit"},        {"iomap", "iomap_dio_complete"},
    {"syscalls", "sys_enter_umount"},       {"syscalls", "sys_exit_umount"},
};

json collect(std::string& error) {
  KernelInfo k = read_kernel_info();
  std::string tracefs_error;
  std::string tracefs = ensure_tracefs(tracefs_error);
  json j;
  j["kernel"] = k.release;
  j["btf"] = k.btf;
  j["lockdown"] = k.lockdown;
  j["tracefs"] = tracefs.empty() ? json(nullptr) : json(tracefs);

  json backends;
  backends["fentry"] = capability_json(try_fentry("fput"));
  backends["kprobe"] = capability_json(try_kprobe("fput"));
  // The kprobe backend's cheaper entry for fput and __fput, where it loads.
  backends["kprobe.multi"] = capability_json(try_kprobe_multi("fput"));
  backends["tracepoint"] = tracefs.empty() ? capability_json(Capability{false, ENOENT, tracefs_error})
                                           : capability_json(try_tracepoint(tracefs, "sched", "sched_process_exit"));
  backends["tp_btf"] = capability_json(try_tp_btf("sched_process_exit"));
  j["backends"] = backends;
  j["helpers"] = {{"bpf_probe_read_kernel", capability_json(probe_read_kernel_allowed())},
                  {"bpf_rdonly_cast", capability_json(rdonly_cast_available())}};

  json functions = json::object();
  auto syms = kallsyms_lookup({"fput", "__fput", "fput_close", "aio_complete_rw", "delayed_fput", "io_ring_exit_work"});
  for (const char* fn : {"fput", "__fput", "fput_close", "aio_complete_rw", "delayed_fput", "io_ring_exit_work"}) {
    functions[fn] = {{"btf", kernel_has_btf_func(fn)}, {"kallsyms", syms.count(fn) > 0}};
  }
  j["functions"] = functions;

  json tps = json::object();
  for (const auto& tp : kTracepoints) {
    std::string path = fmt::format("{}/events/{}/{}/id", tracefs, tp.category, tp.name);
    tps[fmt::format("{}:{}", tp.category, tp.name)] = !tracefs.empty() && ::access(path.c_str(), R_OK) == 0;
  }
  j["tracepoints"] = tps;

  auto plan = plan_probes("auto", error);
  // The plan falls back to tracepoints without trying them: a backend that
  // failed its own try above cannot be selected.
  if (plan) {
    const json& chosen = backends[std::string(to_string(plan->fput_backend))];
    if (!chosen["available"].get<bool>()) {
      error = fmt::format("no backend can load: {} ({})", chosen.value("reason", "unavailable"),
                          plan->notices.empty() ? "fentry and kprobe were refused" : plan->notices.front());
      plan.reset();
    }
  }
  if (plan) {
    j["selected"] = to_string(plan->fput_backend);
    j["reads"] = plan->use_cast_reads ? "bpf_rdonly_cast" : "bpf_probe_read_kernel";
    j["notices"] = plan->notices;
  } else {
    j["selected"] = nullptr;
    j["error"] = error;
  }
  return j;
}

void print_text(const json& j) {
  fmt::print("kernel     {}\n", j["kernel"].get<std::string>());
  fmt::print("BTF        {}\n", j["btf"].get<bool>() ? "yes" : "no");
  fmt::print("lockdown   {}\n", j["lockdown"].get<std::string>());
  fmt::print("attach types (tried for real):\n");
  for (const auto& [name, c] : j["backends"].items()) {
    if (c["available"].get<bool>())
      fmt::print("  {:<13} yes\n", name);
    else
      fmt::print("  {:<13} no: {}\n", name, c["reason"].get<std::string>());
  }
  fmt::print("helpers:\n");
  for (const auto& [name, c] : j["helpers"].items())
    fmt::print("  {:<22} {}\n", name, c["available"].get<bool>() ? "yes" : "no: " + c["reason"].get<std::string>());
  fmt::print("functions (BTF / kallsyms):\n");
  for (const auto& [name, f] : j["functions"].items())
    fmt::print("  {:<18} {} / {}\n", name, f["btf"].get<bool>() ? "yes" : "no",
               f["kallsyms"].get<bool>() ? "yes" : "no");
  fmt::print("tracepoints:\n");
  for (const auto& [name, ok] : j["tracepoints"].items())
    fmt::print("  {:<40} {}\n", name, ok.get<bool>() ? "yes" : "no");
  if (j["selected"].is_null()) {
    fmt::print("selected   none: {}\n", j["error"].get<std::string>());
    return;
  }
  fmt::print("selected   {} (reads via {})\n", j["selected"].get<std::string>(), j["reads"].get<std::string>());
  for (const auto& n : j["notices"]) fmt::print("  note: {}\n", n.get<std::string>());
}

}  // namespace

int run_doctor(const DoctorOptions& o) {
  Capability priv = bpf_privileges();
  if (!priv.available) return complain(priv.reason), 1;
  std::string error;
  json j = collect(error);
  if (o.json)
    fmt::print("{}\n", dump_json(j));
  else
    print_text(j);
  return j["selected"].is_null() ? 1 : 0;
}

}  // namespace fputrace
