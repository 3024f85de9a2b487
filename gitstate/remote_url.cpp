#include "gitstate/remote_url.h"

#include <cctype>
#include <charconv>

namespace gitgate::gitstate {
namespace {

int default_port(std::string_view scheme) {
  if (scheme == "https") return 443;
  if (scheme == "http") return 80;
  if (scheme == "ssh") return 22;
  if (scheme == "git") return 9418;
  return 0;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

}  // namespace

Result<RemoteUrl> parse_remote_url(std::string_view url) {
  for (char c : url)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return Error{"the source URL contains control characters"};
  if (url.empty()) return Error{"the source URL is empty"};
  RemoteUrl out;
  auto scheme_end = url.find("://");
  std::string_view rest;
  if (scheme_end == std::string_view::npos) {
    // scp-like: [user@]host:path, which Git reads as ssh.
    auto colon = url.find(':');
    auto slash = url.find('/');
    if (colon == std::string_view::npos || (slash != std::string_view::npos && slash < colon))
      return Error{"the source URL '" + std::string(url) +
                   "' has no scheme: use file://, https://, ssh:// or user@host:path"};
    out.scheme = "ssh";
    std::string_view authority = url.substr(0, colon);
    auto at = authority.rfind('@');
    if (at != std::string_view::npos) {
      out.user = std::string(authority.substr(0, at));
      authority = authority.substr(at + 1);
    }
    if (out.user.find(':') != std::string::npos)
      return Error{"the source URL embeds a password; put credentials in the credentials directory instead"};
    out.host = std::string(authority);
    out.port = 22;
    out.redacted = out.host + std::string(url.substr(colon));
    if (out.host.empty()) return Error{"the source URL has no host"};
    return out;
  }
  out.scheme = std::string(url.substr(0, scheme_end));
  for (char& c : out.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  out.port = default_port(out.scheme);
  if (out.scheme != "file" && out.port == 0)
    return Error{"unsupported scheme '" + out.scheme +
                 "' in the source URL: use file://, https://, ssh:// or git://"};
  rest = url.substr(scheme_end + 3);
  if (rest.find_first_of("?#") != std::string_view::npos)
    return Error{
        "the source URL has a query or fragment; put credentials in the credentials directory instead"};
  if (out.scheme == "file") {
    out.redacted = std::string(url);
    return out;
  }
  std::string_view authority = rest.substr(0, rest.find('/'));
  auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    if (userinfo.find(':') != std::string_view::npos)
      return Error{"the source URL embeds a password; put credentials in the credentials directory instead"};
    out.user = std::string(userinfo);
    authority = authority.substr(at + 1);
  }
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos) return Error{"the source URL has an unterminated IPv6 address"};
    std::string_view after = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!after.empty()) {
      if (after.front() != ':') return Error{"the source URL has junk after the IPv6 address"};
      authority = after;
    } else {
      authority = {};
    }
  } else {
    auto colon = host.rfind(':');
    authority = colon == std::string_view::npos ? std::string_view{} : host.substr(colon);
    host = host.substr(0, colon);
  }
  if (!authority.empty()) {
    std::string_view digits = authority.substr(1);
    int port = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc() || end != digits.data() + digits.size() || port <= 0 || port > 65535)
      return Error{"the source URL has an invalid port"};
    out.port = port;
  }
  if (host.empty()) return Error{"the source URL has no host"};
  out.host = std::string(host);
  out.redacted = out.scheme + "://" + std::string(rest.substr(at == std::string_view::npos ? 0 : at + 1));
  return out;
}

std::string redact(std::string message, std::string_view url, const RemoteUrl& parsed) {
  replace_all(message, url, parsed.redacted);
  if (!parsed.user.empty()) replace_all(message, parsed.user + "@", "");
  return message;
}

}  // namespace gitgate::gitstate
