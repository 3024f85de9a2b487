#include "core/web_url.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <optional>

namespace gitgate {
namespace {

constexpr size_t kMaxTemplateLength = 4096;
constexpr std::string_view kCommit = "{commit}";
constexpr std::string_view kPath = "{path}";
constexpr std::string_view kLine = "{line}";

// Query parameters by which hosts take credentials; a link in a denial message is read by whoever was
// denied, so a template must not carry one.
constexpr std::array<std::string_view, 11> kCredentialParameters{
    "token",  "access_token", "private_token", "oauth_token", "password", "passwd",
    "secret", "api_key",      "apikey",        "auth",        "key"};

bool is_control_or_space(char c) {
  auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lowercase(s.substr(0, prefix.size())) == prefix;
}

bool is_unreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// Percent-encodes every byte but unreserved ones and '/': a file name from Git can hold anything, and
// must neither end the URL ('#', '?'), nor read as a placeholder ('{'), nor break out of an attribute.
void append_encoded_path(std::string& out, std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : path) {
    auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || c == '/') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
}

bool is_object_id(std::string_view id) {
  return (id.size() == 40 || id.size() == 64) && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

struct Remote {
  std::string scheme;  // the web scheme: https, or http for an http:// remote
  std::string host;    // lowercase
  std::string port;    // kept for http(s) remotes only: an ssh port is not the web server's
  std::string path;    // "org/repo", without ".git" and slashes at either end
};

std::optional<Remote> split_remote(std::string_view url) {
  if (url.empty() || std::any_of(url.begin(), url.end(), is_control_or_space)) return std::nullopt;
  Remote out;
  std::string_view authority, path;
  bool web_port = false;
  if (auto sep = url.find("://"); sep != std::string_view::npos) {
    std::string scheme = lowercase(url.substr(0, sep));
    if (scheme == "https" || scheme == "http") {
      out.scheme = scheme;
      web_port = true;
    } else if (scheme == "ssh" || scheme == "git" || scheme == "git+ssh" || scheme == "ssh+git") {
      out.scheme = "https";
    } else {
      return std::nullopt;  // file:// and the like have no web UI
    }
    std::string_view rest = url.substr(sep + 3);
    rest = rest.substr(0, rest.find_first_of("?#"));  // a query or fragment may hold a token
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  } else {
    // scp-like "[user@]host:path", which Git reads as ssh.
    auto colon = url.find(':');
    auto slash = url.find('/');
    if (colon == std::string_view::npos || (slash != std::string_view::npos && slash < colon))
      return std::nullopt;
    out.scheme = "https";
    authority = url.substr(0, colon);
    path = url.substr(colon + 1);
  }
  if (auto at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (authority.empty() || authority.front() == '[') return std::nullopt;
  if (auto colon = authority.find(':'); colon != std::string_view::npos) {
    std::string_view port = authority.substr(colon + 1);
    if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    if (web_port) out.port = std::string(port);
    authority = authority.substr(0, colon);
  }
  out.host = lowercase(authority);
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.ends_with(".git")) path.remove_suffix(4);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.path = std::string(path);
  return out;
}

size_t segments(std::string_view path) {
  if (path.empty()) return 0;
  size_t n = 1;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '/') continue;
    if (i + 1 < path.size() && path[i + 1] == '/') return 0;  // an empty segment: not a repository path
    ++n;
  }
  return n;
}

enum class Forge { None, GitHub, GitLab, Bitbucket, Gitea };

// Recognises the host; the well-known ones are normalised to their web host (ssh.github.com serves SSH
// on port 443 for github.com).
Forge forge_of(std::string& host) {
  struct Known {
    std::string_view host;
    std::string_view web;
    Forge forge;
  };
  static constexpr Known kKnown[] = {{"github.com", "github.com", Forge::GitHub},
                                     {"www.github.com", "github.com", Forge::GitHub},
                                     {"ssh.github.com", "github.com", Forge::GitHub},
                                     {"gitlab.com", "gitlab.com", Forge::GitLab},
                                     {"www.gitlab.com", "gitlab.com", Forge::GitLab},
                                     {"altssh.gitlab.com", "gitlab.com", Forge::GitLab},
                                     {"bitbucket.org", "bitbucket.org", Forge::Bitbucket},
                                     {"www.bitbucket.org", "bitbucket.org", Forge::Bitbucket},
                                     {"altssh.bitbucket.org", "bitbucket.org", Forge::Bitbucket},
                                     {"codeberg.org", "codeberg.org", Forge::Gitea},
                                     {"gitea.com", "gitea.com", Forge::Gitea}};
  for (const auto& k : kKnown) {
    if (host == k.host) {
      host = k.web;
      return k.forge;
    }
  }
  std::string_view label = std::string_view(host).substr(0, host.find('.'));
  if (label == host) return Forge::None;  // a bare name: no way to tell
  if (label == "gitea" || label == "forgejo") return Forge::Gitea;
  if (label == "github") return Forge::GitHub;  // GitHub Enterprise Server
  if (label == "gitlab") return Forge::GitLab;  // self-managed GitLab
  return Forge::None;
}

}  // namespace

