// SSH public keys in wire format (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709, OpenSSH PROTOCOL.u2f).
#include <openssl/evp.h>

#include "gitstate/sshsig/base64.h"
#include "gitstate/sshsig/sshsig.h"
#include "gitstate/sshsig/wire.h"

namespace gitgate::sshsig {
namespace {

constexpr size_t kEd25519KeyBytes = 32;
constexpr size_t kMaxTypeNameBytes = 128;
constexpr size_t kMaxApplicationBytes = 1024;
constexpr size_t kMaxRsaExponentBytes = 8;

struct Curve {
  std::string_view key_type;
  std::string_view curve_name;
  size_t point_bytes;  // uncompressed: 0x04 | X | Y
  KeyType type;
};

constexpr Curve kCurves[] = {
    {"ecdsa-sha2-nistp256", "nistp256", 65, KeyType::EcdsaNistp256},
    {"ecdsa-sha2-nistp384", "nistp384", 97, KeyType::EcdsaNistp384},
    {"ecdsa-sha2-nistp521", "nistp521", 133, KeyType::EcdsaNistp521},
};

Error key_error(std::string_view what) {
  return Error{"malformed public key: " + std::string(what)};
}

bool printable_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

int bit_length(std::string_view magnitude) {
  if (magnitude.empty()) return 0;
  int bits = static_cast<int>(magnitude.size() - 1) * 8;
  for (auto top = static_cast<uint8_t>(magnitude[0]); top != 0; top >>= 1) ++bits;
  return bits;
}

bool read_ec_point(wire::Reader& reader, std::string_view curve_name, size_t point_bytes,
                   std::string& point) {
  std::string_view name;
  std::string_view bytes;
  if (!reader.string(name, kMaxTypeNameBytes) || name != curve_name) return false;
  if (!reader.string(bytes, point_bytes) || bytes.size() != point_bytes || bytes[0] != 0x04) return false;
  point.assign(bytes);
  return true;
}

bool read_application(wire::Reader& reader, std::string& application) {
  std::string_view bytes;
  if (!reader.string(bytes, kMaxApplicationBytes) || bytes.find('\0') != std::string_view::npos) return false;
  application.assign(bytes);
  return true;
}

}  // namespace

Result<PublicKey> parse_public_key(std::string_view blob) {
  if (blob.size() > kMaxKeyBlobBytes)
    return key_error("larger than " + std::to_string(kMaxKeyBlobBytes) + " bytes");
  wire::Reader reader(blob);
  std::string_view type_name;
  if (!reader.string(type_name, kMaxTypeNameBytes)) return key_error("truncated key type");
  if (!printable_name(type_name)) return key_error("key type is not a printable name");

  PublicKey key;
  key.type_name.assign(type_name);
  key.blob.assign(blob);

  if (type_name == "ssh-ed25519" || type_name == "sk-ssh-ed25519@openssh.com") {
    bool security_key = type_name != "ssh-ed25519";
    std::string_view point;
    if (!reader.string(point, kEd25519KeyBytes) || point.size() != kEd25519KeyBytes) {
      return key_error("Ed25519 key is not 32 bytes");
    }
    key.point.assign(point);
    if (security_key && !read_application(reader, key.application))
      return key_error("bad security key application");
    key.type = security_key ? KeyType::SkEd25519 : KeyType::Ed25519;
  } else if (type_name == "sk-ecdsa-sha2-nistp256@openssh.com") {
    if (!read_ec_point(reader, "nistp256", 65, key.point))
      return key_error("bad nistp256 curve name or point");
    if (!read_application(reader, key.application)) return key_error("bad security key application");
    key.type = KeyType::SkEcdsaNistp256;
  } else if (type_name == "ssh-rsa") {
    std::string_view exponent;
    std::string_view modulus;
    if (!reader.mpint(exponent, kMaxRsaExponentBytes, true))
      return key_error("bad or oversized RSA exponent");
    if (!reader.mpint(modulus, kMaxRsaBits / 8, true)) return key_error("bad RSA modulus or over 16384 bits");
    if (exponent.empty() || modulus.empty()) return key_error("RSA exponent or modulus is zero");
    key.rsa_exponent.assign(exponent);
    key.rsa_modulus.assign(modulus);
    key.type = KeyType::Rsa;
  } else {
    const Curve* curve = nullptr;
    for (const Curve& c : kCurves) {
      if (type_name == c.key_type) curve = &c;
    }
    if (curve == nullptr) return key;  // well-formed name of a type we do not verify; the rest stays opaque
    if (!read_ec_point(reader, curve->curve_name, curve->point_bytes, key.point)) {
      return key_error("bad " + std::string(curve->curve_name) + " curve name or point");
    }
    key.type = curve->type;
  }
  if (!reader.empty()) return key_error("trailing data after the key");
  return key;
}

std::string PublicKey::fingerprint() const {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(blob.data(), blob.size(), digest, &size, EVP_sha256(), nullptr) != 1) return {};
  return "SHA256:" + base64_encode(std::string_view(reinterpret_cast<const char*>(digest), size), false);
}

int PublicKey::bits() const {
  switch (type) {
    case KeyType::Ed25519:
    case KeyType::SkEd25519:
    case KeyType::EcdsaNistp256:
    case KeyType::SkEcdsaNistp256:
      return 256;
    case KeyType::EcdsaNistp384:
      return 384;
    case KeyType::EcdsaNistp521:
      return 521;
    case KeyType::Rsa:
      return bit_length(rsa_modulus);
    case KeyType::Unsupported:
      return 0;
  }
  return 0;
}

}  // namespace gitgate::sshsig
