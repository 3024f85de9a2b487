#include "gitstate/fetch_child.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <vector>

#include "core/result.h"
#include "core/semver.h"
#include "gitstate/git.h"
#include "gitstate/known_hosts.h"
#include "gitstate/oci_pull.h"
#include "gitstate/remote_url.h"

namespace gitgate::gitstate {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxCredentialFileBytes = 64 * 1024;
constexpr size_t kMaxKnownHostsBytes = 1024 * 1024;
constexpr size_t kMaxErrorBytes = 2048;
// A repository larger than this is refused mid-transfer: the cache must not fill the disk.
constexpr size_t kMaxFetchBytes = size_t{4} << 30;
// Packs the cache repository may hold before a fetch compacts them into one.
constexpr size_t kMaxPacks = 32;

// Reads a small file; nullopt when it does not exist. Secrets are trimmed of surrounding whitespace.
Result<std::optional<std::string>> read_credential_file(const fs::path& path, size_t limit, bool trim) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<std::string>{};
  auto size = fs::file_size(path, ec);
  if (ec) return Error{"cannot read " + path.string() + ": " + ec.message()};
  if (size > limit) return Error{path.string() + " is larger than " + std::to_string(limit) + " bytes"};
  std::ifstream in(path, std::ios::binary);
  std::string content(size, '\0');
  in.read(content.data(), static_cast<std::streamsize>(size));
  if (!in) return Error{"cannot read " + path.string()};
  if (trim) {
    auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
    while (!content.empty() && is_space(content.back())) content.pop_back();
    size_t start = 0;
    while (start < content.size() && is_space(content[start])) ++start;
    content.erase(0, start);
  }
  return std::optional<std::string>(std::move(content));
}

struct Credentials {
  std::optional<std::string> token, username, password, known_hosts;
  std::string identity, identity_pub, ca;  // paths, empty when absent

  static Result<Credentials> load(const std::string& dir) {
    Credentials c;
    if (dir.empty()) return c;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return Error{"credentials directory " + dir + " does not exist"};
    fs::path base(dir);
    for (auto [name, slot, limit, trim] :
         {std::tuple{"token", &c.token, kMaxCredentialFileBytes, true},
          std::tuple{"username", &c.username, kMaxCredentialFileBytes, true},
          std::tuple{"password", &c.password, kMaxCredentialFileBytes, true},
          std::tuple{"known_hosts", &c.known_hosts, kMaxKnownHostsBytes, false}}) {
      auto content = read_credential_file(base / name, limit, trim);
      if (!content) return std::move(content).take_error();
      *slot = std::move(*content);
    }
    if (c.password && !c.username)
      return Error{"credentials directory " + dir + " has a password but no username"};
    auto optional_path = [&](const char* name) {
      return fs::exists(base / name, ec) ? (base / name).string() : "";
    };
    c.identity = optional_path("identity");
    c.identity_pub = optional_path("identity.pub");
    c.ca = optional_path("ca.crt");
    return c;
  }
};

struct FetchContext {
  RemoteUrl url;
  std::string raw_url;
  std::string credentials_dir;
  Credentials credentials;
  bool tried_key = false;
  bool tried_password = false;
  bool tried_username = false;
  std::string error;  // set by a callback; more precise than what libgit2 reports afterwards

  int fail(std::string message, int code = GIT_EUSER) {
    error = std::move(message);
    git_error_set_str(GIT_ERROR_NET, error.c_str());
    return code;
  }
};

std::string ssh_user(const FetchContext& ctx, const char* username_from_url) {
  if (username_from_url != nullptr && username_from_url[0] != '\0') return username_from_url;
  if (ctx.credentials.username) return *ctx.credentials.username;
  return "git";
}

