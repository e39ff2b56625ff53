// Names are bytes: escaping for JSON and text, and the round trip through the
// event-log and Chrome-trace readers.
#include "fputrace/escape.hpp"
#include "fputrace/replay.hpp"

#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "fputrace/event_json.hpp"
#include "fputrace/findings_out.hpp"
#include "fputrace/html_report.hpp"
#include "fputrace/chrome_trace.hpp"
#include "fputrace/timeline.hpp"
#include "fputrace/trace_file.hpp"
#include "test_support.hpp"

namespace fputrace {
namespace {

using nlohmann::json;

bool has_control_byte(std::string_view s, bool allow_newline) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '\n' && allow_newline) continue;
    if (c < 0x20 || c == 0x7F) return true;
  }
  // C1 controls as UTF-8: C2 80..C2 9F.
  for (size_t i = 0; i + 1 < s.size(); ++i)
    if (static_cast<unsigned char>(s[i]) == 0xC2 && static_cast<unsigned char>(s[i + 1]) <= 0x9F) return true;
  return false;
}

TEST(Escape, ValidUtf8IsWrittenAsIs) {
  for (std::string s : {"", "plain", "/mnt/x/file name", "caf\xc3\xa9", "\xe4\xb8\xad\xe6\x96\x87",
                        "\xf0\x9f\x98\x80 emoji", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\xc2\xa0nbsp"}) {
    EXPECT_TRUE(valid_utf8(s)) << s;
    EXPECT_EQ(escape_bytes(s), s);
  }
}

TEST(Escape, BackslashIsDoubled) {
  EXPECT_EQ(escape_bytes("a\\b"), "a\\\\b");
  EXPECT_EQ(escape_bytes("\\xff"), "\\\\xff");  // a name that looks like an escape stays itself
  EXPECT_EQ(unescape_bytes(escape_bytes("\\xff")), "\\xff");
}

TEST(Escape, InvalidBytesBecomeHexEscapes) {
  EXPECT_EQ(escape_bytes("\xff"), "\\xff");
  EXPECT_EQ(escape_bytes("\xff\xfe-repro"), "\\xff\\xfe-repro");
  EXPECT_EQ(escape_bytes("\x80"), "\\x80");                             // lone continuation byte
  EXPECT_EQ(escape_bytes("\xc0\x80"), "\\xc0\\x80");                    // overlong NUL
  EXPECT_EQ(escape_bytes("\xc1\xbf"), "\\xc1\\xbf");                    // overlong '?'
  EXPECT_EQ(escape_bytes("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");           // overlong '/'
  EXPECT_EQ(escape_bytes("\xf0\x80\x80\xaf"), "\\xf0\\x80\\x80\\xaf");  // overlong '/' in four
  EXPECT_EQ(escape_bytes("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // surrogate U+D800
  EXPECT_EQ(escape_bytes("\xed\xbf\xbf"), "\\xed\\xbf\\xbf");           // surrogate U+DFFF
  EXPECT_EQ(escape_bytes("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // U+110000
  EXPECT_EQ(escape_bytes("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80");  // never a lead byte
  EXPECT_EQ(escape_bytes("ok\xe2\x82"), "ok\\xe2\\x82");                // cut before its end
  EXPECT_EQ(escape_bytes("\xe2\x82z"), "\\xe2\\x82z");                  // cut in the middle
  EXPECT_EQ(escape_bytes("\xe2\x82\xac"), "\xe2\x82\xac");              // the whole euro sign
}

TEST(Escape, NamesCutByBpfMidCharacter) {
  // comm: 15 bytes kept of "fputrace-repr\xc3\xb6..." ; dentry names: 31 of 32.
  std::string comm = std::string("fputrace-repr\xc3\xb6").substr(0, 14);
  EXPECT_EQ(escape_bytes(comm), "fputrace-repr\\xc3");
  std::string name = std::string(30, 'x') + "\xf0\x9f\x98\x80";
  EXPECT_EQ(escape_bytes(name.substr(0, 31)), std::string(30, 'x') + "\\xf0");
  EXPECT_EQ(escape_bytes(name.substr(0, 32)), std::string(30, 'x') + "\\xf0\\x9f");
}

TEST(Escape, PrintableEscapesControlCharacters) {
  EXPECT_EQ(printable("a\x1b[31mred"), "a\\x1b[31mred");
  EXPECT_EQ(printable("bell\x07"), "bell\\x07");
  EXPECT_EQ(printable("cr\rlf\ntab\t"), "cr\\x0dlf\\x0atab\\x09");
  EXPECT_EQ(printable("del\x7f"), "del\\x7f");
  EXPECT_EQ(printable(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(printable("c1\xc2\x9b"
                      "2J"),
            "c1\\xc2\\x9b2J");  // CSI as U+009B
  EXPECT_EQ(printable("nel\xc2\x85"), "nel\\xc2\\x85");
  EXPECT_EQ(printable("\xc2\xa0"), "\xc2\xa0");  // U+00A0 is not a control character
  EXPECT_EQ(printable("caf\xc3\xa9 \xff"), "caf\xc3\xa9 \\xff");
  EXPECT_EQ(printable("a\\b"), "a\\\\b");
  // JSON leaves valid control characters to the JSON encoder (\u001b).
  EXPECT_EQ(escape_bytes("a\x1b"), "a\x1b");
}

TEST(Escape, UnescapeIsLenientWithWhatItDidNotWrite) {
  EXPECT_EQ(unescape_bytes("\\xFF"), "\xff");
  EXPECT_EQ(unescape_bytes("a\\qb"), "a\\qb");
  EXPECT_EQ(unescape_bytes("end\\"), "end\\");
  EXPECT_EQ(unescape_bytes("\\x4"), "\\x4");
  EXPECT_EQ(unescape_bytes("\\xzz"), "\\xzz");
}

TEST(Escape, EveryByteStringRoundTrips) {
  std::mt19937 rng(12345);
  // Biased towards the bytes that matter: backslash, 'x', hex digits, UTF-8 leads and continuations.
  const std::string alphabet = "\\x0fa/\x80\xbf\xc2\xc3\xe0\xed\xf0\xf4\xff\x1b\n\x9f\xa0";
  for (int round = 0; round < 20000; ++round) {
    std::string s;
    size_t n = rng() % 12;
    for (size_t i = 0; i < n; ++i)
      s += (rng() % 3 == 0) ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
    std::string e = escape_bytes(s), p = printable(s);
    ASSERT_TRUE(valid_utf8(e)) << e;
    ASSERT_TRUE(valid_utf8(p)) << p;
    ASSERT_FALSE(has_control_byte(p, false)) << p;
    ASSERT_EQ(unescape_bytes(e), s);
    ASSERT_EQ(unescape_bytes(p), s);
  }
}

TEST(Escape, DumpJsonNeverThrowsOnBytes) {
  json j{{"comm", "\xff\xfe"}, {"nested", {{"path", "/tmp/\xc3"}}}, {"list", {"ok", "\xed\xa0\x80"}}};
  EXPECT_THROW(j.dump(), json::type_error);  // what used to abort fputrace
  std::string text = dump_json(j);
  json back = json::parse(text);
  EXPECT_EQ(back["comm"], "\\xff\\xfe");
  EXPECT_EQ(back["nested"]["path"], "/tmp/\\xc3");
  EXPECT_EQ(back["list"][1], "\\xed\\xa0\\x80");
  EXPECT_EQ(dump_json(json{{"\xff", 1}}), "{\"\\\\xff\":1}");  // keys too
}

// ---- the readers give the bytes back ----

const std::string kComm = "\xff\xfe\x1b[1mrepro\xc3";                     // invalid, ESC, cut mid-character
const std::string kMount = "/tmp/fputrace-\xff\\\xc3\xa9.abc";            // invalid, backslash, valid é
const std::string kFile = "/\xff\n" + std::string(28, 'x') + "\xf0\x9f";  // LF, emoji cut at 32 bytes

std::vector<LogRecord> hostile_log() {
  test::Seq seq;
  Task child = test::user(100, 100, kComm);
  FileRef f = test::file(0xf1, 44, kFile);
  f.mount_path = kMount;
  std::vector<LogRecord> log;
  log.push_back(MountInfo{44, 1, kMount, "tmpfs", "tmpfs\xfe"});
  log.push_back(seq.ring_file(child, 0xaa, f));
  log.push_back(seq.exit(child));
  log.push_back(seq.ring_exit(0xaa, false));
  log.push_back(seq.umount(test::user(99, 99, "\x07parent\x7f"), kMount, -16));
  log.push_back(seq.ring_exit(0xaa, true));
  return log;
}

std::string as_jsonl(const std::vector<LogRecord>& log) {
  std::string out;
  for (const LogRecord& r : log) {
    if (const auto* m = std::get_if<MountInfo>(&r))
      out += dump_json(mount_to_json(*m)) + "\n";
    else
      out += dump_json(event_to_json(std::get<Event>(r))) + "\n";
  }
  return out;
}

std::vector<std::string> findings_of(const std::vector<LogRecord>& log) {
  std::vector<std::string> out;
  replay(log, [&](const Finding& f) { out.push_back(dump_json(finding_to_json(f))); });
  return out;
}

void expect_same_names(const std::vector<LogRecord>& a, const std::vector<LogRecord>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (const auto* m = std::get_if<MountInfo>(&a[i])) {
      const auto& n = std::get<MountInfo>(b[i]);
      EXPECT_EQ(n.path, m->path);
      EXPECT_EQ(n.source, m->source);
      continue;
    }
    const auto& e = std::get<Event>(a[i]);
    const auto& f = std::get<Event>(b[i]);
    EXPECT_EQ(f.task.comm, e.task.comm);
    EXPECT_EQ(f.file.path, e.file.path);
    EXPECT_EQ(f.file.mount_path, e.file.mount_path);
    EXPECT_EQ(f.path, e.path);
  }
}

TEST(EscapeRoundTrip, EventLogGivesBackTheBytes) {
  auto log = hostile_log();
  std::string text = as_jsonl(log);
  EXPECT_TRUE(valid_utf8(text));
  std::istringstream in(text);
  auto back = read_event_log(in);
  expect_same_names(log, back);
  // report of the recorded log explains the EBUSY exactly as watch did.
  auto findings = findings_of(log);
  EXPECT_EQ(findings_of(back), findings);
  bool busy_named = false;
  for (const std::string& line : findings) {
    json f = json::parse(line);
    if (f["event"] != "umount_busy") continue;
    EXPECT_EQ(unescape_bytes(f["mount"]["path"].get<std::string>()), kMount);
    ASSERT_FALSE(f["pins"].empty());
    EXPECT_EQ(unescape_bytes(f["pins"][0]["origin"]["comm"].get<std::string>()), kComm);
    EXPECT_EQ(unescape_bytes(f["pins"][0]["file"]["path"].get<std::string>()), kMount + kFile);
    busy_named = true;
  }
  EXPECT_TRUE(busy_named);
}

TEST(EscapeRoundTrip, ChromeTraceGivesBackTheBytes) {
  auto log = hostile_log();
  TraceMeta meta{"6.1.0 \xff", "", "repro --name \xff\xfe", "2024-01-01T00:00:00Z"};
  std::string text = dump_json(chrome_trace(log, meta));
  EXPECT_TRUE(valid_utf8(text));
  std::istringstream in(text);
  TraceFile back = read_trace_file(in);
  EXPECT_TRUE(back.chrome);
  EXPECT_EQ(back.meta.command, meta.command);
  EXPECT_EQ(back.meta.kernel, meta.kernel);
  expect_same_names(log, back.log);
  EXPECT_EQ(findings_of(back.log), findings_of(log));
}

TEST(EscapeRoundTrip, TextAndHtmlShowEscapedNamesOnly) {
  auto log = hostile_log();
  std::string text;
  replay(log, [&](const Finding& f) { text += finding_to_text(f); });
  EXPECT_TRUE(valid_utf8(text));
  EXPECT_FALSE(has_control_byte(text, true)) << text;
  EXPECT_NE(text.find("\\xff\\xfe\\x1b[1mrepro\\xc3"), std::string::npos) << text;
  EXPECT_NE(text.find("/tmp/fputrace-\\xff\\\\\xc3\xa9.abc/\\xff\\x0a"), std::string::npos) << text;
  std::string html = html_report(log, TraceMeta{"k\x1b", "", "cmd \xff", ""});
  EXPECT_TRUE(valid_utf8(html));
  EXPECT_FALSE(has_control_byte(html, true));
  EXPECT_NE(html.find("data-comm=\"\\xff\\xfe\\x1b[1mrepro\\xc3\""), std::string::npos);
}

TEST(JsonDepth, DeepNestingIsRefusedNotACrash) {
  std::string deep = "{\"type\":\"umount\",\"backend\":\"fentry\",\"time_ns\":1,\"task\":" + std::string(300000, '[') +
                     std::string(300000, ']') + "}\n";
  std::istringstream lines(deep);
  EXPECT_THROW(read_event_log(lines), std::invalid_argument);
  std::istringstream trace("{\"metadata\":" + std::string(300000, '[') + std::string(300000, ']') + "}");
  try {
    read_trace_file(trace);
    FAIL() << "accepted 300000 nested arrays";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("nested deeper than"), std::string::npos) << e.what();
  }
  // Brackets inside strings do not count; real nesting up to the bound is fine.
  EXPECT_NO_THROW(
      check_json_depth("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[\"}"));
  EXPECT_NO_THROW(check_json_depth(std::string(64, '[') + std::string(64, ']')));
  EXPECT_THROW(check_json_depth(std::string(65, '[')), std::invalid_argument);
}

}  // namespace
}  // namespace fputrace
