#include "fputrace/chrome_trace.hpp"
#include "fputrace/replay.hpp"
#include "fputrace/timeline.hpp"
#include "fputrace/trace_file.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "fputrace/findings_out.hpp"
#include "fputrace/html_report.hpp"

namespace fputrace {
namespace {

using nlohmann::json;

const std::vector<std::string> kLogs = {
    "tracepoint-uring-registered.events.jsonl", "tracepoint-uring-pending.events.jsonl",
    "tracepoint-uring-pending-thread.events.jsonl", "tracepoint-plain-exit.events.jsonl"};

std::vector<LogRecord> load(const std::string& name) {
  std::ifstream in(std::string(FPUTRACE_TEST_DATA) + "/" + name);
  EXPECT_TRUE(in.good()) << name;
  return read_event_log(in);
}

const TraceMeta kMeta{"6.1.0-test", "", "fputrace-repro registered", "2024-01-01T00:00:00Z"};

// Findings as their JSON rendering: the documented contract, so equal
// renderings mean equal explanations.
std::vector<std::string> findings_of(const std::vector<LogRecord>& log) {
  std::vector<std::string> out;
  replay(log, [&](const Finding& f) { out.push_back(finding_to_json(f).dump()); });
  return out;
}

// The child: the only task that registered files or submitted requests.
uint32_t child_of(const std::vector<LogRecord>& log) {
  for (const auto& r : log)
    if (auto* e = std::get_if<Event>(&r))
      if (e->type == EventType::RingFile || e->type == EventType::UringReq) return e->task.tgid;
  return 0;
}

// The raw log records the trace carries for report: viewers ignore them.
bool is_record(const json& e) {
  return e["ph"] == "M" && e["name"] == "fputrace_record";
}

// What a viewer draws: every trace event but the raw records.
std::vector<json> shown(const json& trace) {
  std::vector<json> out;
  for (const json& e : trace["traceEvents"])
    if (!is_record(e)) out.push_back(e);
  return out;
}

std::vector<json> with_ph(const json& trace, const std::string& ph) {
  std::vector<json> out;
  for (const json& e : shown(trace))
    if (e["ph"] == ph) out.push_back(e);
  return out;
}

TraceFile read_back(const std::string& text) {
  std::istringstream in(text);
  return read_trace_file(in);
}

class RecordedTrace : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    log = load(GetParam());
    // Through text, as a trace file is: a dump/parse round trip must not change it.
    trace = json::parse(chrome_trace(log, kMeta).dump());
  }
  std::vector<LogRecord> log;
  json trace;
};

TEST_P(RecordedTrace, IsATraceEventObject) {
  ASSERT_TRUE(trace.is_object());
  ASSERT_TRUE(trace["traceEvents"].is_array());
  EXPECT_FALSE(trace["traceEvents"].empty());
  const json& fp = trace["metadata"]["fputrace"];
  EXPECT_EQ(fp["version"], 2);
  EXPECT_EQ(fp["backend"], "tracepoint");
  EXPECT_EQ(fp["kernel"], "6.1.0-test");
  EXPECT_EQ(fp["recorded_at"], "2024-01-01T00:00:00Z");
  size_t records = 0;
  for (const json& e : trace["traceEvents"]) records += is_record(e);
  ASSERT_EQ(records, log.size());
}

// The fields the format needs per phase (Trace Event Format, "ph" table).
TEST_P(RecordedTrace, EveryEventHasWhatItsPhaseNeeds) {
  const std::set<std::string> known = {"M", "X", "b", "e", "s", "f", "i"};
  for (const json& e : shown(trace)) {
    SCOPED_TRACE(e.dump());
    ASSERT_TRUE(e["ph"].is_string());
    std::string ph = e["ph"];
    EXPECT_TRUE(known.count(ph));
    EXPECT_TRUE(e["name"].is_string());
    EXPECT_TRUE(e["pid"].is_number_unsigned());
    EXPECT_TRUE(e["tid"].is_number_unsigned());
    if (ph == "M") {
      EXPECT_TRUE(e["args"]["name"].is_string());
      continue;
    }
    EXPECT_TRUE(e["ts"].is_number());
    if (ph == "X") {
      EXPECT_TRUE(e["dur"].is_number() && e["dur"].get<double>() >= 0);
    }
    if (ph == "b" || ph == "e" || ph == "s" || ph == "f") {
      EXPECT_TRUE(e.contains("id"));
      EXPECT_TRUE(e["cat"].is_string());
    }
    if (ph == "f") {
      EXPECT_EQ(e["bp"], "e");
    }
    if (ph == "i") {
      EXPECT_TRUE(e["s"] == "p" || e["s"] == "g" || e["s"] == "t");
    }
  }
}