int on_credentials(git_credential** out, const char*, const char* username_from_url, unsigned int allowed,
                   void* payload) {
  auto& ctx = *static_cast<FetchContext*>(payload);
  const Credentials& c = ctx.credentials;
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) != 0 && !c.identity.empty()) {
    if (ctx.tried_key)
      return ctx.fail("the SSH key in " + ctx.credentials_dir + "/identity was refused", GIT_EAUTH);
    ctx.tried_key = true;
    return git_credential_ssh_key_new(out, ssh_user(ctx, username_from_url).c_str(),
                                      c.identity_pub.empty() ? nullptr : c.identity_pub.c_str(),
                                      c.identity.c_str(), nullptr);
  }
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0 && (c.token || c.password)) {
    if (ctx.url.scheme != "https")
      return ctx.fail("refusing to send credentials over " + ctx.url.scheme + "://; use https://", GIT_EAUTH);
    if (ctx.tried_password)
      return ctx.fail("the remote refused the credentials in " + ctx.credentials_dir, GIT_EAUTH);
    ctx.tried_password = true;
    if (c.token)
      return git_credential_userpass_plaintext_new(out, c.username ? c.username->c_str() : "x-access-token",
                                                   c.token->c_str());
    return git_credential_userpass_plaintext_new(out, c.username->c_str(), c.password->c_str());
  }
  if ((allowed & GIT_CREDENTIAL_USERNAME) != 0 && !ctx.tried_username) {
    ctx.tried_username = true;
    return git_credential_username_new(out, ssh_user(ctx, username_from_url).c_str());
  }
  return ctx.fail(
      "the remote asks for credentials and " +
          (ctx.credentials_dir.empty() ? std::string("no credentials directory is set")
                                       : "the credentials directory " + ctx.credentials_dir +
                                             " has none it accepts (token, username+password, identity)"),
      GIT_EAUTH);
}

int on_certificate(git_cert* cert, int valid, const char* host, void* payload) {
  auto& ctx = *static_cast<FetchContext*>(payload);
  std::string who = host != nullptr ? host : ctx.url.host;
  if (cert->cert_type == GIT_CERT_X509) {
    if (valid != 0) return 0;
    return ctx.fail(
        "the TLS certificate of " + who + " is not trusted" +
            (ctx.credentials.ca.empty() ? " by the system store (add ca.crt to the credentials directory)"
                                        : " by ca.crt"),
        GIT_ECERTIFICATE);
  }
  if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2) {
    const auto* hostkey = reinterpret_cast<const git_cert_hostkey*>(cert);
    if ((hostkey->type & GIT_CERT_SSH_RAW) == 0 || hostkey->hostkey == nullptr)
      return ctx.fail("the SSH server " + who + " did not present a host key", GIT_ECERTIFICATE);
    if (!ctx.credentials.known_hosts)
      return ctx.fail("ssh:// needs a known_hosts file in the credentials directory", GIT_ECERTIFICATE);
    std::string_view blob(hostkey->hostkey, hostkey->hostkey_len);
    switch (check_host_key(*ctx.credentials.known_hosts, who, ctx.url.port, blob)) {
      case HostKeyVerdict::Trusted:
        return 0;
      case HostKeyVerdict::Unknown:
        return ctx.fail("the host key of " + who + " is not in known_hosts", GIT_ECERTIFICATE);
      case HostKeyVerdict::Mismatch:
        return ctx.fail(
            "the host key of " + who +
                " does not match known_hosts: refusing to connect (the key changed, or someone is "
                "intercepting the connection)",
            GIT_ECERTIFICATE);
      case HostKeyVerdict::Revoked:
        return ctx.fail("the host key of " + who + " is marked @revoked in known_hosts", GIT_ECERTIFICATE);
    }
  }
  return ctx.fail("unsupported certificate type from " + who, GIT_ECERTIFICATE);
}

int on_transfer(const git_indexer_progress* stats, void* payload) {
  if (stats->received_bytes <= kMaxFetchBytes) return 0;
  return static_cast<FetchContext*>(payload)->fail("the fetch is larger than " +
                                                   std::to_string(kMaxFetchBytes >> 20) + " MiB; refused");
}

