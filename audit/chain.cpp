#include "audit/chain.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace gitgate::audit {

std::string to_hex(const Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(digest.size() * 2, '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  return out;
}

// OpenSSL objects are fetched once; each hash reuses them (a fetch per record would cost more than the
// hash itself).
struct ChainHasher::State {
  EVP_MD* md = nullptr;
  EVP_MD_CTX* md_ctx = nullptr;
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* mac_ctx = nullptr;

  ~State() {
    EVP_MAC_CTX_free(mac_ctx);
    EVP_MAC_free(mac);
    EVP_MD_CTX_free(md_ctx);
    EVP_MD_free(md);
  }
};

ChainHasher::ChainHasher(std::unique_ptr<State> state) : state_(std::move(state)) {}
ChainHasher::ChainHasher(ChainHasher&&) noexcept = default;
ChainHasher& ChainHasher::operator=(ChainHasher&&) noexcept = default;
ChainHasher::~ChainHasher() = default;

Result<ChainHasher> ChainHasher::sha256() {
  auto state = std::make_unique<State>();
  state->md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  state->md_ctx = EVP_MD_CTX_new();
  if (state->md == nullptr || state->md_ctx == nullptr) return Error{"OpenSSL: SHA-256 is not available"};
  return ChainHasher(std::move(state));
}

Result<ChainHasher> ChainHasher::hmac_sha256(std::string_view key) {
  if (key.empty()) return Error{"the HMAC key is empty"};
  auto state = std::make_unique<State>();
  state->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (state->mac == nullptr) return Error{"OpenSSL: HMAC is not available"};
  state->mac_ctx = EVP_MAC_CTX_new(state->mac);
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                         OSSL_PARAM_construct_end()};
  if (state->mac_ctx == nullptr ||
      EVP_MAC_init(state->mac_ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) !=
          1) {
    return Error{"OpenSSL: cannot set up HMAC-SHA256"};
  }
  return ChainHasher(std::move(state));
}

bool ChainHasher::keyed() const {
  return state_->mac_ctx != nullptr;
}

Digest ChainHasher::hash(std::string_view line) {
  Digest out{};
  if (state_->mac_ctx != nullptr) {
    size_t length = 0;
    // A null key re-initializes with the key given at setup.
    EVP_MAC_init(state_->mac_ctx, nullptr, 0, nullptr);
    EVP_MAC_update(state_->mac_ctx, reinterpret_cast<const unsigned char*>(line.data()), line.size());
    EVP_MAC_final(state_->mac_ctx, out.data(), &length, out.size());
  } else {
    unsigned length = 0;
    EVP_DigestInit_ex2(state_->md_ctx, state_->md, nullptr);
    EVP_DigestUpdate(state_->md_ctx, line.data(), line.size());
    EVP_DigestFinal_ex(state_->md_ctx, out.data(), &length);
  }
  return out;
}

Result<std::string> load_hmac_key(const std::string& path) {
  constexpr size_t kMaxKeyBytes = 4096;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{path + ": cannot read the HMAC key file: " + std::strerror(errno)};
  std::string key(kMaxKeyBytes + 1, '\0');
  in.read(key.data(), static_cast<std::streamsize>(key.size()));
  key.resize(static_cast<size_t>(in.gcount()));
  if (key.size() > kMaxKeyBytes) {
    OPENSSL_cleanse(key.data(), key.size());
    return Error{path + ": the HMAC key file is larger than 4 KiB; use a short random key (e.g. 32 bytes)"};
  }
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  if (key.empty()) return Error{path + ": the HMAC key file is empty"};
  return key;
}

}  // namespace gitgate::audit