TEST_P(RecordedTrace, TimestampsAreMicrosecondsOfTheBpfClock) {
  uint64_t first = UINT64_MAX;
  for (const auto& r : log)
    if (auto* e = std::get_if<Event>(&r)) first = std::min(first, e->time_ns);
  for (const json& e : trace["traceEvents"])
    if (e["ph"] != "M") {
      EXPECT_GE(e["ts"].get<double>(), static_cast<double>(first) / 1000.0 - 1) << e.dump();
    }
}

TEST_P(RecordedTrace, MetadataNamesEveryTrackWithATask) {
  std::set<uint32_t> named_pids;
  std::set<std::pair<uint32_t, uint32_t>> named_threads;
  for (const json& m : with_ph(trace, "M")) {
    if (m["name"] == "process_name") named_pids.insert(m["pid"].get<uint32_t>());
    if (m["name"] == "thread_name") named_threads.insert({m["pid"].get<uint32_t>(), m["tid"].get<uint32_t>()});
  }
  for (const json& e : shown(trace)) {
    EXPECT_TRUE(named_pids.count(e["pid"].get<uint32_t>())) << e.dump();
    EXPECT_TRUE(named_threads.count({e["pid"].get<uint32_t>(), e["tid"].get<uint32_t>()})) << e.dump();
  }
  if (uint32_t child = child_of(log)) {
    EXPECT_TRUE(named_pids.count(child)) << child;
  }
}

// b/e nest per (cat, id): each e closes the latest open b of the same pair.
TEST_P(RecordedTrace, AsyncBeginsAndEndsPairUp) {
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> open;
  for (const json& e : trace["traceEvents"]) {
    if (e["ph"] != "b" && e["ph"] != "e") continue;
    auto key = std::make_pair(e["cat"].get<std::string>(), e["id"].get<std::string>());
    if (e["ph"] == "b") {
      open[key].push_back(e["name"]);
      continue;
    }
    ASSERT_FALSE(open[key].empty()) << "end without begin: " << e.dump();
    EXPECT_EQ(open[key].back(), e["name"]) << e.dump();
    open[key].pop_back();
  }
  for (const auto& [key, names] : open) EXPECT_TRUE(names.empty()) << key.first << " " << key.second;
}

TEST_P(RecordedTrace, FlowsStartBeforeTheyFinish) {
  std::map<int, double> starts, finishes;
  for (const json& e : with_ph(trace, "s")) EXPECT_TRUE(starts.emplace(e["id"], e["ts"]).second);
  for (const json& e : with_ph(trace, "f")) EXPECT_TRUE(finishes.emplace(e["id"], e["ts"]).second);
  EXPECT_EQ(starts.size(), finishes.size());
  for (const auto& [id, ts] : starts) {
    ASSERT_TRUE(finishes.count(id)) << id;
    EXPECT_LE(ts, finishes[id]);
  }
}

TEST_P(RecordedTrace, RoundTripGivesTheSameFindings) {
  TraceFile back = read_back(trace.dump(1));
  EXPECT_TRUE(back.chrome);
  EXPECT_EQ(back.meta.kernel, "6.1.0-test");
  EXPECT_EQ(back.meta.command, "fputrace-repro registered");
  EXPECT_EQ(back.log.size(), log.size());
  EXPECT_EQ(findings_of(back.log), findings_of(log));
}

TEST_P(RecordedTrace, JsonLinesLogIsReadAsIs) {
  std::ifstream in(std::string(FPUTRACE_TEST_DATA) + "/" + GetParam());
  TraceFile back = read_trace_file(in);
  EXPECT_FALSE(back.chrome);
  EXPECT_EQ(findings_of(back.log), findings_of(log));
}

TEST_P(RecordedTrace, HtmlReportDrawsEveryTask) {
  std::string html = html_report(log, kMeta);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("http://", html.find("</svg>")), std::string::npos);  // only the SVG namespace
  for (const Task& t : build_timeline(log).tasks)
    EXPECT_NE(html.find(fmt::format("data-tgid=\"{}\" data-tid=\"{}\"", t.tgid, t.tid)), std::string::npos) << t.comm;
}

