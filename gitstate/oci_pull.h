// Pulls a Flux OCI artifact (what `flux push artifact` pushes and an OCIRepository source pulls) from an OCI
// distribution registry and returns its files. Runs inside the killable `__fetch` child: calls block, and the
// parent's deadline bounds the time; sizes, counts, pages and redirects are bounded here.
//
// HTTPS through libcurl (verified against the system store, or `ca_file`; host name checked; proxies from the
// usual environment variables), plain HTTP only for loopback registries. Authentication follows the registry's 401 challenge:
//   Bearer realm=…   a token from the realm (service and scope as given), asked with Basic auth when
//                    credentials are set: username + password, or username (else "x-access-token") + token
//   Basic realm=…    Basic auth with the same pairs
//   anything else    a `token` without a username is sent as `Authorization: Bearer <token>`
// The Authorization header never follows a redirect to another host. Credentials never appear in errors.
//
// The layer (tar+gzip, as Flux writes it) is unpacked in memory: regular files are kept; directories are
// skipped; symlinks, hard links, devices and fifos are listed in `skipped`. A path that climbs out with ".."
// is an error. A layer Flux stored with `operation: copy` (not a tarball) is refused.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gitgate::gitstate::oci {

struct Reference {          // oci://host[:port]/repository/path
  std::string host;         // lower-case; an IPv6 address without its brackets
  int port = 0;             // 443 for https, 80 for http unless given
  std::string repository;   // "org/manifests/app": lower-case path components as the OCI spec allows
  bool plain_http = false;  // true for loopback hosts (localhost, 127.0.0.0/8, ::1), as docker and oras do
};

// Errors name the URL and say what is wrong with it (a tag or digest belongs in the request, not the URL).
Result<Reference> parse_reference(std::string_view url);

struct Credentials {
  std::optional<std::string> username, password, token;
  std::string ca_file;  // PEM CAs trusted instead of the system store; "" for the system store
};

struct PullRequest {
  std::string tag, semver, digest;  // exactly one set; digest is "sha256:<64 hex>"
  std::string media_type;           // the layer to extract; "" = the first layer (Flux's default)
  std::string known_digest;         // manifest digest already held: when the resolved manifest has it,
                                    // return unchanged=true without downloading the layer
  Credentials credentials;
  size_t max_blob_bytes = size_t{256} << 20;      // the compressed layer
  size_t max_unpacked_bytes = size_t{256} << 20;  // the inflated tar stream, headers included
  size_t max_files = 20000;                       // entries kept or skipped (directories are not counted)
};

struct File {
  std::string path;  // relative, normalised ("a/b.yaml"), unique within `files`
  std::string content;
  bool executable = false;  // any x bit in the entry's mode
};

struct Pulled {
  std::string tag;     // the tag resolved (for semver: the highest allowed tag; for digest: "")
  std::string digest;  // the manifest's digest, "sha256:…"
  std::map<std::string, std::string> annotations;  // the manifest's (org.opencontainers.image.source,
                                                   // .revision, .created)
  bool unchanged = false;                          // digest == known_digest: files left empty
  std::vector<File> files;           // in archive order; a later entry for a path replaced the earlier one
  std::vector<std::string> skipped;  // entries not extracted, each "path: why"
};

// Errors name the registry host and repository, the reference asked for, and what failed: the HTTP status
// with the registry's error code and message, a digest mismatch, a limit passed, a bad tar entry.
Result<Pulled> pull(const Reference& ref, const PullRequest& request);

}  // namespace gitgate::gitstate::oci
