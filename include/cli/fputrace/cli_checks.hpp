// Checks on command-line values, before anything is traced or written: pure
// functions, so the unit tests run them without root.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace fputrace {

// Bounds of the numeric flags (said in --help too).
constexpr double kMaxDurationS = 86400;  // record --duration: 0 < S <= one day
constexpr double kMaxTimeoutS = 86400;   // umount --timeout: 0 <= S <= one day
constexpr int kMaxWatchMs = 600000;      // busy --watch-ms: 0 <= N <= ten minutes

// "" when text is a finite number in the range (lo, hi] (lo_open) or [lo, hi],
// else why not, in a few words. Refuses nan, inf, blanks and trailing junk.
std::string check_number(const std::string& text, double lo, bool lo_open, double hi);

// True when a and b name one file: the same device and inode when both exist
// (character devices such as /dev/null excepted: writing twice to them loses
// nothing), else the same path once made absolute and normalized.
bool same_file(const std::string& a, const std::string& b);

// A file that is written must not be read or written by anything else in the
// same run. Each entry is {flag, path}; empty paths and "-" (stdout) are
// skipped. "" when all differ, else one line naming the two flags.
std::string check_distinct_files(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace fputrace
