// SSH wire encoding (RFC 4251 §5): big-endian integers and length-prefixed strings. The reader never
// reads past its input; every length is checked against what remains before it is used.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gitgate::sshsig::wire {

class Reader {
 public:
  explicit Reader(std::string_view data) : rest_(data) {}

  bool empty() const { return rest_.empty(); }

  bool u8(uint8_t& out) {
    if (rest_.empty()) return false;
    out = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return true;
  }

  bool u32(uint32_t& out) {
    if (rest_.size() < 4) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) out = (out << 8) | static_cast<uint8_t>(rest_[i]);
    rest_.remove_prefix(4);
    return true;
  }

  bool raw(size_t size, std::string_view& out) {
    if (rest_.size() < size) return false;
    out = rest_.substr(0, size);
    rest_.remove_prefix(size);
    return true;
  }

  // A uint32 length then that many bytes; fails when longer than `max_size` or than what remains.
  bool string(std::string_view& out, size_t max_size) {
    std::string_view saved = rest_;
    uint32_t size = 0;
    if (!u32(size) || size > max_size || !raw(size, out)) {
      rest_ = saved;
      return false;
    }
    return true;
  }

  // A non-negative mpint as its big-endian magnitude without leading zeros. With `canonical`, the
  // encoding must be the minimal one (as keys are written); otherwise redundant leading zeros are
  // accepted, as OpenSSH accepts them in signatures.
  bool mpint(std::string_view& magnitude, size_t max_size, bool canonical) {
    std::string_view saved = rest_;
    std::string_view bytes;
    if (!string(bytes, max_size + 1)) return false;
    bool negative = !bytes.empty() && (static_cast<uint8_t>(bytes[0]) & 0x80) != 0;
    bool redundant_zero = bytes.size() >= 2 && bytes[0] == 0 && (static_cast<uint8_t>(bytes[1]) & 0x80) == 0;
    bool lone_zero = bytes.size() == 1 && bytes[0] == 0;
    if (negative || (canonical && (redundant_zero || lone_zero))) {
      rest_ = saved;
      return false;
    }
    while (!bytes.empty() && bytes[0] == 0) bytes.remove_prefix(1);
    if (bytes.size() > max_size) {
      rest_ = saved;
      return false;
    }
    magnitude = bytes;
    return true;
  }

 private:
  std::string_view rest_;
};

inline void put_u32(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
}

inline void put_string(std::string& out, std::string_view value) {
  put_u32(out, static_cast<uint32_t>(value.size()));
  out.append(value);
}

}  // namespace gitgate::sshsig::wire
