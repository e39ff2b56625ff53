#include "fputrace/escape.hpp"

#include <fmt/format.h>

namespace fputrace {

namespace {

bool between(unsigned char c, unsigned char lo, unsigned char hi) {
  return c >= lo && c <= hi;
}

// The range the second byte of a sequence may take (RFC 3629, section 4): it
// is what excludes overlong forms, surrogates and code points past U+10FFFF.
bool second_byte_ok(unsigned char lead, unsigned char c) {
  if (lead == 0xE0) return between(c, 0xA0, 0xBF);
  if (lead == 0xED) return between(c, 0x80, 0x9F);
  if (lead == 0xF0) return between(c, 0x90, 0xBF);
  if (lead == 0xF4) return between(c, 0x80, 0x8F);
  return between(c, 0x80, 0xBF);
}

void put_hex(std::string& out, unsigned char c) {
  out += fmt::format("\\x{:02x}", c);
}

// True for the bytes that may need escaping: fast path for plain ASCII names.
bool needs_work(std::string_view s, bool controls) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80 || c == '\\' || (controls && (c < 0x20 || c == 0x7F))) return true;
  }
  return false;
}

std::string escape(std::string_view s, bool controls) {
  if (!needs_work(s, controls)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = utf8_sequence_length(s, i);
    bool c1 = n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) <= 0x9F;
    if (n == 0 || (controls && (c < 0x20 || c == 0x7F))) {
      put_hex(out, c);
      ++i;
    } else if (controls && c1) {
      put_hex(out, c);
      put_hex(out, static_cast<unsigned char>(s[i + 1]));
      i += 2;
    } else if (c == '\\') {
      out += "\\\\";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto lead = static_cast<unsigned char>(s[i]);
  size_t n = lead < 0x80                 ? 1
             : between(lead, 0xC2, 0xDF) ? 2
             : between(lead, 0xE0, 0xEF) ? 3
             : between(lead, 0xF0, 0xF4) ? 4
                                         : 0;  // 0x80..0xC1 (continuation, overlong), 0xF5..0xFF
  if (n == 0 || i + n > s.size()) return 0;
  if (n > 1 && !second_byte_ok(lead, static_cast<unsigned char>(s[i + 1]))) return 0;
  for (size_t k = 2; k < n; ++k)
    if (!between(static_cast<unsigned char>(s[i + k]), 0x80, 0xBF)) return 0;
  return n;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string escape_bytes(std::string_view bytes) {
  return escape(bytes, false);
}

std::string printable(std::string_view bytes) {
  return escape(bytes, true);
}

std::string unescape_bytes(std::string_view s) {
  if (s.find('\\') == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '\\') {
      out += '\\';
      ++i;
    } else if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && hex_value(s[i + 2]) >= 0 &&
               hex_value(s[i + 3]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 2]) * 16 + hex_value(s[i + 3]));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

void escape_json_strings(nlohmann::json& j) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    if (needs_work(s, false)) s = escape_bytes(s);
    return;
  }
  if (j.is_array()) {
    for (auto& v : j) escape_json_strings(v);
    return;
  }
  if (!j.is_object()) return;
  bool keys_ok = true;
  for (auto it = j.begin(); it != j.end(); ++it) {
    keys_ok = keys_ok && !needs_work(it.key(), false);
    escape_json_strings(it.value());
  }
  if (keys_ok) return;
  nlohmann::json renamed = nlohmann::json::object();
  for (auto it = j.begin(); it != j.end(); ++it) renamed[escape_bytes(it.key())] = std::move(it.value());
  j = std::move(renamed);
}

std::string dump_json(nlohmann::json j) {
  escape_json_strings(j);
  // Everything is valid UTF-8 now; "replace" only guards against a future bug.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace fputrace