Status check_web_url_template(std::string_view tmpl) {
  if (tmpl.empty())
    return Error{"empty template (leave webURL out to derive it, or give a URL with {commit} and {path})"};
  if (tmpl.size() > kMaxTemplateLength) return Error{"template longer than 4096 characters"};
  if (std::any_of(tmpl.begin(), tmpl.end(), is_control_or_space))
    return Error{"template contains whitespace or control characters"};
  std::string_view rest;
  if (starts_with_nocase(tmpl, "https://")) {
    rest = tmpl.substr(8);
  } else if (starts_with_nocase(tmpl, "http://")) {
    rest = tmpl.substr(7);
  } else {
    return Error{"template must start with https:// (or http://)"};
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos)
    return Error{
        "template embeds credentials (https://***@...): the link is shown to everyone who is denied"};
  if (authority.find_first_of("{}") != std::string_view::npos)
    return Error{"placeholders belong after the host, in the path, query or fragment"};
  if (authority.empty()) return Error{"template has no host"};

  bool commit = false, path = false;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '}') return Error{"unmatched '}' (placeholders are {commit}, {path} and {line})"};
    if (tmpl[i] != '{') continue;
    std::string_view at = tmpl.substr(i);
    if (at.starts_with(kCommit)) {
      commit = true;
      i += kCommit.size() - 1;
    } else if (at.starts_with(kPath)) {
      path = true;
      i += kPath.size() - 1;
    } else if (at.starts_with(kLine)) {
      i += kLine.size() - 1;
    } else {
      auto close = at.find('}');
      std::string name(
          at.substr(0, close == std::string_view::npos ? at.size() : std::min<size_t>(close + 1, 32)));
      return Error{"unknown placeholder '" + name + "' (use {commit}, {path} and {line})"};
    }
  }
  if (!commit || !path) return Error{"template must hold {commit} and {path} (and usually {line})"};

  if (auto q = tmpl.find('?'); q != std::string_view::npos) {
    std::string_view query = tmpl.substr(q + 1);
    query = query.substr(0, query.find('#'));
    while (!query.empty()) {
      std::string_view parameter = query.substr(0, query.find('&'));
      std::string name = lowercase(parameter.substr(0, parameter.find('=')));
      if (std::find(kCredentialParameters.begin(), kCredentialParameters.end(), name) !=
          kCredentialParameters.end())
        return Error{"template carries a credential in its query ('" + name +
                     "='): the link is shown to everyone who is denied"};
      query.remove_prefix(std::min(query.size(), parameter.size() + 1));
    }
  }
  return Status::Ok();
}

std::string derive_web_url_template(std::string_view remote_url) {
  auto remote = split_remote(remote_url);
  if (!remote) return {};
  Forge forge = forge_of(remote->host);
  const size_t n = segments(remote->path);
  const bool owner_and_repo = n == 2;
  std::string base = remote->scheme + "://" + remote->host;
  if (!remote->port.empty() && remote->port != (remote->scheme == "https" ? "443" : "80"))
    base += ":" + remote->port;
  base += '/';
  append_encoded_path(base, remote->path);
  switch (forge) {
    case Forge::GitHub:
      if (!owner_and_repo) return {};
      return base + "/blob/{commit}/{path}#L{line}";
    case Forge::GitLab:
      if (n < 2) return {};  // groups nest: group/subgroup/project
      return base + "/-/blob/{commit}/{path}#L{line}";
    case Forge::Bitbucket:
      if (!owner_and_repo) return {};
      return base + "/src/{commit}/{path}#lines-{line}";
    case Forge::Gitea:
      if (!owner_and_repo) return {};
      return base + "/src/commit/{commit}/{path}#L{line}";
    case Forge::None:
      break;
  }
  return {};
}

std::string expand_web_url(std::string_view tmpl, std::string_view commit, std::string_view path,
                           uint32_t line) {
  if (tmpl.empty() || path.empty() || !is_object_id(commit)) return {};
  if (line == 0) {
    auto at = tmpl.find(kLine);
    if (at != std::string_view::npos) {
      auto hash = tmpl.find('#');
      if (hash == std::string_view::npos || hash > at) return {};
      tmpl = tmpl.substr(0, hash);
    }
  }
  std::string out;
  out.reserve(tmpl.size() + commit.size() + path.size() * 2);
  for (size_t i = 0; i < tmpl.size(); ++i) {
    std::string_view at = tmpl.substr(i);
    if (at.starts_with(kCommit)) {
      out += commit;
      i += kCommit.size() - 1;
    } else if (at.starts_with(kPath)) {
      append_encoded_path(out, path);
      i += kPath.size() - 1;
    } else if (at.starts_with(kLine)) {
      out += std::to_string(line);
      i += kLine.size() - 1;
    } else {
      out += tmpl[i];
    }
  }
  return out;
}

}  // namespace gitgate
