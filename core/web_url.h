// Links from a citation ("clusters/prod/shop/web.yaml:12 @ 3f2c1ab") to that line in the Git host's web
// UI. A policy names a template (`spec.source.webURL`) or one is derived from the remote URL of a known
// host; the engine expands it per declared object. A link never carries credentials: userinfo, queries
// and fragments of the remote are dropped, and a template that embeds them is refused.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace gitgate {

// Checks a template written in a policy: an http(s) URL with a host and no userinfo, placeholders only
// after the host and only {commit}, {path} and {line}, {commit} and {path} present, no query parameter
// named like a credential (token, access_token, private_token, password, secret, api_key, ...).
// Errors never repeat the template (it may hold a secret by mistake).
Status check_web_url_template(std::string_view tmpl);

// The template for a remote on github.com, gitlab.com, bitbucket.org or a Gitea/Forgejo host
// (codeberg.org, gitea.com, a host named gitea.* or forgejo.*; also self-hosted github.* and gitlab.*),
// from an https://, http://, ssh://, git:// or scp-like (git@host:org/repo.git) URL. Empty when the host
// is not recognised or the URL is not a remote (file://).
std::string derive_web_url_template(std::string_view remote_url);

// The link to `line` of `path` at `commit`: each path segment percent-encoded. Empty when the template is
// empty, `commit` is not a Git object id (40 or 64 lowercase hex digits: a working tree has none), or
// `path` is empty. Line 0 (unknown) drops a fragment that holds {line}; with {line} elsewhere, no link.
std::string expand_web_url(std::string_view tmpl, std::string_view commit, std::string_view path,
                           uint32_t line);

}  // namespace gitgate
