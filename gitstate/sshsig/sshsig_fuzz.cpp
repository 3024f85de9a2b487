// libFuzzer target for everything in this module that reads untrusted bytes. The first input byte picks
// the entry point; the raw-blob mode armors the rest so mutations reach the binary parser directly.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "gitstate/sshsig/base64.h"
#include "gitstate/sshsig/sshsig.h"

namespace gitgate::sshsig {
namespace {

const AllowedSigners& fuzz_signers() {
  static const AllowedSigners signers = [] {
    Result<AllowedSigners> parsed = parse_allowed_signers(
        "alice@example.com namespaces=\"git\" ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIBWCn8ybQFvX8ESmlBaKGS7RUTIFjzr5tkSKmdD2gGoV\n",
        "fuzz");
    return parsed.ok() ? *parsed : AllowedSigners{};
  }();
  return signers;
}

void fuzz_one(const uint8_t* data, size_t size) {
  if (size == 0) return;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      Result<SshSignature> parsed = parse_sshsig(input);
      (void)parsed;
      break;
    }
    case 1: {
      Result<AllowedSigners> parsed = parse_allowed_signers(input, "fuzz");
      if (parsed.ok()) {
        for (const AllowedSigner& signer : parsed->signers) {
          (void)signer.matches_principal("alice@example.com");
          (void)signer.allows_namespace("git");
        }
      }
      break;
    }
    case 2: {
      // "signature \x01 signed data"
      size_t split = input.find('\x01');
      std::string_view signed_data =
          split == std::string_view::npos ? std::string_view() : input.substr(split + 1);
      (void)verify_git_signature(input.substr(0, split), signed_data, fuzz_signers(), 1700000000);
      break;
    }
    case 3: {
      std::string armored =
          "-----BEGIN SSH SIGNATURE-----\n" + base64_encode(input, true) + "\n-----END SSH SIGNATURE-----\n";
      (void)verify_git_signature(armored, "tree 0\n", fuzz_signers(), 1700000000);
      break;
    }
  }
}

}  // namespace
}  // namespace gitgate::sshsig

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gitgate::sshsig::fuzz_one(data, size);
  return 0;
}
