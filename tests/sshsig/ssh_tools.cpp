#include "tests/sshsig/ssh_tools.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "tests/support/support.h"

namespace gitgate::sshsig::testing {
namespace fs = std::filesystem;
using gitgate::testing::CommandResult;
using gitgate::testing::run_command;
using gitgate::testing::write_file;

namespace {

constexpr auto kCommandTimeout = std::chrono::seconds(60);

CommandResult run_checked(const std::vector<std::string>& argv, const fs::path& home,
                          std::string_view input = {}) {
  CommandResult result = run_command(argv, kCommandTimeout, input, isolated_env(home));
  if (result.exit_code != 0) {
    std::string command;
    for (const auto& a : argv) command += a + " ";
    throw std::runtime_error(command + "failed (" + std::to_string(result.exit_code) + "): " + result.err);
  }
  return result;
}

std::string strip_newline(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// A file under home that holds `content`, for tools that only read signatures from files.
std::string temp_file(const fs::path& home, std::string_view stem, std::string_view content) {
  static int counter = 0;
  fs::path path = home / (std::string(stem) + "-" + std::to_string(++counter));
  write_file(path, content);
  return path.string();
}

}  // namespace

std::string wire_u32(uint32_t value) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xff));
  return out;
}

std::string wire_string(std::string_view value) {
  return wire_u32(static_cast<uint32_t>(value.size())) + std::string(value);
}

std::string wire_mpint(std::string_view magnitude) {
  while (!magnitude.empty() && magnitude.front() == '\0') magnitude.remove_prefix(1);
  std::string bytes;
  if (!magnitude.empty() && (static_cast<uint8_t>(magnitude.front()) & 0x80) != 0) bytes.push_back('\0');
  bytes.append(magnitude);
  return wire_string(bytes);
}

