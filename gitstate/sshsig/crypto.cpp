#include "gitstate/sshsig/crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>

#include "gitstate/sshsig/text.h"
#include "gitstate/sshsig/wire.h"

namespace gitgate::sshsig {
namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using ParamBuilder = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;

constexpr std::string_view kMismatch =
    "signature does not match the signed data (altered commit or forged signature)";

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

Bignum bignum(std::string_view magnitude) {
  return Bignum(BN_bin2bn(bytes(magnitude), static_cast<int>(magnitude.size()), nullptr));
}

Pkey key_from_params(const char* algorithm, OSSL_PARAM* params) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, algorithm, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return nullptr;
  }
  return Pkey(key);
}

Pkey ed25519_key(std::string_view point) {
  return Pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes(point), point.size()));
}

// A point on the curve other than infinity, else null (the NIST prime curves have cofactor 1, so the
// point is then in the prime-order group; the full check would cost a scalar multiplication).
Pkey ec_key(const char* group, std::string_view point) {
  ParamBuilder builder(OSSL_PARAM_BLD_new());
  if (!builder || OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) !=
          1) {
    return nullptr;
  }
  Params params(OSSL_PARAM_BLD_to_param(builder.get()));
  if (!params) return nullptr;
  Pkey key = key_from_params("EC", params.get());
  if (!key) return nullptr;
  PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check_quick(check.get()) != 1) return nullptr;
  return key;
}

Pkey rsa_key(std::string_view modulus, std::string_view exponent) {
  Bignum n = bignum(modulus);
  Bignum e = bignum(exponent);
  ParamBuilder builder(OSSL_PARAM_BLD_new());
  if (!n || !e || !builder || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return nullptr;
  }
  Params params(OSSL_PARAM_BLD_to_param(builder.get()));
  if (!params) return nullptr;
  return key_from_params("RSA", params.get());
}

// `md` null for Ed25519, which hashes internally.
bool digest_verify(EVP_PKEY* key, const EVP_MD* md, std::string_view signature, std::string_view message) {
  MdCtx ctx(EVP_MD_CTX_new());
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
         EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(message), message.size()) == 1;
}

// SSH encodes ECDSA signatures as "mpint r | mpint s"; OpenSSL verifies DER.
std::optional<std::string> ecdsa_der(std::string_view data) {
  wire::Reader reader(data);
  std::string_view r_bytes;
  std::string_view s_bytes;
  if (!reader.mpint(r_bytes, 66, false) || !reader.mpint(s_bytes, 66, false) || !reader.empty())
    return std::nullopt;
  Bignum r = bignum(r_bytes);
  Bignum s = bignum(s_bytes);
  EcdsaSig sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  r.release();  // owned by sig now
  s.release();
  int size = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (size <= 0) return std::nullopt;
  std::string der(static_cast<size_t>(size), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != size) return std::nullopt;
  return der;
}

const char* ec_group(KeyType type) {
  switch (type) {
    case KeyType::EcdsaNistp384:
      return "secp384r1";
    case KeyType::EcdsaNistp521:
      return "secp521r1";
    default:
      return "prime256v1";
  }
}

const EVP_MD* ecdsa_digest(KeyType type) {
  switch (type) {
    case KeyType::EcdsaNistp384:
      return EVP_sha384();
    case KeyType::EcdsaNistp521:
      return EVP_sha512();
    default:
      return EVP_sha256();
  }
}

// FIDO authenticators sign SHA256(application) | flags | counter | SHA256(message) (OpenSSH PROTOCOL.u2f).
std::optional<std::string> security_key_message(const SshSignature& sig, std::string_view message) {
  std::optional<std::string> application_hash = sshsig_digest("sha256", sig.key.application);
  std::optional<std::string> message_hash = sshsig_digest("sha256", message);
  if (!application_hash || !message_hash) return std::nullopt;
  std::string signed_by_key = *application_hash;
  signed_by_key.push_back(static_cast<char>(sig.sk_flags));
  wire::put_u32(signed_by_key, sig.sk_counter);
  signed_by_key.append(*message_hash);
  return signed_by_key;
}

