// SSH signatures on Git commits (git's gpg.format=ssh), verified with OpenSSL alone.
//
// A signed commit carries a `gpgsig` header holding an armored SSHSIG object (OpenSSH PROTOCOL.sshsig):
//   -----BEGIN SSH SIGNATURE-----  base64 of
//     "SSHSIG" | uint32 version (1) | string public_key | string namespace | string reserved
//     | string hash_algorithm ("sha256" | "sha512") | string signature
//   -----END SSH SIGNATURE-----
// The key signs "SSHSIG" | string namespace | string "" | string hash_algorithm | string H(commit without
// the gpgsig header). Like OpenSSH, the reserved field is not part of what is verified. Git signs in the
// namespace "git".
//
// Statuses of verify_git_signature():
//   Unsigned    no signature at all.
//   Invalid     malformed armor or blob, wrong magic or version, namespace other than "git", unsupported
//               hash, weak algorithm (ssh-rsa/SHA-1, DSA, RSA under 2048 bits) or a signature that does not
//               match the commit: the commit was altered or the signature forged.
//   UnknownKey  the signature may be genuine but nobody vouches for it: the key is not in allowed_signers,
//               or not for namespace "git", or not at the commit time; also PGP/X.509 signatures and
//               OpenSSH certificates, which gitgate does not verify.
//   Verified    cryptographically valid and the key is listed for "git" at the commit time.
//
// Keys: ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (signatures rsa-sha2-256/512 only),
// sk-ssh-ed25519@openssh.com and sk-ecdsa-sha2-nistp256@openssh.com (FIDO flags and counter are part of
// what is verified; like ssh-keygen, user presence is not required).
//
// Everything here is a pure function of its inputs (no clock, no I/O except load_allowed_signers) and
// safe to call from many threads. Parsers bound every length and never throw.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/declared.h"
#include "core/result.h"

namespace gitgate::sshsig {

inline constexpr size_t kMaxArmoredSignatureBytes = 16 * 1024;
inline constexpr size_t kMaxKeyBlobBytes = 8 * 1024;
inline constexpr size_t kMaxAllowedSignersBytes = 1024 * 1024;
inline constexpr size_t kMaxAllowedSignersLineBytes = 16 * 1024;
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 16384;

enum class KeyType {
  Ed25519,
  EcdsaNistp256,
  EcdsaNistp384,
  EcdsaNistp521,
  Rsa,
  SkEd25519,
  SkEcdsaNistp256,
  Unsupported,  // a well-formed key of a type gitgate does not verify (DSA, certificates, ...)
};

struct PublicKey {
  KeyType type = KeyType::Unsupported;
  std::string type_name;     // as on the wire: "ssh-ed25519", "ssh-rsa", ...
  std::string blob;          // the whole key in SSH wire format; canonical, so equal keys have equal blobs
  std::string point;         // Ed25519: the 32-byte key; ECDSA: the uncompressed point
  std::string rsa_exponent;  // big-endian magnitude, no leading zeros
  std::string rsa_modulus;
  std::string application;  // security keys: the FIDO application, usually "ssh:"

  // "SHA256:<base64>" as `ssh-keygen -l` prints it.
  std::string fingerprint() const;
  // Key size as `ssh-keygen -l` prints it (RSA modulus bits, curve bits); 0 when unsupported.
  int bits() const;
  bool operator==(const PublicKey& other) const { return blob == other.blob; }
};

// Parses a public key in SSH wire format (at most kMaxKeyBlobBytes). Unknown but well-formed type names
// give KeyType::Unsupported. Malformed or non-canonical encodings and RSA moduli over kMaxRsaBits are
// errors; weak keys (RSA under kMinRsaBits) parse, and are refused where they would be used.
Result<PublicKey> parse_public_key(std::string_view blob);

// An SSHSIG object, parsed but not verified.
struct SshSignature {
  PublicKey key;
  std::string sig_namespace;
  std::string reserved;
  std::string hash_algorithm;
  std::string signature_type;  // "ssh-ed25519", "rsa-sha2-512", "ecdsa-sha2-nistp256", ...
  std::string signature_data;  // algorithm specific: raw Ed25519/RSA bytes, or ECDSA "mpint r | mpint s"
  uint8_t sk_flags = 0;        // security keys only
  uint32_t sk_counter = 0;     // security keys only
};

// Parses an armored SSHSIG object (at most kMaxArmoredSignatureBytes). Errors say what is malformed.
Result<SshSignature> parse_sshsig(std::string_view armored);

// One line of an allowed_signers file:
//   principals [options] keytype base64-key [comment]
// principals: comma-separated patterns ('*', '?' wildcards, '!' negates); options: cert-authority,
// namespaces="pattern,...", valid-after="YYYYMMDD[HHMM[SS]][Z]", valid-before="..." (times are UTC).
struct AllowedSigner {
  std::vector<std::string> principals;
  std::vector<std::string> namespaces;  // patterns; empty: every namespace
  std::optional<int64_t> valid_after;   // seconds since the epoch, inclusive
  std::optional<int64_t> valid_before;  // seconds since the epoch, inclusive
  PublicKey key;
  uint32_t line = 0;

  // The principals as written, comma-joined: what git reports as the signer.
  std::string principals_text() const;
  // OpenSSH pattern-list semantics: some pattern matches and no negated one does.
  bool matches_principal(std::string_view identity) const;
  bool allows_namespace(std::string_view sig_namespace) const;
  bool valid_at(int64_t unix_time) const;
};

struct AllowedSigners {
  std::string source;  // the file name, for messages
  std::vector<AllowedSigner> signers;
  // Lines understood but not usable (cert-authority, unsupported or too weak keys), with the reason.
  std::vector<Problem> skipped;
};

// Errors are "source:line: message". Any malformed line fails the whole file: a typo must not silently
// drop a signer.
Result<AllowedSigners> parse_allowed_signers(std::string_view text, std::string_view source_name);
// Reads at most kMaxAllowedSignersBytes from `path`.
Result<AllowedSigners> load_allowed_signers(const std::string& path);

struct SignatureCheck {
  SignatureStatus status = SignatureStatus::Unsigned;
  std::string principal;        // the allowed_signers principals when Verified
  std::string key_fingerprint;  // "SHA256:..." whenever the signature names a parsable key
  std::string detail;           // why Invalid or UnknownKey; public facts only
};

// `armored_signature` is the commit's gpgsig header value, `signed_data` the commit object without that
// header (git_commit_extract_signature gives both). Git checks keys against the committer time.
SignatureCheck verify_git_signature(std::string_view armored_signature, std::string_view signed_data,
                                    const AllowedSigners& signers, int64_t commit_time_unix);

}  // namespace gitgate::sshsig