std::string base64(std::string_view bytes) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t group = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) group |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) group |= static_cast<uint8_t>(bytes[i + 2]);
    out.push_back(kAlphabet[(group >> 18) & 63]);
    out.push_back(kAlphabet[(group >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(group >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? kAlphabet[group & 63] : '=');
  }
  return out;
}

std::string armor(std::string_view blob) {
  std::string encoded = base64(blob);
  std::string out = "-----BEGIN SSH SIGNATURE-----\n";
  for (size_t i = 0; i < encoded.size(); i += 70) out += encoded.substr(i, 70) + "\n";
  return out + "-----END SSH SIGNATURE-----\n";
}

std::map<std::string, std::string> isolated_env(const fs::path& home) {
  return {
      {"HOME", home.string()},
      {"XDG_CONFIG_HOME", (home / ".config").string()},
      {"GIT_CONFIG_NOSYSTEM", "1"},
      {"GIT_CONFIG_GLOBAL", "/dev/null"},
      {"SSH_AUTH_SOCK", ""},
      {"GIT_AUTHOR_NAME", "Alice Example"},
      {"GIT_AUTHOR_EMAIL", "alice@example.com"},
      {"GIT_COMMITTER_NAME", "Alice Example"},
      {"GIT_COMMITTER_EMAIL", "alice@example.com"},
      {"GIT_AUTHOR_DATE", std::to_string(GitRepo::kCommitTime) + " +0000"},
      {"GIT_COMMITTER_DATE", std::to_string(GitRepo::kCommitTime) + " +0000"},
      {"TZ", "UTC"},
  };
}

SshKey generate_key(const fs::path& dir, std::string_view name, std::string_view type, int bits) {
  fs::path path = dir / name;
  std::vector<std::string> argv = {"ssh-keygen",      "-q", "-t",         std::string(type), "-N", "", "-C",
                                   std::string(name), "-f", path.string()};
  if (bits > 0) argv.insert(argv.begin() + 4, {"-b", std::to_string(bits)});
  run_checked(argv, dir);
  SshKey key;
  key.private_path = path.string();
  std::string public_line = strip_newline(gitgate::testing::read_file(path.string() + ".pub"));
  key.public_line = public_line.substr(0, public_line.find(' ', public_line.find(' ') + 1));
  // "256 SHA256:... comment (ED25519)"
  std::string listing =
      run_checked({"ssh-keygen", "-l", "-E", "sha256", "-f", path.string() + ".pub"}, dir).out;
  size_t start = listing.find(' ') + 1;
  key.fingerprint = listing.substr(start, listing.find(' ', start) - start);
  return key;
}

std::string ssh_keygen_sign(const fs::path& home, const std::string& private_key, std::string_view ns,
                            std::string_view data, std::string_view hash_algorithm) {
  std::vector<std::string> argv = {"ssh-keygen",    "-q", "-Y",       "sign", "-n",
                                   std::string(ns), "-f", private_key};
  if (!hash_algorithm.empty()) argv.insert(argv.end(), {"-O", "hashalg=" + std::string(hash_algorithm)});
  return run_checked(argv, home, data).out;
}

bool ssh_keygen_verifies(const fs::path& home, const std::string& allowed_signers_path,
                         std::string_view principal, std::string_view armored, std::string_view data,
                         int64_t verify_time) {
  std::string signature_path = temp_file(home, "sig", armored);
  // ssh-keygen reads times without 'Z' as local time; the environment pins TZ=UTC.
  char stamp[32];
  time_t t = static_cast<time_t>(verify_time);
  struct tm utc;
  gmtime_r(&t, &utc);
  strftime(stamp, sizeof stamp, "%Y%m%d%H%M%SZ", &utc);
  CommandResult result =
      run_command({"ssh-keygen", "-Y", "verify", "-f", allowed_signers_path, "-I", std::string(principal),
                   "-n", "git", "-s", signature_path, "-O", std::string("verify-time=") + stamp},
                  kCommandTimeout, data, isolated_env(home));
  return result.exit_code == 0;
}

bool ssh_keygen_signature_valid(const fs::path& home, std::string_view armored, std::string_view data) {
  std::string signature_path = temp_file(home, "sig", armored);
  CommandResult result =
      run_command({"ssh-keygen", "-Y", "check-novalidate", "-n", "git", "-s", signature_path},
                  kCommandTimeout, data, isolated_env(home));
  return result.exit_code == 0;
}

CommitParts split_commit(std::string_view raw) {
  CommitParts parts;
  bool in_headers = true;
  bool in_signature = false;
  while (!raw.empty()) {
    size_t newline = raw.find('\n');
    std::string_view line = raw.substr(0, newline == std::string_view::npos ? raw.size() : newline + 1);
    raw.remove_prefix(line.size());
    if (in_headers && line == "\n") in_headers = false;
    if (in_headers && in_signature && line.starts_with(" ")) {
      parts.signature.append(line.substr(1));
      continue;
    }
    in_signature = false;
    if (in_headers && line.starts_with("gpgsig ")) {
      in_signature = true;
      parts.signature.append(line.substr(7));
      continue;
    }
    if (in_headers && line.starts_with("committer ")) {
      std::string_view rest = line;
      rest.remove_suffix(1);
      rest = rest.substr(0, rest.rfind(' '));  // drop the zone
      parts.committer_time = std::stoll(std::string(rest.substr(rest.rfind(' ') + 1)));
    }
    parts.payload.append(line);
  }
  return parts;
}

GitRepo::GitRepo(const fs::path& home, const fs::path& dir) : home_(home), dir_(dir) {
  fs::create_directories(dir_);
  git({"init", "-q", "-b", "main"});
}

std::string GitRepo::git(const std::vector<std::string>& args, std::string_view input) {
  std::vector<std::string> argv = {"git", "-C", dir_.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_checked(argv, home_, input).out;
}

std::string GitRepo::commit(std::string_view content, std::string_view message,
                            const std::string& signing_key) {
  write_file(dir_ / "file.txt", content);
  git({"add", "file.txt"});
  if (signing_key.empty()) {
    git({"commit", "-q", "--allow-empty", "--no-gpg-sign", "-m", std::string(message)});
  } else {
    git({"-c", "gpg.format=ssh", "-c", "user.signingkey=" + signing_key, "commit", "-q", "--allow-empty",
         "-S", "-m", std::string(message)});
  }
  return git({"cat-file", "commit", "HEAD"});
}

std::string GitRepo::store_and_read(std::string_view raw_commit) {
  std::string id = strip_newline(git({"hash-object", "-t", "commit", "-w", "--stdin"}, raw_commit));
  return git({"cat-file", "commit", id});
}

}  // namespace gitgate::sshsig::testing