Status verify_rsa(const SshSignature& sig, std::string_view message) {
  const EVP_MD* md = nullptr;
  if (sig.signature_type == "rsa-sha2-512") {
    md = EVP_sha512();
  } else if (sig.signature_type == "rsa-sha2-256") {
    md = EVP_sha256();
  } else if (sig.signature_type == "ssh-rsa") {
    return Error{
        "ssh-rsa (SHA-1) signatures are not accepted; sign with rsa-sha2-512 (any current OpenSSH does)"};
  } else {
    return Error{"signature type " + printable_quoted(sig.signature_type) + " does not fit an RSA key"};
  }
  int bits = sig.key.bits();
  if (bits < kMinRsaBits) {
    return Error{"RSA key has " + std::to_string(bits) + " bits; at least " + std::to_string(kMinRsaBits) +
                 " are required"};
  }
  if (sig.signature_data.size() > sig.key.rsa_modulus.size())
    return Error{"RSA signature is longer than the modulus"};
  Pkey key = rsa_key(sig.key.rsa_modulus, sig.key.rsa_exponent);
  if (!key) return Error{"RSA public key is not usable"};
  // OpenSSH accepts signatures shorter than the modulus and pads them; OpenSSL wants the full length.
  std::string padded(sig.key.rsa_modulus.size() - sig.signature_data.size(), '\0');
  padded.append(sig.signature_data);
  if (!digest_verify(key.get(), md, padded, message)) return Error{std::string(kMismatch)};
  return Status::Ok();
}

Status verify_by_type(const SshSignature& sig, std::string_view message) {
  const PublicKey& public_key = sig.key;
  if (public_key.type == KeyType::Rsa) return verify_rsa(sig, message);
  if (sig.signature_type != public_key.type_name) {
    return Error{"signature type " + printable_quoted(sig.signature_type) + " does not match key type " +
                 printable_quoted(public_key.type_name)};
  }
  switch (public_key.type) {
    case KeyType::Ed25519: {
      Pkey key = ed25519_key(public_key.point);
      if (!key) return Error{"Ed25519 public key is not usable"};
      if (!digest_verify(key.get(), nullptr, sig.signature_data, message))
        return Error{std::string(kMismatch)};
      return Status::Ok();
    }
    case KeyType::SkEd25519: {
      Pkey key = ed25519_key(public_key.point);
      std::optional<std::string> signed_by_key = security_key_message(sig, message);
      if (!key || !signed_by_key) return Error{"Ed25519 security key is not usable"};
      if (!digest_verify(key.get(), nullptr, sig.signature_data, *signed_by_key)) {
        return Error{std::string(kMismatch)};
      }
      return Status::Ok();
    }
    case KeyType::EcdsaNistp256:
    case KeyType::EcdsaNistp384:
    case KeyType::EcdsaNistp521:
    case KeyType::SkEcdsaNistp256: {
      bool security_key = public_key.type == KeyType::SkEcdsaNistp256;
      Pkey key = ec_key(ec_group(public_key.type), public_key.point);
      if (!key) return Error{"ECDSA public key is not a valid point on its curve"};
      std::optional<std::string> der = ecdsa_der(sig.signature_data);
      if (!der) return Error{"ECDSA signature is malformed"};
      std::optional<std::string> signed_by_key =
          security_key ? security_key_message(sig, message) : std::optional<std::string>(message);
      if (!signed_by_key) return Error{"ECDSA security key is not usable"};
      if (!digest_verify(key.get(), ecdsa_digest(public_key.type), *der, *signed_by_key)) {
        return Error{std::string(kMismatch)};
      }
      return Status::Ok();
    }
    case KeyType::Rsa:
    case KeyType::Unsupported:
      break;
  }
  return Error{"key type " + printable_quoted(public_key.type_name) + " is not supported"};
}

}  // namespace

std::optional<std::string> sshsig_digest(std::string_view algorithm, std::string_view data) {
  const EVP_MD* md = nullptr;
  if (algorithm == "sha256") {
    md = EVP_sha256();
  } else if (algorithm == "sha512") {
    md = EVP_sha512();
  } else {
    return std::nullopt;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, md, nullptr) != 1) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(digest), size);
}

Status verify_with_key(const SshSignature& sig, std::string_view message) {
  Status result = verify_by_type(sig, message);
  // OpenSSL's error queue is per thread; leave nothing behind for the next user of this thread.
  ERR_clear_error();
  return result;
}

}  // namespace gitgate::sshsig
