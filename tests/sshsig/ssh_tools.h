// Real OpenSSH and Git for the sshsig tests: keys from ssh-keygen, commits signed by git, and
// ssh-keygen -Y verify as the reference to agree with. Nothing here reads the user's configuration.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gitgate::sshsig::testing {

// SSH wire encoding, for building objects by hand.
std::string wire_u32(uint32_t value);
std::string wire_string(std::string_view value);
// An mpint from a big-endian magnitude (adds the sign byte when the top bit is set).
std::string wire_mpint(std::string_view magnitude);
// Armors a raw SSHSIG blob the way ssh-keygen does (70-column base64 lines).
std::string armor(std::string_view blob);
std::string base64(std::string_view bytes);

// An environment where git and ssh-keygen see no user or system configuration and no agent.
std::map<std::string, std::string> isolated_env(const std::filesystem::path& home);

struct SshKey {
  std::string private_path;
  std::string public_line;  // "ssh-ed25519 AAAA..." without the comment
  std::string fingerprint;  // as ssh-keygen -l prints it
};
// ssh-keygen -t type [-b bits] -N '' -f dir/name
SshKey generate_key(const std::filesystem::path& dir, std::string_view name, std::string_view type,
                    int bits = 0);

// ssh-keygen -Y sign; `hash_algorithm` empty for the default (sha512).
std::string ssh_keygen_sign(const std::filesystem::path& home, const std::string& private_key,
                            std::string_view ns, std::string_view data, std::string_view hash_algorithm = {});

// ssh-keygen -Y verify with -Overify-time, as git runs it; true when ssh-keygen accepts.
bool ssh_keygen_verifies(const std::filesystem::path& home, const std::string& allowed_signers_path,
                         std::string_view principal, std::string_view armored, std::string_view data,
                         int64_t verify_time);
// ssh-keygen -Y check-novalidate -n git: the signature alone, no allowed_signers.
bool ssh_keygen_signature_valid(const std::filesystem::path& home, std::string_view armored,
                                std::string_view data);

// A commit object split as git and libgit2 split it for verification.
struct CommitParts {
  std::string
      signature;        // the gpgsig value, one "\n"-ended line per header line, continuation spaces removed
  std::string payload;  // the object without the gpgsig header and its continuation lines
  int64_t committer_time = 0;
};
CommitParts split_commit(std::string_view raw_commit);

// A repository whose commits use fixed identities and dates (committer time kCommitTime).
class GitRepo {
 public:
  static constexpr int64_t kCommitTime = 1700000000;  // 2023-11-14T22:13:20Z

  GitRepo(const std::filesystem::path& home, const std::filesystem::path& dir);
  // Writes `content` to file.txt and commits it, signed with `signing_key` (a private key path) unless
  // empty. Returns the raw commit object.
  std::string commit(std::string_view content, std::string_view message, const std::string& signing_key = {});
  // Writes a raw commit object (e.g. a forged one) and reads it back through git.
  std::string store_and_read(std::string_view raw_commit);

 private:
  std::string git(const std::vector<std::string>& args, std::string_view input = {});

  std::filesystem::path home_;
  std::filesystem::path dir_;
};

}  // namespace gitgate::sshsig::testing