// Every fetch that brings objects leaves one more pack; a long-lived cache would pile up thousands, each
// searched on object lookups. Past kMaxPacks, one pack of everything the branch reaches replaces them
// (objects a force push left behind go with them). Any failure leaves the packs as they were.
void compact_packs(git_repository* repo, const fs::path& git_dir) {
  const fs::path dir = git_dir / "objects" / "pack";
  std::error_code ec;
  std::vector<fs::path> packs;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".pack") packs.push_back(entry.path());
  if (ec || packs.size() <= kMaxPacks) return;
  git_packbuilder* raw_builder = nullptr;
  if (git_packbuilder_new(&raw_builder, repo) != 0) return;
  std::unique_ptr<git_packbuilder, decltype(&git_packbuilder_free)> builder(raw_builder,
                                                                            git_packbuilder_free);
  git_revwalk* raw_walk = nullptr;
  if (git_revwalk_new(&raw_walk, repo) != 0) return;
  RevwalkPtr walk(raw_walk);
  if (git_revwalk_push_ref(walk.get(), kFetchedRef) != 0 ||
      git_packbuilder_insert_walk(builder.get(), walk.get()) != 0 ||
      git_packbuilder_write(builder.get(), dir.c_str(), 0, nullptr, nullptr) != 0)
    return;
  const std::string kept = "pack-" + std::string(git_packbuilder_name(builder.get())) + ".pack";
  for (fs::path pack : packs) {
    if (pack.filename() == kept) continue;
    // The index first: a reader that lists packs by their index never finds one without its data.
    for (const char* extension : {".idx", ".pack", ".rev"}) fs::remove(pack.replace_extension(extension), ec);
  }
}

// A fetch killed at its deadline can leave lock files behind; under the fetch lock nobody else owns them.
void remove_stale_locks(const fs::path& git_dir) {
  std::error_code ec;
  for (const char* name :
       {"refs/gitgate/head.lock", "packed-refs.lock", "config.lock", "HEAD.lock", "shallow.lock"})
    fs::remove(git_dir / name, ec);
  for (const auto& entry : fs::directory_iterator(git_dir / "objects" / "pack", ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("pack_git2_") || name.starts_with("tmp_")) fs::remove(entry.path(), ec);
  }
}

