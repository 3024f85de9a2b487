// Minimal, allocation-conscious JSON output: responses, audit records and declared objects are written
// with these instead of building a DOM. Strings are escaped per RFC 8259; bytes that are not valid UTF-8
// become U+FFFD so the output always stays valid JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gitgate {

void append_json_string(std::string& out, std::string_view s);

// Offset of the first byte of `s` that does not begin a valid UTF-8 sequence (overlong forms and surrogates
// included), or std::string_view::npos when all of `s` is valid UTF-8.
size_t invalid_utf8_offset(std::string_view s);

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object() { sep(); out_ += '{'; first_ = true; return *this; }
  JsonWriter& end_object() { out_ += '}'; first_ = false; return *this; }
  JsonWriter& begin_array() { sep(); out_ += '['; first_ = true; return *this; }
  JsonWriter& end_array() { out_ += ']'; first_ = false; return *this; }
  JsonWriter& key(std::string_view k) {
    sep();
    append_json_string(out_, k);
    out_ += ':';
    first_ = true;  // the value that follows takes no separator
    return *this;
  }
  JsonWriter& value(std::string_view s) { sep(); append_json_string(out_, s); return *this; }
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) { sep(); out_ += b ? "true" : "false"; return *this; }
  JsonWriter& value(int64_t n) { sep(); out_ += std::to_string(n); return *this; }
  JsonWriter& value(uint64_t n) { sep(); out_ += std::to_string(n); return *this; }
  JsonWriter& value(int n) { return value(static_cast<int64_t>(n)); }
  JsonWriter& value(unsigned n) { return value(static_cast<uint64_t>(n)); }
  JsonWriter& null() { sep(); out_ += "null"; return *this; }
  // Inserts already-encoded JSON verbatim.
  JsonWriter& raw(std::string_view json) { sep(); out_ += json; return *this; }

  template <class T>
  JsonWriter& field(std::string_view k, const T& v) { key(k); return value(v); }

 private:
  void sep() {
    if (!first_) out_ += ',';
    first_ = false;
  }
  std::string& out_;
  bool first_ = true;
};

}  // namespace gitgate
