// Armored SSHSIG objects (OpenSSH PROTOCOL.sshsig), parsed without verifying anything.
#include <string>

#include "gitstate/sshsig/base64.h"
#include "gitstate/sshsig/sshsig.h"
#include "gitstate/sshsig/text.h"
#include "gitstate/sshsig/wire.h"

namespace gitgate::sshsig {
namespace {

constexpr std::string_view kBegin = "-----BEGIN SSH SIGNATURE-----";
constexpr std::string_view kEnd = "-----END SSH SIGNATURE-----";
constexpr std::string_view kMagic = "SSHSIG";
constexpr uint32_t kVersion = 1;
constexpr size_t kMaxNamespaceBytes = 256;
constexpr size_t kMaxReservedBytes = 1024;
constexpr size_t kMaxHashNameBytes = 64;
constexpr size_t kMaxSignatureBlobBytes = 8 * 1024;
constexpr size_t kMaxSignatureTypeBytes = 128;
constexpr size_t kEd25519SignatureBytes = 64;
constexpr size_t kMaxEcdsaScalarBytes = 66;  // nistp521

Error sig_error(std::string_view what) {
  return Error{"malformed SSH signature: " + std::string(what)};
}

bool is_line_break(char c) {
  return c == '\n' || c == '\r';
}

Result<std::string> dearmor(std::string_view armored) {
  std::string_view text = trim_space(armored);
  if (!text.starts_with(kBegin)) return sig_error("missing '" + std::string(kBegin) + "'");
  if (!text.ends_with(kEnd)) return sig_error("missing '" + std::string(kEnd) + "'");
  if (text.size() < kBegin.size() + kEnd.size() + 2) return sig_error("no content between the armor lines");
  std::string_view body = text.substr(kBegin.size(), text.size() - kBegin.size() - kEnd.size());
  if (!is_line_break(body.front()) || !is_line_break(body.back())) {
    return sig_error("armor lines must stand on lines of their own");
  }
  std::string digits;
  digits.reserve(body.size());
  for (char c : body) {
    if (c == ' ' || c == '\t' || is_line_break(c)) continue;
    digits.push_back(c);
  }
  std::optional<std::string> blob = base64_decode(digits);
  if (!blob) return sig_error("armored content is not valid base64");
  return std::move(*blob);
}

bool is_security_key(KeyType type) {
  return type == KeyType::SkEd25519 || type == KeyType::SkEcdsaNistp256;
}

bool is_ecdsa(KeyType type) {
  return type == KeyType::EcdsaNistp256 || type == KeyType::EcdsaNistp384 || type == KeyType::EcdsaNistp521 ||
         type == KeyType::SkEcdsaNistp256;
}

// The signature field: string type | string data, plus byte flags | uint32 counter for security keys.
Status parse_signature_field(std::string_view field, SshSignature& sig) {
  wire::Reader reader(field);
  std::string_view type;
  std::string_view data;
  if (!reader.string(type, kMaxSignatureTypeBytes)) return sig_error("truncated signature type");
  if (!reader.string(data, kMaxSignatureBlobBytes)) return sig_error("truncated signature data");
  sig.signature_type.assign(type);
  sig.signature_data.assign(data);
  KeyType key_type = sig.key.type;
  if (key_type == KeyType::Unsupported) return Status::Ok();  // opaque: verify_git_signature explains
  if (is_security_key(key_type) && (!reader.u8(sig.sk_flags) || !reader.u32(sig.sk_counter))) {
    return sig_error("truncated security key flags or counter");
  }
  if (!reader.empty()) return sig_error("trailing data after the signature");

  if (key_type == KeyType::Ed25519 || key_type == KeyType::SkEd25519) {
    if (data.size() != kEd25519SignatureBytes) return sig_error("Ed25519 signature is not 64 bytes");
  } else if (is_ecdsa(key_type)) {
    wire::Reader scalars(data);
    std::string_view r;
    std::string_view s;
    if (!scalars.mpint(r, kMaxEcdsaScalarBytes, false) || !scalars.mpint(s, kMaxEcdsaScalarBytes, false) ||
        !scalars.empty()) {
      return sig_error("ECDSA signature is not two non-negative integers");
    }
  } else if (key_type == KeyType::Rsa) {
    if (data.empty() || data.size() > sig.key.rsa_modulus.size()) {
      return sig_error("RSA signature is longer than the modulus or empty");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<SshSignature> parse_sshsig(std::string_view armored) {
  if (armored.size() > kMaxArmoredSignatureBytes) {
    return sig_error("larger than " + std::to_string(kMaxArmoredSignatureBytes) + " bytes");
  }
  Result<std::string> blob = dearmor(armored);
  if (!blob) return std::move(blob).take_error();

  wire::Reader reader(*blob);
  std::string_view magic;
  uint32_t version = 0;
  std::string_view key_blob;
  std::string_view sig_namespace;
  std::string_view reserved;
  std::string_view hash_algorithm;
  std::string_view signature;
  if (!reader.raw(kMagic.size(), magic) || magic != kMagic)
    return sig_error("does not start with \"SSHSIG\"");
  if (!reader.u32(version)) return sig_error("truncated version");
  if (version != kVersion)
    return sig_error("version " + std::to_string(version) + " is not supported (only 1)");
  if (!reader.string(key_blob, kMaxKeyBlobBytes)) return sig_error("truncated or oversized public key");
  if (!reader.string(sig_namespace, kMaxNamespaceBytes)) return sig_error("truncated or oversized namespace");
  if (!reader.string(reserved, kMaxReservedBytes)) return sig_error("truncated or oversized reserved field");
  if (!reader.string(hash_algorithm, kMaxHashNameBytes)) return sig_error("truncated hash algorithm");
  if (!reader.string(signature, kMaxSignatureBlobBytes)) return sig_error("truncated or oversized signature");
  if (!reader.empty()) return sig_error("trailing data after the signature");

  Result<PublicKey> key = parse_public_key(key_blob);
  if (!key) return Error{"SSH signature carries a " + key.error()};
  SshSignature sig;
  sig.key = std::move(*key);
  sig.sig_namespace.assign(sig_namespace);
  sig.reserved.assign(reserved);
  sig.hash_algorithm.assign(hash_algorithm);
  Status field = parse_signature_field(signature, sig);
  if (!field) return Error{field.error()};
  return sig;
}

}  // namespace gitgate::sshsig