class FetchLock {
 public:
  explicit FetchLock(const fs::path& git_dir)
      : fd_(open((git_dir / "gitgate-fetch.lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600)) {}
  ~FetchLock() {
    if (fd_ >= 0) close(fd_);
  }
  FetchLock(const FetchLock&) = delete;
  FetchLock& operator=(const FetchLock&) = delete;
  // Blocks while another process fetches into the same cache; the parent's deadline bounds the wait.
  bool acquire() { return fd_ >= 0 && flock(fd_, LOCK_EX) == 0; }

 private:
  int fd_;
};

class Fetcher {
 public:
  explicit Fetcher(const FetchRequest& request) : request_(request) {}

  int run() {
    if (request_.standby) {
      ensure_libgit2();  // the slow part of a start (with exec and linking) is done before the wait
      char line[4] = {};
      size_t got = 0;
      while (got < 3) {
        ssize_t n = read(0, line + got, 3 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<size_t>(n);
      }
      if (std::string_view(line, got) != "go\n") return kFetchOk;  // not needed after all
    }
    if (request_.url.starts_with("oci://")) return run_oci();
    auto url = parse_remote_url(request_.url);
    if (!url) return report(kFetchUsage, url.error());
    ctx_.url = *url;
    ctx_.raw_url = request_.url;
    ctx_.credentials_dir = request_.credentials;
    int refs_named =
        !request_.branch.empty() + !request_.tag.empty() + !request_.semver.empty() + !request_.commit.empty();
    if (request_.git_dir.empty() || refs_named != 1)
      return report(kFetchUsage, "__fetch needs --git-dir, --url and one of --branch, --tag, --semver and --commit");
    git_oid pinned;
    bool commit = !request_.commit.empty();
    if (commit && (request_.commit.size() != GIT_OID_HEXSZ || git_oid_fromstr(&pinned, request_.commit.c_str()) != 0))
      return report(kFetchUsage, "commit '" + request_.commit + "' is not a commit id (40 hexadecimal digits)");
    ensure_libgit2();
    std::optional<semver::Constraint> constraint;
    if (!request_.semver.empty()) {
      auto parsed = semver::Constraint::parse(request_.semver);
      if (!parsed) return report(kFetchUsage, parsed.error());
      constraint = std::move(*parsed);
    }
    bool tag = !request_.tag.empty() || constraint;
    std::string what = commit                    ? "commit " + request_.commit
                       : !request_.semver.empty() ? "a tag matching semver '" + request_.semver + "'"
                       : tag                     ? "tag '" + request_.tag + "'"
                                                 : "branch '" + request_.branch + "'";
    std::string branch_ref = constraint || commit ? "" : tag ? "refs/tags/" + request_.tag : "refs/heads/" + request_.branch;
    int valid = 0;
    if (!constraint && !commit && (git_reference_name_is_valid(&valid, branch_ref.c_str()) != 0 || valid == 0))
      return report(kFetchUsage, what + " is not a valid name");
    auto credentials = Credentials::load(request_.credentials);
    if (!credentials) return report(kFetchFailed, credentials.error());
    ctx_.credentials = std::move(*credentials);
    if (ctx_.url.scheme == "ssh" && !ctx_.credentials.known_hosts)
      return report(kFetchFailed, "ssh:// sources need a known_hosts file in the credentials directory");
    if (!ctx_.credentials.ca.empty() &&
        git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, ctx_.credentials.ca.c_str(), nullptr) != 0)
      return report(kFetchFailed, "cannot use " + ctx_.credentials.ca + ": " + git_error_text(-1));

    fs::path git_dir(request_.git_dir);
    std::unique_ptr<FetchLock> lock;
    RepositoryPtr repo;
    if (int failed = open_cache(git_dir, lock, repo); failed != kFetchOk) return failed;
    // A commit never changes: once the cache holds it, no fetch is needed.
    if (commit && point_at(repo.get(), pinned)) return fetched_ok(pinned);

    git_remote* raw_remote = nullptr;
    if (int rc = git_remote_create_anonymous(&raw_remote, repo.get(), request_.url.c_str()); rc != 0)
      return report(kFetchFailed, git_error_text(rc));
    RemotePtr remote(raw_remote);

    git_remote_callbacks callbacks;
    git_remote_init_callbacks(&callbacks, GIT_REMOTE_CALLBACKS_VERSION);
    callbacks.credentials = on_credentials;
    callbacks.certificate_check = on_certificate;
    callbacks.transfer_progress = on_transfer;
    callbacks.payload = &ctx_;
    git_proxy_options proxy;
    git_proxy_options_init(&proxy, GIT_PROXY_OPTIONS_VERSION);
    proxy.type = GIT_PROXY_AUTO;

    if (int rc = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, &proxy, nullptr); rc != 0)
      return report(kFetchFailed, "cannot connect to " + ctx_.url.redacted + ": " + last_error(rc));
    const git_remote_head** heads = nullptr;
    size_t count = 0;
    if (int rc = git_remote_ls(&heads, &count, remote.get()); rc != 0)
      return report(kFetchFailed, last_error(rc));
    if (constraint) {
      // source-controller's resolution: the highest version among the remote's tags that the range allows.
      std::vector<std::string> tags;
      for (size_t i = 0; i < count; ++i) {
        std::string_view name = heads[i]->name;
        if (name.starts_with("refs/tags/") && !name.ends_with("^{}")) tags.emplace_back(name.substr(10));
      }
      auto best = semver::highest(*constraint, tags);
      if (!best) return report(kFetchBranchMissing, "no tag on " + ctx_.url.redacted + " matches semver '" +
                                                        request_.semver + "' (" + std::to_string(tags.size()) + " tags)");
      branch_ref = "refs/tags/" + tags[*best];
      what = "tag '" + tags[*best] + "'";
      if (git_reference_name_is_valid(&valid, branch_ref.c_str()) != 0 || valid == 0)
        return report(kFetchFailed, what + " is not a valid name");
    }
    if (commit) return fetch_commit(repo.get(), git_dir, remote.get(), heads, count, callbacks, proxy, pinned);
    const git_remote_head* branch = nullptr;
    for (size_t i = 0; i < count; ++i)
      if (branch_ref == heads[i]->name) branch = heads[i];
    if (branch == nullptr)
      return report(kFetchBranchMissing, what + " not found on " + ctx_.url.redacted);
    git_oid advertised = branch->oid;

    if (int failed = download(remote.get(), {"+" + branch_ref + ":" + kFetchedRef}, callbacks, proxy); failed != kFetchOk)
      return failed;
    git_oid fetched;
    if (int rc = git_reference_name_to_id(&fetched, repo.get(), kFetchedRef); rc != 0)
      return report(kFetchFailed,
                    "fetched, but " + std::string(kFetchedRef) + " is missing: " + git_error_text(rc));
    if (git_oid_cmp(&fetched, &advertised) != 0)
      return report(kFetchFailed,
                    "fetched " + oid_hex(fetched) + " but the remote advertised " + oid_hex(advertised));
    if (tag) {
      // An annotated tag names a tag object: the private ref holds the commit it points at, as a branch's does.
      git_object* raw_target = nullptr;
      if (int rc = git_revparse_single(&raw_target, repo.get(), (std::string(kFetchedRef) + "^{commit}").c_str());
          rc != 0)
        return report(kFetchFailed, what + " does not point at a commit: " + git_error_text(rc));
      fetched = *git_object_id(raw_target);
      git_object_free(raw_target);
      if (!point_at(repo.get(), fetched))
        return report(kFetchFailed, "cannot update " + std::string(kFetchedRef) + ": " + git_error_text(-1));
    }
    compact_packs(repo.get(), git_dir);
    if (constraint) {
      // Which tag the range resolved to, for the parent's citations (the private ref holds only the commit).
      if (!write_small(git_dir, kResolvedTagFile, branch_ref.substr(10)))
        return report(kFetchFailed, "cannot write " + (git_dir / kResolvedTagFile).string());
    }
    return fetched_ok(fetched);
  }

 private:
  // An OCI artifact (a Flux OCIRepository): pulled, unpacked and committed into the cache repository as one
  // parentless commit of its files, so that everything that reads other repositories reads it the same way.
  // The commit is a function of the artifact: its author is the artifact's source annotation, its time the
  // artifact's creation, its message the reference and digest; the same digest is never downloaded twice.
  int run_oci() {
    ctx_.raw_url = request_.url;
    ctx_.credentials_dir = request_.credentials;
    int refs_named = !request_.tag.empty() + !request_.semver.empty() + !request_.digest.empty();
    if (request_.git_dir.empty() || refs_named != 1 || !request_.branch.empty() || !request_.commit.empty())
      return report(kFetchUsage, "__fetch of an oci:// artifact needs --git-dir and one of --tag, --semver and --digest");
    auto reference = oci::parse_reference(request_.url);
    if (!reference) return report(kFetchUsage, reference.error());
    ctx_.url.redacted = request_.url;
    auto credentials = Credentials::load(request_.credentials);
    if (!credentials) return report(kFetchFailed, credentials.error());
    ctx_.credentials = std::move(*credentials);
    ensure_libgit2();
    fs::path git_dir(request_.git_dir);
    std::unique_ptr<FetchLock> lock;
    RepositoryPtr repo;
    if (int failed = open_cache(git_dir, lock, repo); failed != kFetchOk) return failed;

    oci::PullRequest pull;
    pull.tag = request_.tag;
    pull.semver = request_.semver;
    pull.digest = request_.digest;
    pull.credentials = {ctx_.credentials.username, ctx_.credentials.password, ctx_.credentials.token,
                        ctx_.credentials.ca};
    git_oid held;
    bool holds = git_reference_name_to_id(&held, repo.get(), kFetchedRef) == 0;
    if (holds) pull.known_digest = read_small(git_dir / kArtifactDigestFile);
    // An artifact pinned by digest never changes: once the cache holds it, the registry is not asked again.
    if (holds && !request_.digest.empty() && pull.known_digest == request_.digest) return fetched_ok(held);
    auto pulled = oci::pull(*reference, pull);
    if (!pulled) return report(kFetchFailed, pulled.error());
    if (!(pulled->unchanged && holds)) {
      auto committed = commit_artifact(repo.get(), *pulled);
      if (!committed) return report(kFetchFailed, committed.error());
      held = *committed;
      if (!point_at(repo.get(), held))
        return report(kFetchFailed, "cannot update " + std::string(kFetchedRef) + ": " + git_error_text(-1));
    }
    if (!write_small(git_dir, kArtifactDigestFile, pulled->digest) ||
        (!request_.semver.empty() && !pulled->tag.empty() && !write_small(git_dir, kResolvedTagFile, pulled->tag)))
      return report(kFetchFailed, "cannot write into " + git_dir.string());
    return fetched_ok(held);
  }

  // Opens the bare cache repository (created when missing) under the fetch lock, which `lock` then holds.
  int open_cache(const fs::path& git_dir, std::unique_ptr<FetchLock>& lock, RepositoryPtr& repo) {
    std::error_code ec;
    fs::create_directories(git_dir, ec);
    if (ec) return report(kFetchFailed, "cannot create " + git_dir.string() + ": " + ec.message());
    lock = std::make_unique<FetchLock>(git_dir);
    if (!lock->acquire()) return report(kFetchFailed, "cannot lock " + git_dir.string());
    remove_stale_locks(git_dir);
    git_repository* raw_repo = nullptr;
    if (git_repository_open_bare(&raw_repo, git_dir.c_str()) != 0 &&
        git_repository_init(&raw_repo, git_dir.c_str(), 1) != 0)
      return report(kFetchFailed,
                    "cannot create the cache repository " + git_dir.string() + ": " + git_error_text(-1));
    repo.reset(raw_repo);
    return kFetchOk;
  }

  static std::string read_small(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::string line;
    std::getline(in, line);
    return line.size() <= 255 ? line : "";
  }

  // Replaces git_dir/name atomically.
  static bool write_small(const fs::path& git_dir, const char* name, const std::string& content) {
    fs::path temp = git_dir / (std::string(name) + ".tmp");
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      out << content;
      if (!out) return false;
    }
    std::error_code ec;
    fs::rename(temp, git_dir / name, ec);
    return !ec;
  }

  Result<git_oid> commit_artifact(git_repository* repo, const oci::Pulled& pulled) {
    git_index* raw_index = nullptr;
    if (git_index_new(&raw_index) != 0) return Error{"cannot create an index: " + git_error_text(-1)};
    std::unique_ptr<git_index, decltype(&git_index_free)> index(raw_index, git_index_free);
    for (const auto& file : pulled.files) {
      git_index_entry entry{};
      entry.mode = file.executable ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
      entry.path = file.path.c_str();
      entry.file_size = static_cast<uint32_t>(file.content.size());
      if (int rc = git_blob_create_from_buffer(&entry.id, repo, file.content.data(), file.content.size()); rc != 0)
        return Error{"cannot store " + file.path + " of the artifact: " + git_error_text(rc)};
      if (int rc = git_index_add(index.get(), &entry); rc != 0)
        return Error{"cannot store " + file.path + " of the artifact: " + git_error_text(rc)};
    }
    git_oid tree_id;
    if (int rc = git_index_write_tree_to(&tree_id, index.get(), repo); rc != 0)
      return Error{"cannot store the artifact's tree: " + git_error_text(rc)};
    git_tree* raw_tree = nullptr;
    if (int rc = git_tree_lookup(&raw_tree, repo, &tree_id); rc != 0) return Error{git_error_text(rc)};
    std::unique_ptr<git_tree, decltype(&git_tree_free)> tree(raw_tree, git_tree_free);
    auto annotation = [&](const char* key) {
      auto it = pulled.annotations.find(key);
      return it == pulled.annotations.end() ? std::string() : it->second;
    };
    std::string source = annotation("org.opencontainers.image.source");
    std::string revision = annotation("org.opencontainers.image.revision");
    // The author is what the artifact says it was built from: its source, and the revision there ("main@sha1:…",
    // as `flux push artifact` writes it) in the e-mail's place.
    std::string who = source.empty() ? request_.url : source, what = revision.empty() ? pulled.digest : revision;
    for (std::string* text : {&who, &what})
      for (char& c : *text)
        if (c == '<' || c == '>' || c == '\n' || c == '\r') c = ' ';
    git_signature* raw_signature = nullptr;
    if (int rc = git_signature_new(&raw_signature, who.c_str(), what.c_str(), artifact_time(annotation("org.opencontainers.image.created")), 0);
        rc != 0)
      return Error{"cannot sign the artifact's commit: " + git_error_text(rc)};
    std::unique_ptr<git_signature, decltype(&git_signature_free)> signature(raw_signature, git_signature_free);
    std::string message = request_.url + (pulled.tag.empty() ? "" : ":" + pulled.tag) + "@" + pulled.digest + "\n";
    if (!source.empty() || !revision.empty()) message += "\nsource: " + source + "\nrevision: " + revision + "\n";
    git_oid commit_id;
    if (int rc = git_commit_create(&commit_id, repo, nullptr, signature.get(), signature.get(), "UTF-8",
                                   message.c_str(), tree.get(), 0, nullptr);
        rc != 0)
      return Error{"cannot store the artifact's commit: " + git_error_text(rc)};
    return commit_id;
  }

  // RFC 3339 "2024-05-01T10:20:30Z" (fractions and offsets as Go writes them) as seconds since the epoch; 0 when
  // absent or unreadable.
  static git_time_t artifact_time(const std::string& text) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr) return 0;
    git_time_t at = timegm(&tm);
    while (*end == '.' || (*end >= '0' && *end <= '9')) ++end;
    if ((*end == '+' || *end == '-') && std::strlen(end) == 6) {
      int offset = ((end[1] - '0') * 10 + (end[2] - '0')) * 3600 + ((end[4] - '0') * 10 + (end[5] - '0')) * 60;
      at += *end == '+' ? -offset : offset;
    }
    return at > 0 ? at : 0;
  }

  int fetched_ok(const git_oid& id) {
    std::printf("%s\n", oid_hex(id).c_str());
    return kFetchOk;
  }

  // Points the private ref at `id` when the cache holds that commit.
  static bool point_at(git_repository* repo, const git_oid& id) {
    git_commit* raw_commit = nullptr;
    if (git_commit_lookup(&raw_commit, repo, &id) != 0) return false;
    git_commit_free(raw_commit);
    git_reference* raw_ref = nullptr;
    if (git_reference_create(&raw_ref, repo, kFetchedRef, &id, 1, "gitgate fetch") != 0) return false;
    git_reference_free(raw_ref);
    return true;
  }

  // Downloads what `specs` name and updates the refs they write; kFetchOk, or the reported failure.
  int download(git_remote* remote, std::vector<std::string> specs, const git_remote_callbacks& callbacks,
               const git_proxy_options& proxy) {
    std::vector<char*> pointers;
    for (auto& spec : specs) pointers.push_back(spec.data());
    git_strarray refspecs{pointers.data(), pointers.size()};
    git_fetch_options options;
    git_fetch_options_init(&options, GIT_FETCH_OPTIONS_VERSION);
    options.callbacks = callbacks;
    options.proxy_opts = proxy;
    options.update_fetchhead = 0;
    options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    if (int rc = git_remote_download(remote, &refspecs, &options); rc != 0)
      return report(kFetchFailed, "fetch from " + ctx_.url.redacted + " failed: " + last_error(rc));
    if (int rc = git_remote_update_tips(remote, &callbacks, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, "gitgate fetch"); rc != 0)
      return report(kFetchFailed, "cannot update the fetched refs: " + last_error(rc));
    return kFetchOk;
  }

  // A commit, as source-controller and the repo-server check one out: fetched with the branch or tag whose tip
  // it is when one is, else with every branch and tag (libgit2 1.5 cannot ask a server for an object by id),
  // and found among what they reach. The refs that brought it are removed again; the private ref keeps it.
  int fetch_commit(git_repository* repo, const fs::path& git_dir, git_remote* remote, const git_remote_head** heads,
                   size_t count, const git_remote_callbacks& callbacks, const git_proxy_options& proxy,
                   const git_oid& pinned) {
    constexpr const char* kPinRefs = "refs/gitgate/pin/";
    std::vector<std::string> specs;
    for (size_t i = 0; i < count && specs.empty(); ++i) {
      std::string_view name = heads[i]->name;
      if (git_oid_equal(&heads[i]->oid, &pinned) && (name.starts_with("refs/heads/") || name.starts_with("refs/tags/")) &&
          !name.ends_with("^{}"))
        specs.push_back("+" + std::string(name) + ":" + kPinRefs + std::string(name.substr(5)));
    }
    if (specs.empty()) specs = {std::string("+refs/heads/*:") + kPinRefs + "heads/*", std::string("+refs/tags/*:") + kPinRefs + "tags/*"};
    if (int failed = download(remote, std::move(specs), callbacks, proxy); failed != kFetchOk) return failed;
    bool found = point_at(repo, pinned);
    git_reference_iterator* raw_iterator = nullptr;
    if (git_reference_iterator_glob_new(&raw_iterator, repo, (std::string(kPinRefs) + "*").c_str()) == 0) {
      std::vector<std::string> names;
      const char* name = nullptr;
      while (git_reference_next_name(&name, raw_iterator) == 0) names.emplace_back(name);
      git_reference_iterator_free(raw_iterator);
      for (const auto& n : names) git_reference_remove(repo, n.c_str());
    }
    if (!found)
      return report(kFetchBranchMissing, "commit " + request_.commit + " is not reachable from any branch or tag of " +
                                             ctx_.url.redacted + " (a force push may have dropped it)");
    compact_packs(repo, git_dir);
    return fetched_ok(pinned);
  }

  std::string last_error(int code) const { return ctx_.error.empty() ? git_error_text(code) : ctx_.error; }

  // One line on stderr, without the URL's userinfo or any credential.
  int report(int code, std::string message) {
    message = redact(std::move(message), ctx_.raw_url, ctx_.url);
    for (const auto* secret : {&ctx_.credentials.token, &ctx_.credentials.password}) {
      if (!*secret || (*secret)->empty()) continue;
      for (size_t pos = message.find(**secret); pos != std::string::npos; pos = message.find(**secret, pos))
        message.replace(pos, (*secret)->size(), "***");
    }
    for (char& c : message)
      if (c == '\n' || c == '\r') c = ' ';
    if (message.size() > kMaxErrorBytes) message.resize(kMaxErrorBytes);
    std::fprintf(stderr, "%s\n", message.c_str());
    return code;
  }

  const FetchRequest& request_;
  FetchContext ctx_;
};

}  // namespace

std::vector<std::string> fetch_child_argv(const std::string& program, const FetchRequest& request) {
  std::vector<std::string> argv{program, "__fetch", "--git-dir", request.git_dir, "--url", request.url};
  if (request.standby) argv.push_back("--standby");
  if (!request.digest.empty()) {
    argv.insert(argv.end(), {"--digest", request.digest});
  } else if (!request.commit.empty()) {
    argv.insert(argv.end(), {"--commit", request.commit});
  } else {
    argv.push_back(!request.semver.empty() ? "--semver" : request.tag.empty() ? "--branch" : "--tag");
    argv.push_back(!request.semver.empty() ? request.semver : request.tag.empty() ? request.branch : request.tag);
  }
  if (!request.credentials.empty()) {
    argv.push_back("--credentials");
    argv.push_back(request.credentials);
  }
  return argv;
}

int run_fetch_child(const FetchRequest& request) {
  return Fetcher(request).run();
}

}  // namespace gitgate::gitstate
