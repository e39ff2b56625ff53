// The Chrome trace as a stream (issue 9): written as the events come, with
// bounded state, and readable wherever the writer was killed.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "fputrace/event_json.hpp"
#include "fputrace/replay.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/chrome_trace.hpp"
#include "fputrace/timeline.hpp"
#include "fputrace/trace_file.hpp"
#include "test_support.hpp"

namespace fputrace {
namespace {

using nlohmann::json;
using test::file;
using test::Seq;
using test::user;

std::vector<LogRecord> load(const std::string& name) {
  std::ifstream in(std::string(FPUTRACE_TEST_DATA) + "/" + name);
  return read_event_log(in);
}

const TraceMeta kMeta{"6.1.0-test", "tracepoint", "repro", "2024-01-01T00:00:00Z"};

// What the writer wrote, byte for byte.
std::string write_trace(const std::vector<LogRecord>& log, ChromeLimits limits = {}, uint64_t* evictions = nullptr) {
  std::string text;
  ChromeTraceWriter w([&](std::string_view s) { text += s; }, kMeta, limits);
  for (const LogRecord& r : log) w.add(r);
  w.finish();
  if (evictions) *evictions = w.evictions();
  return text;
}

TraceFile read_text(const std::string& text) {
  std::istringstream in(text);
  return read_trace_file(in);
}

std::vector<std::string> findings_of(const std::vector<LogRecord>& log) {
  std::vector<std::string> out;
  replay(log, [&](const Finding& f) { out.push_back(finding_to_json(f).dump()); });
  return out;
}

std::string dump(const LogRecord& r) {
  if (const auto* m = std::get_if<MountInfo>(&r)) return mount_to_json(*m).dump();
  return event_to_json(std::get<Event>(r)).dump();
}

TEST(TraceStream, HeaderComesFirstAndTheWholeTraceReadsBack) {
  auto log = load("tracepoint-uring-registered.events.jsonl");
  std::string text = write_trace(log);
  EXPECT_EQ(text.rfind("{\"metadata\":{\"fputrace\":{", 0), 0u) << text.substr(0, 80);
  TraceFile back = read_text(text);
  EXPECT_TRUE(back.chrome);
  EXPECT_TRUE(back.warning.empty()) << back.warning;
  ASSERT_EQ(back.log.size(), log.size());
  for (size_t i = 0; i < log.size(); ++i) EXPECT_EQ(dump(back.log[i]), dump(log[i]));
  EXPECT_EQ(back.meta.kernel, "6.1.0-test");
  EXPECT_EQ(findings_of(back.log), findings_of(log));
}

// kill -9 can stop the writer at any byte after the header: the reader gives
// every record written in full before the cut, and says the file ended early.
TEST(TraceStream, EveryCutAfterTheHeaderReadsWithOneWarning) {
  auto log = load("tracepoint-uring-pending-thread.events.jsonl");
  std::string text = write_trace(log);
  size_t header = text.find("\"traceEvents\":[") + 15;
  size_t last = 0;
  size_t stride = std::max<size_t>(1, text.size() / 1000);  // 1000 cuts: the unit tier stays under a second
  for (size_t cut = header; cut < text.size() - 3; cut += stride) {
    TraceFile back;
    try {
      back = read_text(text.substr(0, cut));
    } catch (const std::exception& ex) {
      FAIL() << "cut at " << cut << " of " << text.size() << ": " << ex.what();
    }
    ASSERT_NE(back.warning.find("trace ends early (writer killed?): read "), std::string::npos) << cut;
    ASSERT_EQ(back.warning.find('\n'), std::string::npos);
    ASSERT_LE(back.log.size(), log.size());
    ASSERT_GE(back.log.size(), last) << cut;  // a longer file never gives fewer records
    last = back.log.size();
    for (size_t i = 0; i < back.log.size(); ++i) ASSERT_EQ(dump(back.log[i]), dump(log[i])) << cut;
  }
  EXPECT_EQ(read_text(text.substr(0, text.size() - 3)).log.size(), log.size());  // all whole before the closing part
}

TEST(TraceStream, WarningCountsTheEventsRead) {
  auto log = load("tracepoint-uring-registered.events.jsonl");
  std::string text = write_trace(log);
  TraceFile back = read_text(text.substr(0, text.rfind("]}")));
  size_t events = 0;
  for (const auto& r : back.log) events += std::holds_alternative<Event>(r);
  EXPECT_EQ(back.warning, fmt::format("trace ends early (writer killed?): read {} events", events));
  EXPECT_EQ(back.log.size(), log.size());
}

TEST(TraceStream, CutInsideTheHeaderIsAnError) {
  std::string text = write_trace(load("tracepoint-uring-registered.events.jsonl"));
  for (size_t cut : {size_t{1}, size_t{20}, text.find("traceEvents")}) {
    try {
      read_text(text.substr(0, cut));
      ADD_FAILURE() << "accepted a cut at " << cut;
    } catch (const std::invalid_argument& ex) {
      EXPECT_NE(std::string(ex.what()).find("truncated JSON at byte"), std::string::npos) << ex.what();
    }
  }
}

TEST(TraceStream, GarbageInTheMiddleIsNotACut) {
  std::string text = write_trace(load("tracepoint-uring-registered.events.jsonl"));
  text[text.find(",\n{", text.size() / 2) + 2] = '#';  // an element that is not JSON
  EXPECT_THROW(read_text(text), std::invalid_argument);
}

// The old layout (the raw log in metadata.fputrace.events, after traceEvents)
// still reads; cut short, it is an error (it was never written as a stream).
TEST(TraceStream, VersionOneStillReads) {
  auto log = load("tracepoint-uring-pending.events.jsonl");
  json events = json::array();
  for (const auto& r : log) events.push_back(json::parse(dump(r)));
  json v1{{"traceEvents", json::array({{{"ph", "i"}, {"name", "x"}, {"pid", 1}, {"tid", 1}, {"ts", 0}}})},
          {"metadata", {{"fputrace", {{"version", 1}, {"backend", "tracepoint"}, {"kernel", "k"}, {"events", events}}}}}};
  std::string text = v1.dump();
  TraceFile back = read_text(text);
  EXPECT_EQ(back.log.size(), log.size());
  EXPECT_EQ(back.meta.kernel, "k");
  EXPECT_EQ(findings_of(back.log), findings_of(log));
  EXPECT_THROW(read_text(text.substr(0, text.size() - 30)), std::invalid_argument);
}

// Only open spans are kept; past the cap the oldest is closed where it was
// pushed out (flagged), and counted. Begins and ends still pair up.
TEST(TraceStream, OpenSpansAreBoundedAndEvictionsCounted) {
  Seq seq;
  std::vector<LogRecord> log;
  for (uint64_t i = 0; i < 10; ++i)  // ten requests that never complete
    log.push_back(seq.uring_req(user(100), 0x1000, 0x9000 + i * 0x40, file(0x5000 + i * 0x100)));
  uint64_t evicted = 0;
  json trace = json::parse(write_trace(log, ChromeLimits{3, 100}, &evicted));
  EXPECT_EQ(evicted, 7u);
  std::map<std::string, int> open;
  int flagged = 0;
  for (const json& e : trace["traceEvents"]) {
    if (e["ph"] == "b") ++open[e["id"]];
    if (e["ph"] == "e") {
      EXPECT_EQ(open[e["id"]]--, 1) << e.dump();
      flagged += e["args"].value("evicted", false);
    }
  }
  for (const auto& [id, n] : open) EXPECT_EQ(n, 0) << id;
  EXPECT_EQ(flagged, 7);
}

TEST(TraceStream, TracksAreNamedOnceEach) {
  auto log = load("tracepoint-uring-registered.events.jsonl");
  json trace = json::parse(write_trace(log));
  std::map<std::pair<uint32_t, uint32_t>, int> threads;
  for (const json& e : trace["traceEvents"])
    if (e["ph"] == "M" && e["name"] == "thread_name") ++threads[{e["pid"].get<uint32_t>(), e["tid"].get<uint32_t>()}];
  ASSERT_FALSE(threads.empty());
  for (const auto& [task, n] : threads) EXPECT_EQ(n, 1) << task.first << "/" << task.second;
}

// report streams: records come one at a time, the metadata before them.
TEST(TraceStream, ReaderStreamsRecordsAfterTheMetadata) {
  auto log = load("tracepoint-uring-registered.events.jsonl");
  std::istringstream in(write_trace(log));
  bool meta_first = false;
  size_t n = 0;
  TraceInfo info = read_trace(
      in, [&](const TraceMeta& m) { meta_first = n == 0 && m.kernel == "6.1.0-test"; },
      [&](LogRecord&&) { ++n; });
  EXPECT_TRUE(meta_first);
  EXPECT_EQ(n, log.size());
  EXPECT_EQ(info.version, 2);
  EXPECT_EQ(info.records, log.size());
}

}  // namespace
}  // namespace fputrace
