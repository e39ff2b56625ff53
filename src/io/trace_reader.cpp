// Reading a trace or event log back, record by record. A Chrome trace is read
// with nlohmann's SAX parser: only one element of traceEvents (or of the old
// metadata.fputrace.events) is held at a time, so a trace of any size is read
// in constant memory, and one whose writer was killed is read up to its last
// complete element.
#include <fmt/format.h>

#include <streambuf>
#include <string_view>

#include "fputrace/escape.hpp"
#include "fputrace/trace_file.hpp"

namespace fputrace {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& what) {
  throw std::invalid_argument(what);
}

// Serves the bytes already read to sniff the format, then the rest of the
// stream; counts what it served, so errors can say where.
class ResumedBuf : public std::streambuf {
 public:
  ResumedBuf(std::string prefix, std::streambuf* rest) : prefix_(std::move(prefix)), rest_(rest) {
    setg(prefix_.data(), prefix_.data(), prefix_.data() + prefix_.size());
  }
  size_t position() const { return before_ + static_cast<size_t>(gptr() - eback()); }
  // Reads what is left: true when it is only whitespace (the input ended).
  bool rest_is_blank() {
    for (int c = sbumpc(); c != traits_type::eof(); c = sbumpc())
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
    return true;
  }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    before_ += static_cast<size_t>(egptr() - eback());
    std::streamsize n = rest_ ? rest_->sgetn(buf_, sizeof buf_) : 0;
    if (n <= 0) {
      setg(buf_, buf_, buf_);
      return traits_type::eof();
    }
    setg(buf_, buf_, buf_ + n);
    return traits_type::to_int_type(*gptr());
  }

 private:
  std::string prefix_;
  std::streambuf* rest_;
  size_t before_ = 0;  // bytes served before the current buffer
  char buf_[1 << 16];
};

// Builds one JSON value from SAX events (one trace element at a time).
class DomBuilder {
 public:
  void start(json v) {
    root_ = json();
    stack_.clear();
    open(std::move(v));
  }
  void open(json v) { stack_.push_back(place(std::move(v))); }
  bool close() {  // true when the value is complete
    stack_.pop_back();
    return stack_.empty();
  }
  void key(std::string k) { key_ = std::move(k); }
  void value(json v) { place(std::move(v)); }
  json take() { return std::move(root_); }

 private:
  json* place(json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    json& slot = top[key_];
    slot = std::move(v);
    return &slot;
  }
  json root_;
  std::vector<json*> stack_;  // the containers open, outermost first (their addresses are stable)
  std::string key_;
};

LogRecord record_from(const json& j) {
  if (!j.is_object()) bad("record is not a JSON object");
  return record_from_json(j);
}

std::string describe_start(char c) {
  if (c >= 0x20 && c < 0x7f) return fmt::format("'{}'", c);
  return fmt::format("byte {:#04x}", static_cast<unsigned char>(c));
}

// The SAX handler: follows the document's structure outside the elements it
// builds, and hands each record on as soon as its element is complete.
class TraceSax {
 public:
  enum class Role { Top, TraceEvents, Metadata, Fputrace, V1Events, Skip };

  TraceSax(ResumedBuf& buf, const std::function<void(const TraceMeta&)>& on_meta,
           const std::function<void(LogRecord&&)>& on_record)
      : buf_(buf), on_meta_(on_meta), on_record_(on_record) {}

