// verify_git_signature: parse, check the namespace and the cryptography, then ask allowed_signers.
#include <string>

#include "gitstate/sshsig/crypto.h"
#include "gitstate/sshsig/sshsig.h"
#include "gitstate/sshsig/text.h"
#include "gitstate/sshsig/wire.h"

namespace gitgate::sshsig {
namespace {

constexpr std::string_view kGitNamespace = "git";
constexpr std::string_view kCertificateSuffix = "-cert-v01@openssh.com";
constexpr int kMaxRefusalsShown = 3;

SignatureCheck outcome(SignatureStatus status, std::string detail, std::string fingerprint = {}) {
  SignatureCheck check;
  check.status = status;
  check.detail = std::move(detail);
  check.key_fingerprint = std::move(fingerprint);
  return check;
}

// What the key signs: "SSHSIG" | string namespace | string reserved (always empty) | string hash | string
// H(m).
std::string signed_blob(std::string_view sig_namespace, std::string_view hash_algorithm,
                        std::string_view hash) {
  std::string blob = "SSHSIG";
  wire::put_string(blob, sig_namespace);
  wire::put_string(blob, "");
  wire::put_string(blob, hash_algorithm);
  wire::put_string(blob, hash);
  return blob;
}

std::string signer_place(const AllowedSigners& signers, const AllowedSigner& signer) {
  return signer.principals_text() + " (" + signers.source + ":" + std::to_string(signer.line) + ")";
}

// Why a listed signer does not vouch for a signature at `commit_time`, or "" when it does.
std::string refusal(const AllowedSigners& signers, const AllowedSigner& signer, int64_t commit_time) {
  if (!signer.allows_namespace(kGitNamespace)) {
    return "listed for " + signer_place(signers, signer) + " but not for namespace \"git\"";
  }
  if (signer.valid_after && commit_time < *signer.valid_after) {
    return "listed for " + signer_place(signers, signer) + " but only from " +
           format_utc(*signer.valid_after) + ", after the commit time " + format_utc(commit_time);
  }
  if (signer.valid_before && commit_time > *signer.valid_before) {
    return "listed for " + signer_place(signers, signer) + " but only until " +
           format_utc(*signer.valid_before) + ", before the commit time " + format_utc(commit_time);
  }
  return {};
}

}  // namespace

SignatureCheck verify_git_signature(std::string_view armored_signature, std::string_view signed_data,
                                    const AllowedSigners& signers, int64_t commit_time_unix) {
  std::string_view text = trim_space(armored_signature);
  if (text.empty()) return outcome(SignatureStatus::Unsigned, {});
  if (text.starts_with("-----BEGIN PGP SIGNATURE-----") || text.starts_with("-----BEGIN PGP MESSAGE-----")) {
    return outcome(SignatureStatus::UnknownKey, "PGP signatures are not verified");
  }
  if (text.starts_with("-----BEGIN SIGNED MESSAGE-----")) {
    return outcome(SignatureStatus::UnknownKey, "X.509 (gpgsm) signatures are not verified");
  }

  Result<SshSignature> parsed = parse_sshsig(text);
  if (!parsed) return outcome(SignatureStatus::Invalid, parsed.error());
  const SshSignature& sig = *parsed;
  std::string fingerprint = sig.key.fingerprint();

  if (sig.key.type == KeyType::Unsupported) {
    if (std::string_view(sig.key.type_name).ends_with(kCertificateSuffix)) {
      return outcome(
          SignatureStatus::UnknownKey,
          "signed with an OpenSSH certificate (" + sig.key.type_name + "); certificates are not supported",
          fingerprint);
    }
    return outcome(SignatureStatus::Invalid,
                   "key type " + printable_quoted(sig.key.type_name) + " is not supported", fingerprint);
  }
  if (sig.sig_namespace != kGitNamespace) {
    return outcome(SignatureStatus::Invalid,
                   "signature namespace is " + printable_quoted(sig.sig_namespace) +
                       ", not \"git\": not a commit signature",
                   fingerprint);
  }
  std::optional<std::string> hash = sshsig_digest(sig.hash_algorithm, signed_data);
  if (!hash) {
    return outcome(
        SignatureStatus::Invalid,
        "hash algorithm " + printable_quoted(sig.hash_algorithm) + " is not supported (sha256 or sha512)",
        fingerprint);
  }
  Status crypto = verify_with_key(sig, signed_blob(kGitNamespace, sig.hash_algorithm, *hash));
  if (!crypto) return outcome(SignatureStatus::Invalid, crypto.error(), fingerprint);

  // Like ssh-keygen, the first line that lists the key and accepts the signature names the signer.
  std::string refusals;
  int refusal_count = 0;
  for (const AllowedSigner& signer : signers.signers) {
    if (!(signer.key == sig.key)) continue;
    std::string why_not = refusal(signers, signer, commit_time_unix);
    if (why_not.empty()) {
      SignatureCheck check = outcome(SignatureStatus::Verified, {}, fingerprint);
      check.principal = signer.principals_text();
      return check;
    }
    if (++refusal_count <= kMaxRefusalsShown) refusals += (refusals.empty() ? "" : "; ") + why_not;
  }
  if (refusal_count > kMaxRefusalsShown)
    refusals += "; and " + std::to_string(refusal_count - kMaxRefusalsShown) + " more";
  if (refusals.empty())
    refusals = "not in " + (signers.source.empty() ? std::string("allowed_signers") : signers.source);
  return outcome(SignatureStatus::UnknownKey, sig.key.type_name + " key " + fingerprint + " is " + refusals,
                 fingerprint);
}

}  // namespace gitgate::sshsig
