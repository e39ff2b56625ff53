// Names are bytes. Every name fputrace reports (comm, dentry names and paths,
// mount points, the umount target, procfs links, the traced command line) is
// whatever bytes the kernel or a file held: not necessarily UTF-8, possibly cut
// by BPF in the middle of a character, possibly full of control characters.
// They are carried as raw bytes in std::string and escaped only when written:
//
//   JSON  valid UTF-8 as is; a byte that is not part of valid UTF-8 becomes
//         the four characters \xNN (lowercase hex); a backslash becomes \\ so
//         that decoding is unambiguous. (docs/json-schema.md, "Names are bytes")
//   text  the same, and control characters too (C0, DEL and the C1 range
//         U+0080..U+009F, escaped byte by byte), so nothing reaches a terminal
//         raw. unescape_bytes() reverses both.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace fputrace {

// Length of the valid UTF-8 sequence at s[i], or 0 when the byte there does
// not start one (overlong forms, surrogates, > U+10FFFF, cut sequences).
size_t utf8_sequence_length(std::string_view s, size_t i);
bool valid_utf8(std::string_view s);

// Bytes -> valid UTF-8, reversibly (the JSON scheme above).
std::string escape_bytes(std::string_view bytes);
// Bytes -> valid UTF-8 without control characters (the text scheme above).
std::string printable(std::string_view bytes);
// The inverse of both. Lenient: a backslash that starts neither \\ nor \xNN
// stays a backslash, so hand-written or older logs still read.
std::string unescape_bytes(std::string_view escaped);

// Escapes every string (and key) of a JSON value holding raw bytes, in place.
void escape_json_strings(nlohmann::json& j);
// One JSON text of a value holding raw bytes: escaped, never throws on bytes.
std::string dump_json(nlohmann::json j);

}  // namespace fputrace