  // ---- the SAX interface ----
  bool null() { return scalar(json(nullptr)); }
  bool boolean(bool v) { return scalar(json(v)); }
  bool number_integer(json::number_integer_t v) { return scalar(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return scalar(json(v)); }
  bool number_float(json::number_float_t v, const std::string&) { return scalar(json(v)); }
  bool string(std::string& v) { return scalar(json(std::move(v))); }
  bool binary(json::binary_t&) { return scalar(json()); }
  bool start_object(size_t) { return start(true); }
  bool end_object() { return end(); }
  bool start_array(size_t) { return start(false); }
  bool end_array() { return end(); }
  bool key(std::string& k) {
    if (in_element_)
      element_.key(std::move(k));
    else
      key_ = std::move(k);
    return true;
  }
  bool parse_error(size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    error_position_ = position;
    error_ = ex.what();
    return false;
  }

  // ---- after the parse ----
  bool failed() const { return !error_.empty(); }
  // The parser ran out of input inside the document (not a malformed one).
  bool ended_early() {
    size_t at = error_position_;
    bool blank = buf_.rest_is_blank();
    return blank && (at > buf_.position() || error_.find("end of input") != std::string::npos);
  }
  // A version 2 trace cut after its header: what it holds is usable.
  bool cut_is_tolerable() const { return version_ >= 2 && entered_trace_events_; }
  size_t position() const { return buf_.position(); }
  size_t error_position() const { return error_position_; }
  TraceInfo finish();
  size_t events() const { return events_; }

 private:
  bool start(bool object);
  bool end();
  bool scalar(json v);
  Role role_of_new(bool object) const;
  void element_done(json elem);
  void deliver(LogRecord&& r);
  void check_version(const json& v);
  void fputrace_field(json v);

  ResumedBuf& buf_;
  const std::function<void(const TraceMeta&)>& on_meta_;
  const std::function<void(LogRecord&&)>& on_record_;
  std::vector<Role> roles_;  // containers open outside the element being built
  std::string key_;
  size_t depth_ = 0;
  bool in_element_ = false;
  DomBuilder element_;
  Role element_in_ = Role::Skip;
  size_t index_trace_ = 0, index_v1_ = 0;  // elements seen in each array
  TraceInfo info_;
  bool saw_fputrace_ = false, saw_v1_events_ = false, entered_trace_events_ = false, meta_told_ = false;
  int version_ = 0;  // 0: not seen
  std::string version_text_ = "(missing)";
  std::vector<LogRecord> held_;  // until the version is known to be readable
  size_t events_ = 0;
  size_t error_position_ = 0;
  std::string error_;
};

TraceSax::Role TraceSax::role_of_new(bool object) const {
  if (roles_.empty()) return Role::Top;
  switch (roles_.back()) {
    case Role::Top:
      if (key_ == "traceEvents" && !object) return Role::TraceEvents;
      if (key_ == "metadata" && object) return Role::Metadata;
      return Role::Skip;
    case Role::Metadata:
      return key_ == "fputrace" && object ? Role::Fputrace : Role::Skip;
    case Role::Fputrace:
      return key_ == "events" && !object ? Role::V1Events : Role::Skip;
    default:
      return Role::Skip;
  }
}

bool TraceSax::start(bool object) {
  // nlohmann recurses when it copies or destroys a value: bound the nesting
  // (check_json_depth's rule, applied as the parse goes).
  if (++depth_ > kMaxJsonDepth)
    bad(fmt::format("JSON nested deeper than {} levels at byte {}", kMaxJsonDepth, buf_.position() - 1));
  if (in_element_) {
    element_.open(object ? json::object() : json::array());
    return true;
  }
  if (!roles_.empty() && (roles_.back() == Role::TraceEvents || roles_.back() == Role::V1Events)) {
    Role in = roles_.back();
    (in == Role::TraceEvents ? index_trace_ : index_v1_)++;
    if (!object && in == Role::V1Events)
      bad(fmt::format("metadata.fputrace.events[{}]: record is not a JSON object", index_v1_ - 1));
    if (object) {
      in_element_ = true;
      element_in_ = in;
      element_.start(json::object());
      return true;
    }
    roles_.push_back(Role::Skip);  // an array inside traceEvents: not ours
    return true;
  }
  Role role = role_of_new(object);
  if (role == Role::Fputrace) saw_fputrace_ = true;
  if (role == Role::V1Events) saw_v1_events_ = true;
  if (role == Role::TraceEvents) entered_trace_events_ = true;
  roles_.push_back(role);
  return true;
}

bool TraceSax::end() {
  --depth_;
  if (in_element_) {
    if (element_.close()) {
      in_element_ = false;
      element_done(element_.take());
    }
    return true;
  }
  roles_.pop_back();
  return true;
}

bool TraceSax::scalar(json v) {
  if (in_element_) {
    element_.value(std::move(v));
    return true;
  }
  if (roles_.empty()) return true;
  switch (roles_.back()) {
    case Role::TraceEvents:
      ++index_trace_;  // not an event object: nothing of ours
      break;
    case Role::V1Events:
      bad(fmt::format("metadata.fputrace.events[{}]: record is not a JSON object", index_v1_++));
    case Role::Fputrace:
      fputrace_field(std::move(v));
      break;
    default:
      break;
  }
  return true;
}

std::string meta_string(const json& v) {
  return v.is_string() ? unescape_bytes(v.get_ref<const std::string&>()) : "";
}

void TraceSax::fputrace_field(json v) {
  if (key_ == "version") return check_version(v);
  if (key_ == "kernel") info_.meta.kernel = meta_string(v);
  if (key_ == "backend") info_.meta.backend = meta_string(v);
  if (key_ == "command") info_.meta.command = meta_string(v);
  if (key_ == "recorded_at") info_.meta.recorded_at = meta_string(v);
}

void TraceSax::check_version(const json& v) {
  version_text_ = v.dump();
  if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > kTraceVersion)
    bad(fmt::format("unsupported fputrace trace version {} (this fputrace reads versions 1 to {})", version_text_,
                    kTraceVersion));
  version_ = v.get<int>();
}

