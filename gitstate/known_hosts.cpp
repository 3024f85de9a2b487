#include "gitstate/known_hosts.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace gitgate::gitstate {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> split_whitespace(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// OpenSSH wildcard match: '*' any run, '?' one character.
bool wildcard_match(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool hashed_match(std::string_view entry, std::string_view name) {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  std::string_view rest = entry.substr(3);
  auto bar = rest.find('|');
  if (bar == std::string_view::npos) return false;
  auto salt = decode_base64(rest.substr(0, bar));
  auto expected = decode_base64(rest.substr(bar + 1));
  if (!salt || !expected || expected->size() != 20) return false;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha1(), salt->data(), static_cast<int>(salt->size()),
           reinterpret_cast<const unsigned char*>(name.data()), name.size(), mac, &mac_len) == nullptr)
    return false;
  return mac_len == 20 && std::equal(expected->begin(), expected->end(), reinterpret_cast<const char*>(mac));
}

// Does the host-pattern field name `name`? Some pattern matches and no negated one does.
bool hosts_match(std::string_view field, std::string_view name) {
  if (field.starts_with("|1|")) return hashed_match(field, name);
  bool matched = false;
  size_t pos = 0;
  while (pos <= field.size()) {
    size_t end = field.find(',', pos);
    if (end == std::string_view::npos) end = field.size();
    std::string_view pattern = field.substr(pos, end - pos);
    pos = end + 1;
    bool negated = pattern.starts_with("!");
    if (negated) pattern.remove_prefix(1);
    if (pattern.empty() || !wildcard_match(lower(pattern), name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone trailing character
  return out;
}

HostKeyVerdict check_host_key(std::string_view known_hosts, std::string_view host, int port,
                              std::string_view key_blob) {
  std::string name = lower(host);
  if (port != 22 && port != 0) {
    name.insert(name.begin(), '[');
    name += "]:";
    name += std::to_string(port);
  }
  bool known = false, trusted = false;
  size_t pos = 0;
  while (pos < known_hosts.size()) {
    size_t end = known_hosts.find('\n', pos);
    if (end == std::string_view::npos) end = known_hosts.size();
    std::string_view line = known_hosts.substr(pos, end - pos);
    pos = end + 1;
    auto fields = split_whitespace(line);
    if (fields.empty() || fields[0].starts_with("#")) continue;
    std::string_view marker;
    if (fields[0].starts_with("@")) {
      marker = fields[0];
      fields.erase(fields.begin());
    }
    if (fields.size() < 3 || !hosts_match(fields[0], name)) continue;
    auto blob = decode_base64(fields[2]);
    bool same_key = blob && *blob == key_blob;
    if (marker == "@revoked") {
      if (same_key) return HostKeyVerdict::Revoked;
      continue;
    }
    if (!marker.empty()) continue;  // @cert-authority: certificates are not supported
    known = true;
    trusted = trusted || same_key;
  }
  if (trusted) return HostKeyVerdict::Trusted;
  return known ? HostKeyVerdict::Mismatch : HostKeyVerdict::Unknown;
}

}  // namespace gitgate::gitstate