INSTANTIATE_TEST_SUITE_P(Tracepoint, RecordedTrace, ::testing::ValuesIn(kLogs));

// ---- what the registered-file capture must show ----

class RegisteredTrace : public ::testing::Test {
 protected:
  std::vector<LogRecord> log = load("tracepoint-uring-registered.events.jsonl");
  json trace = chrome_trace(log, kMeta);
};

TEST_F(RegisteredTrace, UmountBusyIsAnInstantWithItsExplanation) {
  int busy = 0, ok = 0;
  for (const json& e : with_ph(trace, "i")) {
    if (e["cat"] != "umount") continue;
    EXPECT_EQ(e["s"], "p");
    EXPECT_EQ(e["args"]["path"], e["args"]["mount"]["path"]);
    if (e["args"]["result"] == "ok") ++ok;
    if (e["args"]["result"] != "EBUSY") continue;
    ++busy;
    EXPECT_EQ(e["name"], "umount EBUSY");
    EXPECT_EQ(e["args"]["mount"]["id"], 44);
    ASSERT_EQ(e["args"]["pins"].size(), 1u);
    const json& pin = e["args"]["pins"][0];
    EXPECT_EQ(pin["origin"]["tgid"], child_of(log));
    EXPECT_EQ(pin["file"]["ino"], 2);
    EXPECT_EQ(pin["confidence"], "inferred");
    EXPECT_EQ(pin["backend"], "tracepoint");
    EXPECT_TRUE(pin["ring"].is_string());
    EXPECT_FALSE(pin["why"].get<std::string>().empty());
    // finding_to_text's wording is not ours to pin down; its subject is.
    std::string text = e["args"]["explanation"];
    EXPECT_NE(text.find("/tmp/fputrace-repro."), std::string::npos) << text;
    EXPECT_NE(text.find(std::to_string(child_of(log))), std::string::npos) << text;
  }
  EXPECT_EQ(busy, 6);
  EXPECT_EQ(ok, 1);
}

TEST_F(RegisteredTrace, PinWindowRunsFromTheChildToTheKworkerThatReleasedIt) {
  Timeline tl = build_timeline(log);
  ASSERT_EQ(tl.pins.size(), 1u);
  const PinWindow& w = tl.pins[0];
  EXPECT_EQ(w.pin.origin.tgid, child_of(log));
  ASSERT_TRUE(w.released.has_value());
  EXPECT_TRUE(w.released->actor.kernel_thread());
  ASSERT_EQ(w.stages.size(), 2u);  // io_uring, then delayed_fput once the ring's exit work returned
  EXPECT_EQ(w.stages[0].holder, Holder::IoUring);
  EXPECT_EQ(w.stages[1].holder, Holder::DelayedFput);

  auto flows_s = with_ph(trace, "s"), flows_f = with_ph(trace, "f");
  ASSERT_EQ(flows_s.size(), 1u);
  ASSERT_EQ(flows_f.size(), 1u);
  EXPECT_EQ(flows_s[0]["pid"], child_of(log));
  EXPECT_EQ(flows_f[0]["tid"], w.released->actor.tid);
}

TEST_F(RegisteredTrace, WorkItemsAreSlicesOnTheirKworkers) {
  std::map<std::string, int> names;
  for (const json& e : with_ph(trace, "X"))
    if (e["cat"] == "workqueue") ++names[e["name"]];
  EXPECT_EQ(names["io_ring_exit_work"], 2);
  EXPECT_EQ(names["delayed_fput"], 1);
}

TEST_F(RegisteredTrace, HtmlMarksEveryBusyUmountAndThePin) {
  std::string html = html_report(log, kMeta);
  size_t busy = 0;
  for (size_t at = html.find("class=\"umount umount-busy\""); at != std::string::npos;
       at = html.find("class=\"umount umount-busy\"", at + 1))
    ++busy;
  EXPECT_EQ(busy, 6u);
  EXPECT_NE(html.find("class=\"umount umount-ok\""), std::string::npos);
  EXPECT_NE(html.find("class=\"pin-window\""), std::string::npos);
  EXPECT_NE(html.find("class=\"release-arrow\""), std::string::npos);
  EXPECT_NE(html.find("class=\"task-exit\""), std::string::npos);
  EXPECT_NE(html.find("class=\"explanation\""), std::string::npos);
}