void TraceSax::element_done(json elem) {
  if (element_in_ == Role::V1Events) {
    size_t i = index_v1_ - 1;
    try {
      held_.push_back(record_from(elem));  // version 1 says its version after its events
    } catch (const std::invalid_argument& ex) {
      bad(fmt::format("metadata.fputrace.events[{}]: {}", i, ex.what()));
    }
    return;
  }
  // traceEvents: only the raw records are ours; the rest is for viewers.
  auto name = elem.find("name");
  auto ph = elem.find("ph");
  if (name == elem.end() || ph == elem.end() || *name != "fputrace_record" || *ph != "M") return;
  size_t i = index_trace_ - 1;
  LogRecord r;
  try {
    auto args = elem.find("args");
    if (args == elem.end()) bad("record without args");
    r = record_from(*args);
  } catch (const std::invalid_argument& ex) {
    bad(fmt::format("traceEvents[{}]: {}", i, ex.what()));
  }
  deliver(std::move(r));
}

void TraceSax::deliver(LogRecord&& r) {
  if (version_ < 2) {  // not known yet to be a trace we read: hold it
    held_.push_back(std::move(r));
    return;
  }
  if (!meta_told_) {
    meta_told_ = true;
    on_meta_(info_.meta);
  }
  events_ += std::holds_alternative<Event>(r);
  ++info_.records;
  on_record_(std::move(r));
}

TraceInfo TraceSax::finish() {
  if (!saw_fputrace_ || (version_ <= 1 && !saw_v1_events_ && held_.empty() && info_.records == 0))
    bad("not an fputrace trace: no metadata.fputrace.events");
  if (version_ == 0)
    bad(fmt::format("unsupported fputrace trace version {} (this fputrace reads versions 1 to {})", version_text_,
                    kTraceVersion));
  info_.chrome = true;
  info_.version = version_;
  if (!meta_told_) {
    meta_told_ = true;
    on_meta_(info_.meta);
  }
  for (LogRecord& r : held_) {
    events_ += std::holds_alternative<Event>(r);
    ++info_.records;
    on_record_(std::move(r));
  }
  held_.clear();
  return info_;
}

TraceInfo read_chrome(ResumedBuf& buf, const std::function<void(const TraceMeta&)>& on_meta,
                      const std::function<void(LogRecord&&)>& on_record) {
  std::istream in(&buf);
  TraceSax sax(buf, on_meta, on_record);
  json::sax_parse(in, &sax);
  if (!sax.failed()) return sax.finish();
  if (!sax.ended_early()) bad(fmt::format("invalid JSON at byte {}", sax.error_position()));
  if (!sax.cut_is_tolerable())
    bad(fmt::format("truncated JSON at byte {} (the file ends inside a value)", sax.position()));
  TraceInfo info = sax.finish();
  info.warning = fmt::format("trace ends early (writer killed?): read {} events", sax.events());
  return info;
}

TraceInfo read_lines(std::istream& in, const std::function<void(const TraceMeta&)>& on_meta,
                     const std::function<void(LogRecord&&)>& on_record) {
  TraceInfo info;
  read_event_log(in, [&](LogRecord&& r) {
    if (const auto* e = std::get_if<Event>(&r); e && info.meta.backend.empty())
      info.meta.backend = std::string(to_string(e->backend));
    ++info.records;
    on_record(std::move(r));
  });
  on_meta(info.meta);
  return info;
}

// The first line, read to tell a JSON-lines log (one record per line) from a
// Chrome trace; at most this much of it.
constexpr size_t kSniffBytes = 1 << 20;

}  // namespace

TraceInfo read_trace(std::istream& in, const std::function<void(const TraceMeta&)>& on_meta,
                     const std::function<void(LogRecord&&)>& on_record) {
  std::string head;
  std::streambuf* src = in.rdbuf();
  int c;
  while ((c = src->sbumpc()) != std::char_traits<char>::eof()) {
    head.push_back(static_cast<char>(c));
    if (c == '\n' ? head.find_first_not_of(" \t\r\n") != std::string::npos : head.size() >= kSniffBytes) break;
  }
  size_t first = head.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) bad("empty input: neither an fputrace trace nor an event log");
  if (head[first] == '[') bad("not an fputrace trace: a bare JSON array has no metadata.fputrace.events");
  if (head[first] != '{')
    bad(fmt::format("not an fputrace trace or event log: starts with {}", describe_start(head[first])));
  bool lines = false;
  if (head.back() == '\n' || c == std::char_traits<char>::eof()) {
    std::string_view line(head.data() + first, head.size() - first);
    check_json_depth(line);
    json j = json::parse(line, nullptr, false);
    lines = !j.is_discarded() && j.is_object() && j.contains("type");
  }
  ResumedBuf buf(std::move(head), src);
  if (!lines) return read_chrome(buf, on_meta, on_record);
  std::istream resumed(&buf);
  return read_lines(resumed, on_meta, on_record);
}

TraceFile read_trace_file(std::istream& in) {
  TraceFile out;
  TraceInfo info = read_trace(
      in, [](const TraceMeta&) {}, [&](LogRecord&& r) { out.log.push_back(std::move(r)); });
  out.meta = info.meta;
  out.chrome = info.chrome;
  out.warning = info.warning;
  return out;
}

std::vector<LogRecord> log_from_trace_file(std::istream& in) {
  return read_trace_file(in).log;
}

}  // namespace fputrace
