// Flag values, same-file checks and write errors: what can be tested without root.
#include "fputrace/cli_checks.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fputrace/output.hpp"

namespace fputrace {
namespace {

TEST(CheckNumber, RefusesWhatIsNotAFiniteNumberInRange) {
  for (const char* bad : {"nan", "NaN", "inf", "-inf", "infinity", "1e10", "-1", "", "abc", "5x", " 5", "1e999", "0"})
    EXPECT_NE(check_number(bad, 0, true, kMaxDurationS), "") << bad;
  for (const char* good : {"0.5", "1", "86400", "1e3", "0.001"})
    EXPECT_EQ(check_number(good, 0, true, kMaxDurationS), "") << good;
  EXPECT_EQ(check_number("0", 0, false, kMaxTimeoutS), "");
  EXPECT_NE(check_number("-1", 0, false, kMaxWatchMs), "");
  EXPECT_NE(check_number("600001", 0, false, kMaxWatchMs), "");
}

TEST(CheckNumber, SaysTheRange) {
  EXPECT_EQ(check_number("-1", 0, true, 86400), "-1 is out of range (expected more than 0 and at most 86400)");
  EXPECT_EQ(check_number("nan", 0, false, 10), "'nan' is not a number (expected 0 to 10)");
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fputrace-unit.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

TEST_F(TempDir, SameFileByInodeAndByPath) {
  std::ofstream(path("a")) << "x";
  std::filesystem::create_hard_link(path("a"), path("hard"));
  std::filesystem::create_symlink(path("a"), path("sym"));
  EXPECT_TRUE(same_file(path("a"), path("a")));
  EXPECT_TRUE(same_file(path("a"), path("hard")));
  EXPECT_TRUE(same_file(path("sym"), path("a")));
  EXPECT_TRUE(same_file(dir_ + "/./a", path("a")));
  // Files that do not exist yet: the same path, however it is spelled.
  EXPECT_TRUE(same_file(path("new"), dir_ + "/sub/../new"));
  EXPECT_TRUE(same_file(path("new"), path("new")));
  EXPECT_FALSE(same_file(path("new"), path("other")));
  EXPECT_FALSE(same_file(path("a"), path("new")));
  // Writing twice to /dev/null clobbers nothing.
  EXPECT_FALSE(same_file("/dev/null", "/dev/null"));
}

TEST_F(TempDir, DistinctFilesNameTheFlags) {
  EXPECT_EQ(check_distinct_files({{"-o", path("f")}, {"--events", path("g")}}), "");
  EXPECT_EQ(check_distinct_files({{"-o", ""}, {"--events", path("g")}}), "");
  EXPECT_EQ(check_distinct_files({{"-o", "-"}, {"--events", "-"}}), "");
  std::string clash = check_distinct_files({{"-o", path("f")}, {"--events", path("f")}});
  EXPECT_NE(clash.find("-o " + path("f") + " and --events " + path("f") + " are the same file"), std::string::npos)
      << clash;
}

TEST_F(TempDir, OutFileReportsWriteErrorsOnce) {
  std::string error;
  auto full = OutFile::open("/dev/full", error);
  ASSERT_NE(full, nullptr) << error;
  EXPECT_TRUE(full->write("x\n"));  // buffered: the error shows at the flush
  EXPECT_FALSE(full->flush());
  EXPECT_FALSE(full->ok());
  EXPECT_FALSE(full->write("more"));
  EXPECT_FALSE(full->close());
  EXPECT_EQ(full->error(), "cannot write /dev/full: No space left on device");

  EXPECT_EQ(OutFile::open(path("missing/dir/f"), error), nullptr);
  EXPECT_EQ(error, "cannot write " + path("missing/dir/f") + ": No such file or directory");

  auto ok = OutFile::open(path("out"), error);
  ASSERT_NE(ok, nullptr);
  EXPECT_TRUE(std::filesystem::exists(path("out")));  // created at once, before anything is written
  EXPECT_TRUE(ok->write("hello\n"));
  EXPECT_TRUE(ok->close());
  std::ifstream in(path("out"));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "hello");
}

}  // namespace
}  // namespace fputrace
