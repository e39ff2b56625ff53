// The probe plan against made-up kernels: which backend each function gets,
// which object reads kernel memory, and what is said when something is missing.
#include "fputrace/plan.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace fputrace {
namespace {

Capability yes() {
  return {true, 0, ""};
}
Capability no(const std::string& why) {
  return {false, 1, why};
}

// A kernel where each kind of program loads or not, per function.
class MadeUpKernel : public KernelProbes {
 public:
  bool fentry_works = true, kprobe_works = true, multi_works = true, probe_read = true, cast = true;
  std::set<std::string> missing;  // functions in neither BTF nor kallsyms
  std::vector<std::string> asked;

  Capability fentry(const std::string& func, bool) override {
    asked.push_back("fentry " + func);
    if (missing.count(func)) return no(func + " is not in the kernel's BTF");
    return fentry_works ? yes() : no("loading an fentry program refused with EPERM");
  }
  Capability kprobe(const std::string& func) override {
    asked.push_back("kprobe " + func);
    if (missing.count(func)) return no(func + " is not in /proc/kallsyms");
    return kprobe_works ? yes() : no("kprobes are not built into this kernel");
  }
  Capability kprobe_multi(const std::string& func) override {
    asked.push_back("kprobe.multi " + func);
    return multi_works ? yes() : no("attaching kprobe.multi to " + func + " refused with EOPNOTSUPP");
  }
  Capability probe_read_kernel() override { return probe_read ? yes() : no("lockdown"); }
  Capability rdonly_cast() override { return cast ? yes() : no("needs 6.2+"); }
};

bool said(const ProbePlan& plan, const std::string& words) {
  for (const auto& n : plan.notices)
    if (n.find(words) != std::string::npos) return true;
  return false;
}

TEST(Plan, FentryWhereItLoadsFirst) {
  MadeUpKernel k;
  std::string error;
  auto plan = plan_probes("auto", k, "", error);
  ASSERT_TRUE(plan) << error;
  EXPECT_EQ(plan->fput_backend, Backend::Fentry);
  for (const auto& t : function_targets()) EXPECT_EQ(plan->functions.at(t.name), Backend::Fentry) << t.name;
  EXPECT_TRUE(plan->use_cast_reads);   // plain loads wherever the kernel has bpf_rdonly_cast
  EXPECT_TRUE(plan->kread_available);  // the helper-read object is the fallback
  EXPECT_EQ(k.asked.front(), "fentry fput");
  for (const auto& a : k.asked)
    EXPECT_EQ(a.rfind("kprobe", 0), std::string::npos) << "kprobe tried although fentry loaded";
}

TEST(Plan, KprobeWhenFentryIsRefused) {
  MadeUpKernel k;
  k.fentry_works = false;
  std::string error;
  auto plan = plan_probes("auto", k, "", error);
  ASSERT_TRUE(plan) << error;
  EXPECT_EQ(plan->fput_backend, Backend::Kprobe);
  EXPECT_EQ(plan->fentry_tried.at("fput").reason, "loading an fentry program refused with EPERM");
}

TEST(Plan, TheKprobeBackendPutsTheHotFunctionsOnKprobeMulti) {
  MadeUpKernel k;
  k.fentry_works = false;
  std::string error;
  auto plan = plan_probes("kprobe", k, "", error);
  ASSERT_TRUE(plan) << error;
  EXPECT_EQ(plan->kprobe_multi, (std::set<std::string>{"__fput", "fput", "fput_close"}));
  // The rest run once per syscall or umount: plain kprobes, multi not asked.
  for (const auto& a : k.asked) {
    if (a.rfind("kprobe.multi ", 0) == 0) {
      EXPECT_TRUE(plan->kprobe_multi.count(a.substr(13))) << a;
    }
  }
  EXPECT_EQ(plan->functions.at("path_umount"), Backend::Kprobe);
}

TEST(Plan, WithoutKprobeMultiTheHotFunctionsKeepPlainKprobes) {
  MadeUpKernel k;
  k.fentry_works = k.multi_works = false;
  std::string error;
  auto plan = plan_probes("auto", k, "", error);
  ASSERT_TRUE(plan) << error;
  EXPECT_EQ(plan->fput_backend, Backend::Kprobe);
  EXPECT_TRUE(plan->kprobe_multi.empty());
  EXPECT_EQ(plan->kprobe_multi_tried.at("fput").reason, "attaching kprobe.multi to fput refused with EOPNOTSUPP");
}

TEST(Plan, FentryNeverAsksForKprobeMulti) {
  MadeUpKernel k;
  std::string error;
  auto plan = plan_probes("auto", k, "", error);
  ASSERT_TRUE(plan) << error;
  EXPECT_TRUE(plan->kprobe_multi.empty());
  EXPECT_TRUE(plan->kprobe_multi_tried.empty());
}

TEST(Plan, AnOptionalFunctionMissingIsSkippedWithItsReason) {
  MadeUpKernel k;
  k.missing = {"fput_close"};
  std::string error;
  auto plan = plan_probes("auto", k, "", error);
  ASSERT_TRUE(plan) << error;
  EXPECT_EQ(plan->fput_backend, Backend::Fentry);
  EXPECT_EQ(plan->functions.count("fput_close"), 0u);
  EXPECT_TRUE(said(*plan,
                   "skipped fput_close (final fputs on close paths (6.15+)): fentry: fput_close is not in the "
                   "kernel's BTF; kprobe: fput_close is not in /proc/kallsyms"));
}

TEST(Plan, TracepointsWhenNeitherLoadsAndTheOutputSaysInferred) {
  MadeUpKernel k;
  k.fentry_works = k.kprobe_works = false;
  std::string error;
  auto plan = plan_probes("auto", k, "", error);
  ASSERT_TRUE(plan) << error;
  EXPECT_EQ(plan->fput_backend, Backend::Tracepoint);
  EXPECT_TRUE(plan->functions.empty());
  EXPECT_TRUE(said(*plan,
                   "cannot probe fput: fentry: loading an fentry program refused with EPERM; kprobe: kprobes "
                   "are not built into this kernel"));
  EXPECT_TRUE(said(*plan, "deferrals are inferred, not observed"));
  EXPECT_TRUE(plan->use_cast_reads);  // tracepoint programs read with plain loads where the kernel has the kfunc
}

TEST(Plan, WithoutTheKfuncFunctionProbesReadWithTheHelper) {
  MadeUpKernel k;  // before 6.2
  k.cast = false;
  std::string error;
  auto plan = plan_probes("auto", k, "", error);
  ASSERT_TRUE(plan) << error;
  EXPECT_EQ(plan->fput_backend, Backend::Fentry);
  EXPECT_FALSE(plan->use_cast_reads);
}

TEST(Plan, AWithdrawnHelperLeavesFunctionProbesOnCastReads) {
  MadeUpKernel k;  // fentry loads, bpf_probe_read_kernel is withdrawn
  k.probe_read = false;
  std::string error;
  auto plan = plan_probes("auto", k, "", error);
  ASSERT_TRUE(plan) << error;
  EXPECT_EQ(plan->fput_backend, Backend::Fentry);
  EXPECT_TRUE(plan->use_cast_reads);
  EXPECT_FALSE(plan->kread_available);  // no fallback object
}

TEST(Plan, LockdownMeansTracepointsWithCastReads) {
  MadeUpKernel k;  // this machine: neither fentry nor kprobes, no helper
  k.probe_read = k.fentry_works = k.kprobe_works = false;
  std::string error;
  auto plan = plan_probes("auto", k, "", error);
  ASSERT_TRUE(plan) << error;
  EXPECT_EQ(plan->fput_backend, Backend::Tracepoint);
  EXPECT_TRUE(plan->use_cast_reads);
  EXPECT_TRUE(said(*plan, "deferrals are inferred, not observed"));
}

TEST(Plan, NothingCanReadFilesIsAnError) {
  MadeUpKernel k;
  k.probe_read = k.cast = false;
  std::string error;
  EXPECT_FALSE(plan_probes("auto", k, "", error));
  EXPECT_EQ(error, "this kernel allows neither bpf_probe_read_kernel nor bpf_rdonly_cast: nothing can read files");
}

TEST(Plan, TracepointsWithoutTheKfuncReadWithTheHelper) {
  MadeUpKernel k;
  k.cast = false;
  std::string error;
  auto plan = plan_probes("tracepoint", k, "", error);
  ASSERT_TRUE(plan) << error;
  EXPECT_FALSE(plan->use_cast_reads);
  EXPECT_TRUE(k.asked.empty()) << "--backend tracepoint tried " << k.asked.front();
}

TEST(Plan, AnExplicitBackendThatCannotLoadIsAnErrorNotAFallback) {
  MadeUpKernel k;
  k.fentry_works = false;
  std::string error;
  EXPECT_FALSE(plan_probes("fentry", k, "", error));
  EXPECT_EQ(error, "--backend fentry: cannot probe fput: fentry: loading an fentry program refused with EPERM");
  for (const auto& a : k.asked) EXPECT_EQ(a.rfind("kprobe", 0), std::string::npos);
}

TEST(Plan, UnknownBackend) {
  MadeUpKernel k;
  std::string error;
  EXPECT_FALSE(plan_probes("ebpf", k, "", error));
  EXPECT_EQ(error, "unknown backend 'ebpf': use auto, fentry, kprobe or tracepoint");
}

TEST(Plan, ForcedReadsChooseTheObject) {
  MadeUpKernel k;
  std::string error;
  auto cast = plan_probes("tracepoint", k, "cast", error);
  ASSERT_TRUE(cast) << error;
  EXPECT_TRUE(cast->use_cast_reads);
  auto kread = plan_probes("tracepoint", k, "kread", error);
  ASSERT_TRUE(kread) << error;
  EXPECT_FALSE(kread->use_cast_reads);
  auto fentry_kread = plan_probes("auto", k, "kread", error);
  ASSERT_TRUE(fentry_kread) << error;
  EXPECT_EQ(fentry_kread->fput_backend, Backend::Fentry);
  EXPECT_FALSE(fentry_kread->use_cast_reads);
  k.cast = false;
  EXPECT_FALSE(plan_probes("auto", k, "cast", error));
  EXPECT_EQ(error, "FPUTRACE_READS=cast: this kernel does not allow it");
}

}  // namespace
}  // namespace fputrace
