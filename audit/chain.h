// The hash chain that makes the audit file tamper-evident: each record's `prev` is the SHA-256 (or, with a
// key, the HMAC-SHA256) of the previous record's line, without its newline.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace gitgate::audit {

using Digest = std::array<unsigned char, 32>;

constexpr std::string_view kZeroDigestHex =
    "0000000000000000000000000000000000000000000000000000000000000000";

std::string to_hex(const Digest& digest);

// Hashes record lines. Not thread-safe: one per writer or verifier. The key never leaves this object.
class ChainHasher {
 public:
  static Result<ChainHasher> sha256();
  static Result<ChainHasher> hmac_sha256(std::string_view key);

  ChainHasher(ChainHasher&&) noexcept;
  ChainHasher& operator=(ChainHasher&&) noexcept;
  ~ChainHasher();

  Digest hash(std::string_view line);
  bool keyed() const;

 private:
  struct State;
  explicit ChainHasher(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Reads an HMAC key from a file (at most 4 KiB; trailing newlines are not part of the key). Errors name
// the file, never its content.
Result<std::string> load_hmac_key(const std::string& path);

}  // namespace gitgate::audit