// ---- bad input: one clear line each ----

std::string error_of(const std::string& text) {
  try {
    read_back(text);
  } catch (const std::invalid_argument& ex) {
    std::string what = ex.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    return what;
  }
  ADD_FAILURE() << "no error for: " << text.substr(0, 80);
  return "";
}

TEST(TraceFileErrors, EmptyInput) {
  EXPECT_NE(error_of("").find("empty input"), std::string::npos);
  EXPECT_NE(error_of(" \n\n").find("empty input"), std::string::npos);
}

// A trace cut inside its header says nothing usable (a cut after it: trace_stream_test.cpp).
TEST(TraceFileErrors, TruncatedTrace) {
  std::string text = chrome_trace(load("tracepoint-uring-registered.events.jsonl"), kMeta).dump(1);
  std::string what = error_of(text.substr(0, text.find("traceEvents") - 10));
  EXPECT_NE(what.find("truncated JSON at byte"), std::string::npos) << what;
}

TEST(TraceFileErrors, ForeignChromeTrace) {
  EXPECT_EQ(error_of(R"({"traceEvents":[{"ph":"i","name":"x","pid":1,"tid":1,"ts":0}]})"),
            "not an fputrace trace: no metadata.fputrace.events");
  EXPECT_EQ(error_of(R"({"traceEvents":[],"metadata":{"fputrace":{"version":1}}})"),
            "not an fputrace trace: no metadata.fputrace.events");
  EXPECT_NE(error_of(R"([{"ph":"i"}])").find("not an fputrace trace"), std::string::npos);
  EXPECT_NE(error_of(R"({"foo": 1})").find("not an fputrace trace"), std::string::npos);
}

TEST(TraceFileErrors, NotJsonAtAll) {
  EXPECT_NE(error_of("\x89PNG\r\n").find("starts with byte 0x89"), std::string::npos);
  EXPECT_NE(error_of("hello").find("starts with 'h'"), std::string::npos);
  EXPECT_NE(error_of("{\"traceEvents\": [}").find("invalid JSON at byte"), std::string::npos);
}

TEST(TraceFileErrors, WrongVersionAndBadEmbeddedEvent) {
  EXPECT_NE(error_of(R"({"traceEvents":[],"metadata":{"fputrace":{"version":3,"events":[]}}})")
                .find("unsupported fputrace trace version 3"),
            std::string::npos);
  std::string what = error_of(
      R"({"traceEvents":[],"metadata":{"fputrace":{"version":1,"events":[{"type":"umount","backend":"tracepoint"}]}}})");
  EXPECT_EQ(what, "metadata.fputrace.events[0]: missing field \"time_ns\"");
}

TEST(TraceFileErrors, TruncatedJsonLinesLog) {
  std::ifstream in(std::string(FPUTRACE_TEST_DATA) + "/tracepoint-uring-registered.events.jsonl");
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::string what = error_of(text.substr(0, text.size() - 40));
  EXPECT_EQ(what.rfind("line 16: not valid JSON", 0), 0u) << what;
}

TEST(TraceFile, EmptyLogMakesAnEmptyTraceThatReadsBack) {
  json trace = chrome_trace({}, TraceMeta{});
  EXPECT_TRUE(trace["traceEvents"].empty());
  EXPECT_TRUE(read_back(trace.dump()).log.empty());
  EXPECT_NE(html_report({}, TraceMeta{}).find("No umount failed"), std::string::npos);
}

TEST(HtmlEscape, EscapesMarkup) {
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

TEST(HtmlReport, TaskNamesAndPathsAreEscaped) {
  auto log = load("tracepoint-uring-registered.events.jsonl");
  for (auto& r : log)
    if (auto* e = std::get_if<Event>(&r)) {
      if (e->task.comm == "fputrace-repro") e->task.comm = "<script>x</script>";
      if (e->file.path == "/registered") e->file.path = "/a&b\"<c>";
    }
  std::string html = html_report(log, TraceMeta{"<k>", "", "", ""});
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_EQ(html.find("<k>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;x&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("/a&amp;b&quot;&lt;c&gt;"), std::string::npos);
}

}  // namespace
}  // namespace fputrace
