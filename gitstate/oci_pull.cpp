#include "gitstate/oci_pull.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/semver.h"
#include "desired/helm/chart_archive.h"

namespace gitgate::gitstate::oci {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxManifestBytes = size_t{4} << 20;  // the distribution spec's limit for a manifest
constexpr size_t kMaxTagPageBytes = size_t{8} << 20;
constexpr size_t kMaxTokenBytes = size_t{1} << 20;
constexpr size_t kMaxErrorBodyBytes = 64 * 1024;  // an error or redirect body: only a snippet is shown
constexpr int kMaxRedirects = 5;
constexpr int kMaxTagPages = 100;
constexpr size_t kMaxTags = 100000;
constexpr size_t kSnippetBytes = 200;

constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";

// ---- Small text helpers ----

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool starts_with_nocase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && lower(text.substr(0, prefix.size())) == prefix;
}

// `text` safe to show in one line of error: control characters replaced, cut at `limit`.
std::string printable(std::string_view text, size_t limit = kSnippetBytes) {
  std::string out;
  for (char c : text.substr(0, limit)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  if (text.size() > limit) out += "…";
  return out;
}

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_digest(std::string_view text) {
  return text.size() == 71 && text.starts_with("sha256:") && is_lower_hex(text.substr(7));
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// The distribution spec's tag grammar: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
bool is_tag(std::string_view text) {
  if (text.empty() || text.size() > 128 || !(is_alnum(text[0]) || text[0] == '_')) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

// A header value we send: visible ASCII only, so nothing can split the request.
bool is_header_safe(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string sha256_digest(std::string_view data) {
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), hash, &length, EVP_sha256(), nullptr) != 1) return "sha256:?";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[hash[i] >> 4];
    out += kHex[hash[i] & 15];
  }
  return out;
}

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int length =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(data.size()));
  out.resize(length > 0 ? static_cast<size_t>(length) : 0);
  return out;
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[static_cast<unsigned char>(c) >> 4];
      out += kHex[static_cast<unsigned char>(c) & 15];
    }
  }
  return out;
}

bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

bool is_ip_literal(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

// A DNS name or an IPv4 address: letters, digits, '-' and '.', no empty label.
bool is_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.back() == '.' ||
      host.find("..") != std::string_view::npos)
    return false;
  return std::all_of(host.begin(), host.end(), [](char c) { return is_alnum(c) || c == '-' || c == '.'; });
}

std::optional<int> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  int port = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

// One path component of an OCI repository name: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*.
bool is_repository_component(std::string_view part) {
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (part.empty() || !lower_alnum(part.front()) || !lower_alnum(part.back())) return false;
  for (size_t i = 0; i < part.size();) {
    if (lower_alnum(part[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < part.size() && !lower_alnum(part[end])) ++end;
    std::string_view separator = part.substr(i, end - i);
    bool dashes = separator.find_first_not_of('-') == std::string_view::npos;
    if (separator != "." && separator != "_" && separator != "__" && !dashes) return false;
    i = end;
  }
  return true;
}

// host[:port] as it goes into a URL or a Host header (an IPv6 address in brackets).
std::string authority(const std::string& host, int port, int default_port) {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != default_port) out += ":" + std::to_string(port);
  return out;
}

// ---- URLs the registry hands us (redirects, token realms, pagination links) ----

struct Location {
  bool https = true;
  std::string host;  // lower-case, an IPv6 address without brackets
  int port = 443;
  std::string target = "/";  // path and query

  bool same_origin(const Location& other) const {
    return https == other.https && host == other.host && port == other.port;
  }
  std::string host_header() const { return authority(host, port, https ? 443 : 80); }
  // For messages: without the query, which may carry a signature (pre-signed blob URLs do).
  std::string shown() const {
    return (https ? "https://" : "http://") + host_header() + printable(target.substr(0, target.find('?')));
  }
};

// A URL for messages: without its query, which may carry a signature.
std::string shown_url(std::string_view url) { return printable(url.substr(0, url.find('?'))); }

Result<Location> parse_location(std::string_view url) {
  Location at;
  if (starts_with_nocase(url, "https://")) {
    url.remove_prefix(8);
  } else if (starts_with_nocase(url, "http://")) {
    at.https = false;
    at.port = 80;
    url.remove_prefix(7);
  } else {
    return Error{"'" + shown_url(url) + "' is not an http(s) URL"};
  }
  url = url.substr(0, url.find('#'));
  size_t end = std::min(url.find('/'), url.find('?'));
  std::string_view host_port = url.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view{} : url.substr(end);
  if (host_port.find('@') != std::string_view::npos) return Error{"a URL with credentials in it is refused"};
  std::string_view port_text;
  if (host_port.starts_with('[')) {
    size_t close = host_port.find(']');
    if (close == std::string_view::npos) return Error{"'" + shown_url(url) + "' has an unclosed '['"};
    at.host = lower(host_port.substr(1, close - 1));
    if (close + 1 < host_port.size()) {
      if (host_port[close + 1] != ':') return Error{"'" + shown_url(url) + "' is not a URL"};
      port_text = host_port.substr(close + 2);
    }
    if (!is_ip_literal(at.host)) return Error{"'" + shown_url(url) + "' has a bad IPv6 address"};
  } else {
    size_t colon = host_port.find(':');
    at.host = lower(host_port.substr(0, colon));
    if (colon != std::string_view::npos) port_text = host_port.substr(colon + 1);
    if (!is_host_name(at.host)) return Error{"'" + shown_url(url) + "' has no valid host"};
  }
  if (!port_text.empty()) {
    auto port = parse_port(port_text);
    if (!port) return Error{"'" + shown_url(url) + "' has a bad port"};
    at.port = *port;
  }
  at.target = rest.empty() ? "/" : rest.starts_with('?') ? "/" + std::string(rest) : std::string(rest);
  if (!is_header_safe(at.target)) return Error{"'" + shown_url(url) + "' has characters a URL cannot hold"};
  return at;
}

// `reference` (an absolute URL, "//host/…", "/path" or a relative path) against `base`.
Result<Location> resolve(const Location& base, std::string_view reference) {
  if (starts_with_nocase(reference, "http://") || starts_with_nocase(reference, "https://"))
    return parse_location(reference);
  if (reference.starts_with("//"))
    return parse_location((base.https ? "https:" : "http:") + std::string(reference));
  Location at = base;
  if (reference.starts_with('/')) {
    at.target = std::string(reference);
  } else {
    std::string path = base.target.substr(0, base.target.find('?'));
    at.target = path.substr(0, path.rfind('/') + 1) + std::string(reference);
  }
  at.target = at.target.substr(0, at.target.find('#'));
  if (at.target.empty() || !is_header_safe(at.target))
    return Error{"'" + shown_url(reference) + "' is not a usable URL"};
  return at;
}

// ---- One GET, through libcurl ----

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names; repeated headers joined with ", "
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

// libcurl does the transport (TLS verified against the system store or the CA file, proxies from the
// environment); redirects and authentication stay here, where the Authorization header is kept from other hosts.
class HttpClient {
 public:
  explicit HttpClient(const std::string& ca_file) : ca_file_(ca_file) {
    static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (initialised) curl_ = curl_easy_init();
  }
  ~HttpClient() {
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
  }
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GET `at`, a 2xx body at most `max_body` bytes (else an error); other bodies are cut to a snippet's worth.
  Result<Reply> get(const Location& at, const Headers& headers, size_t max_body) {
    const std::string what = "GET " + at.shown();
    if (curl_ == nullptr) return Error{what + ": libcurl could not be initialised"};
    Transfer transfer{curl_, max_body, {}, {}};
    std::string url = std::string(at.https ? "https://" : "http://") + at.host_header() + at.target;
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> list(nullptr, curl_slist_free_all);
    for (const auto& [name, value] : headers)
      list.reset(curl_slist_append(list.release(), (name + ": " + value).c_str()));
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "gitgate");
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list.get());
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!ca_file_.empty()) curl_easy_setopt(curl_, CURLOPT_CAINFO, ca_file_.c_str());
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &transfer);
    char detail[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, detail);
    CURLcode rc = curl_easy_perform(curl_);
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    transfer.reply.status = static_cast<int>(status);
    if (transfer.too_large) return Error{what + ": the response is larger than " + std::to_string(max_body) + " bytes"};
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
      return Error{"the TLS certificate of " + at.host_header() + " is not trusted (" + printable(detail) + ") by " +
                   (ca_file_.empty() ? "the system store (set a CA file to trust a private CA)" : ca_file_)};
    if (rc == CURLE_COULDNT_RESOLVE_HOST) return Error{"cannot resolve " + at.host};
    if (rc == CURLE_COULDNT_CONNECT)
      return Error{"cannot connect to " + at.host_header() + ": " + printable(detail[0] ? detail : curl_easy_strerror(rc))};
    if (rc != CURLE_OK && (transfer.reply.status / 100 == 2 || transfer.reply.status == 0))
      return Error{what + ": " + printable(detail[0] ? detail : curl_easy_strerror(rc))};
    return std::move(transfer.reply);
  }

 private:
  struct Transfer {
    CURL* curl;
    size_t max_body;
    Reply reply;
    std::string headers_bytes;
    bool too_large = false;
  };

  // A header line; a new status line (after a 100 Continue or a proxy's CONNECT) starts over.
  static size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    std::string_view line(data, size * count);
    t.headers_bytes += line;
    if (t.headers_bytes.size() > kMaxHeaderBytes) return 0;
    if (line.starts_with("HTTP/")) {
      t.reply.headers.clear();
      return line.size();
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return line.size();
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
    std::string& slot = t.reply.headers[lower(line.substr(0, colon))];
    slot += (slot.empty() ? "" : ", ") + std::string(value);
    return line.size();
  }

  // The body, bounded: a 2xx past its limit fails the transfer; other bodies keep only a snippet's worth.
  static size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    size_t n = size * count;
    long status = 0;
    curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &status);
    bool success = status / 100 == 2;
    size_t limit = success ? t.max_body : kMaxErrorBodyBytes;
    if (t.reply.body.size() + n > limit) {
      if (success) {
        t.too_large = true;
        return 0;
      }
      t.reply.body.append(data, limit - t.reply.body.size());
      return n;
    }
    t.reply.body.append(data, n);
    return n;
  }

  std::string ca_file_;
  CURL* curl_ = nullptr;
};

// ---- The registry's side: challenges, tokens, redirects ----

struct Challenge {
  std::string scheme;                         // lower-case: "bearer", "basic"
  std::map<std::string, std::string> params;  // lower-case names
};

// The first challenge of a WWW-Authenticate header: `Bearer realm="…",service="…",scope="…"`.
Challenge parse_challenge(std::string_view header) {
  Challenge challenge;
  size_t at = header.find_first_not_of(' ');
  if (at == std::string_view::npos) return challenge;
  size_t end = std::min(header.find(' ', at), header.size());
  challenge.scheme = lower(header.substr(at, end - at));
  at = end;
  auto is_token = [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; };
  while (at < header.size()) {
    while (at < header.size() && (header[at] == ' ' || header[at] == ',')) ++at;
    size_t key_end = at;
    while (key_end < header.size() && is_token(header[key_end])) ++key_end;
    size_t equals = key_end;
    while (equals < header.size() && header[equals] == ' ') ++equals;
    if (key_end == at || equals >= header.size() || header[equals] != '=') break;  // the next challenge
    std::string key = lower(header.substr(at, key_end - at));
    at = equals + 1;
    while (at < header.size() && header[at] == ' ') ++at;
    std::string value;
    if (at < header.size() && header[at] == '"') {
      for (++at; at < header.size() && header[at] != '"'; ++at) {
        if (header[at] == '\\' && at + 1 < header.size()) ++at;
        value += header[at];
      }
      ++at;
    } else {
      while (at < header.size() && header[at] != ',' && header[at] != ' ') value += header[at++];
    }
    challenge.params[key] = std::move(value);
  }
  return challenge;
}

// "CODE: message" from the registry's error JSON (`{"errors":[{"code":…,"message":…}]}`), else a snippet.
std::string registry_says(const Reply& reply) {
  auto body = json::parse(reply.body, nullptr, false);
  if (body.is_object()) {
    auto errors = body.find("errors");
    if (errors != body.end() && errors->is_array() && !errors->empty() && (*errors)[0].is_object()) {
      const json& first = (*errors)[0];
      std::string code =
          first.contains("code") && first["code"].is_string() ? first["code"].get<std::string>() : "";
      std::string message = first.contains("message") && first["message"].is_string()
                                ? first["message"].get<std::string>()
                                : "";
      return printable(code + (code.empty() || message.empty() ? "" : ": ") + message);
    }
  }
  std::string text = reply.body.substr(0, reply.body.find_first_of("\r\n"));
  return printable(text);
}

class Registry {
 public:
  Registry(const Reference& ref, const Credentials& credentials)
      : http_(credentials.ca_file), credentials_(credentials), repository_(ref.repository) {
    base_.https = !ref.plain_http;
    base_.host = ref.host;
    base_.port = ref.port;
    for (const auto* secret : {&credentials.password, &credentials.token})
      if (*secret && !(*secret)->empty()) secrets_.push_back(**secret);
  }

  const Location& base() const { return base_; }

  // GET `target` ("/v2/…") on the registry, answering its 401 challenge once per call.
  Result<Reply> get(const std::string& target, const std::string& accept, size_t max_body) {
    Location at = base_;
    at.target = target;
    auto reply = follow(at, accept, authorization_, max_body);
    if (!reply || reply->status != 401) return reply;
    auto answered = answer(*reply);
    if (!answered) return std::move(answered).take_error();
    if (!*answered) return reply;
    return follow(at, accept, authorization_, max_body);
  }

  // What a non-2xx reply means, for a message: "HTTP 404 (MANIFEST_UNKNOWN: manifest unknown)".
  std::string failure(const Reply& reply) const {
    std::string says = registry_says(reply);
    std::string out = "HTTP " + std::to_string(reply.status) + (says.empty() ? "" : " (" + says + ")");
    if (reply.status == 401)
      out +=
          has_credentials() ? ": the registry refused the credentials" : ": the registry needs credentials";
    if (reply.status == 403) out += ": access denied";
    return out;
  }

  // `message` without any secret this registry was given or handed out.
  std::string redact(std::string message) const {
    for (const auto& secret : secrets_)
      for (size_t pos = message.find(secret); pos != std::string::npos; pos = message.find(secret, pos))
        message.replace(pos, secret.size(), "***");
    return message;
  }

 private:
  bool has_credentials() const {
    return credentials_.token || (credentials_.username && credentials_.password);
  }

  // user:password for Basic auth: the password, else the token (the user "x-access-token" when none is
  // given).
  std::optional<std::string> basic_credentials() const {
    if (credentials_.username && credentials_.password)
      return *credentials_.username + ":" + *credentials_.password;
    if (credentials_.token)
      return credentials_.username.value_or("x-access-token") + ":" + *credentials_.token;
    return std::nullopt;
  }

  // GET, following at most kMaxRedirects redirects. `authorization` goes only to the origin of `at`:
  // registries redirect blobs to storage hosts that must not see it.
  Result<Reply> follow(Location at, const std::string& accept, const std::string& authorization,
                       size_t max_body) {
    const Location origin = at;
    for (int redirects = 0;; ++redirects) {
      Headers headers;
      if (!accept.empty()) headers.emplace_back("Accept", accept);
      if (!authorization.empty() && at.same_origin(origin))
        headers.emplace_back("Authorization", authorization);
      auto reply = http_.get(at, headers, max_body);
      if (!reply) return reply;
      int status = reply->status;
      if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308) return reply;
      if (redirects == kMaxRedirects)
        return Error{"GET " + origin.shown() + ": more than " + std::to_string(kMaxRedirects) + " redirects"};
      std::string location = reply->header("location");
      if (location.empty())
        return Error{"GET " + at.shown() + ": HTTP " + std::to_string(status) + " without a Location"};
      auto next = resolve(at, location);
      if (!next) return Error{"GET " + at.shown() + ": redirected to " + next.error()};
      if (at.https && !next->https && !is_loopback(next->host))
        return Error{"GET " + at.shown() + ": refusing a redirect from https to " + next->shown()};
      at = std::move(*next);
    }
  }

  // Sets the Authorization header the challenge in `reply` asks for; false when there is nothing new to send.
  Result<bool> answer(const Reply& reply) {
    Challenge challenge = parse_challenge(reply.header("www-authenticate"));
    std::string next;
    if (challenge.scheme == "bearer" && challenge.params.contains("realm")) {
      auto token = fetch_token(challenge);
      if (!token) return std::move(token).take_error();
      next = "Bearer " + *token;
    } else if (challenge.scheme == "basic") {
      auto pair = basic_credentials();
      if (!pair) return false;
      next = "Basic " + base64(*pair);
    } else if (credentials_.token && !credentials_.username) {
      next = "Bearer " + *credentials_.token;
    } else {
      return false;
    }
    if (!is_header_safe(next.substr(next.find(' ') + 1)))
      return Error{"the credentials hold characters an HTTP header cannot carry"};
    if (next == authorization_) return false;  // refused already
    authorization_ = std::move(next);
    secrets_.push_back(authorization_.substr(authorization_.find(' ') + 1));
    return true;
  }

  // The distribution token flow: GET realm?service=…&scope=…, Basic auth when credentials are set.
  Result<std::string> fetch_token(const Challenge& challenge) {
    const std::string& realm_text = challenge.params.at("realm");
    auto realm = parse_location(realm_text);
    if (!realm) return Error{"the registry's token realm: " + realm.error()};
    if (!realm->https && !is_loopback(realm->host))
      return Error{"the registry's token realm " + realm->shown() + " is plain http: refused"};
    std::string query;
    auto add = [&](const std::string& name, const std::string& value) {
      query += (query.empty() ? "" : "&") + name + "=" + percent_encode(value);
    };
    if (auto it = challenge.params.find("service"); it != challenge.params.end()) add("service", it->second);
    auto scope = challenge.params.find("scope");
    std::string scopes =
        scope != challenge.params.end() ? scope->second : "repository:" + repository_ + ":pull";
    for (size_t at = 0; at < scopes.size();) {
      size_t end = std::min(scopes.find(' ', at), scopes.size());
      if (end > at) add("scope", scopes.substr(at, end - at));
      at = end + 1;
    }
    realm->target += (realm->target.find('?') == std::string::npos ? "?" : "&") + query;
    auto pair = basic_credentials();
    auto reply = follow(*realm, "application/json", pair ? "Basic " + base64(*pair) : "", kMaxTokenBytes);
    if (!reply) return Error{"token request: " + reply.error()};
    if (reply->status != 200) {
      std::string out = "the token service " + realm->shown() + " answered " + failure(*reply);
      if (reply->status == 401 && !has_credentials()) out += " (none are set)";
      return Error{out};
    }
    auto body = json::parse(reply->body, nullptr, false);
    for (const char* key : {"token", "access_token"}) {
      if (body.is_object() && body.contains(key) && body[key].is_string() &&
          !body[key].get<std::string>().empty()) {
        std::string token = body[key].get<std::string>();
        secrets_.push_back(token);
        if (!is_header_safe(token))
          return Error{"the token service " + realm->shown() + " sent an unusable token"};
        return token;
      }
    }
    return Error{"the token service " + realm->shown() + " sent no token"};
  }

  HttpClient http_;
  Credentials credentials_;
  std::string repository_;
  Location base_;
  std::string authorization_;  // for the registry's host only
  std::vector<std::string> secrets_;
};

// The URL of a `Link: <…>; rel="next"` header; "" when there is none.
std::string next_link(std::string_view header) {
  for (size_t at = header.find('<'); at != std::string_view::npos; at = header.find('<', at + 1)) {
    size_t close = header.find('>', at);
    if (close == std::string_view::npos) return {};
    size_t end = std::min(header.find(",", close), header.size());
    std::string params = lower(header.substr(close + 1, end - close - 1));
    params.erase(std::remove(params.begin(), params.end(), ' '), params.end());
    if (params.find("rel=\"next\"") != std::string::npos || params.find("rel=next") != std::string::npos)
      return std::string(header.substr(at + 1, close - at - 1));
  }
  return {};
}

// ---- The pull ----

class Puller {
 public:
  Puller(const Reference& ref, const PullRequest& request)
      : ref_(ref), request_(request), registry_(ref, request.credentials) {
    repository_url_ =
        "oci://" + authority(ref.host, ref.port, ref.plain_http ? 80 : 443) + "/" + ref.repository;
    what_ = !request.digest.empty()   ? "digest " + printable(request.digest)
            : !request.semver.empty() ? "semver '" + printable(request.semver) + "'"
                                      : "tag '" + printable(request.tag) + "'";
  }

  std::string where() const { return repository_url_ + " (" + what_ + ")"; }
  std::string redact(std::string message) const { return registry_.redact(std::move(message)); }

  Result<Pulled> run() {
    int refs_named = !request_.tag.empty() + !request_.semver.empty() + !request_.digest.empty();
    if (refs_named != 1) return fail("set exactly one of tag, semver and digest");
    if (!request_.digest.empty() && !is_digest(request_.digest))
      return fail("the digest must be sha256:<64 lower-case hex digits>");
    if (!request_.tag.empty() && !is_tag(request_.tag))
      return fail("not a valid tag (letters, digits, '_', '.', '-'; at most 128)");

    Pulled pulled;
    std::string reference = request_.digest;
    if (!request_.tag.empty()) pulled.tag = reference = request_.tag;
    if (!request_.semver.empty()) {
      auto tag = resolve_semver();
      if (!tag) return std::move(tag).take_error();
      pulled.tag = reference = *tag;
      what_ += ", tag '" + *tag + "'";
    }

    auto manifest = fetch_manifest(reference, pulled);
    if (!manifest) return std::move(manifest).take_error();
    if (!request_.known_digest.empty() && pulled.digest == request_.known_digest) {
      pulled.unchanged = true;
      return pulled;
    }

    auto layer = choose_layer(*manifest);
    if (!layer) return std::move(layer).take_error();
    auto blob = fetch_blob(*layer);
    if (!blob) return std::move(blob).take_error();
    if (Status unpacked = unpack(*blob, layer->digest, pulled); !unpacked) return Error{unpacked.error()};
    return pulled;
  }

 private:
  struct Layer {
    std::string media_type, digest;
    uint64_t size = 0;
  };

  Error fail(const std::string& message) const { return Error{where() + ": " + message}; }

  Result<std::string> resolve_semver() {
    auto constraint = semver::Constraint::parse(request_.semver);
    if (!constraint) return fail(constraint.error());
    std::vector<std::string> tags;
    std::string target = "/v2/" + ref_.repository + "/tags/list";
    for (int page = 0;; ++page) {
      if (page == kMaxTagPages)
        return fail("the tag list has more than " + std::to_string(kMaxTagPages) + " pages");
      auto reply = registry_.get(target, "application/json", kMaxTagPageBytes);
      if (!reply) return fail("listing tags: " + reply.error());
      if (reply->status != 200) return fail("listing tags: GET " + target + ": " + registry_.failure(*reply));
      auto body = json::parse(reply->body, nullptr, false);
      if (!body.is_object()) return fail("listing tags: the registry's answer is not a JSON object");
      auto listed = body.find("tags");
      if (listed != body.end() && !listed->is_null()) {
        if (!listed->is_array()) return fail("listing tags: \"tags\" is not a list");
        for (const auto& tag : *listed)
          if (tag.is_string() && is_tag(tag.get<std::string>())) tags.push_back(tag.get<std::string>());
        if (tags.size() > kMaxTags)
          return fail("the repository has more than " + std::to_string(kMaxTags) + " tags");
      }
      std::string next = next_link(reply->header("link"));
      if (next.empty()) break;
      auto at = resolve(registry_.base(), next);
      if (!at || !at->same_origin(registry_.base()) || !at->target.starts_with("/v2/"))
        return fail("listing tags: the next page '" + printable(next) + "' is not on the registry");
      target = at->target;
    }
    auto best = semver::highest(*constraint, tags);
    if (!best)
      return fail("no tag matches (" + std::to_string(tags.size()) + (tags.size() == 1 ? " tag" : " tags") +
                  " in the repository)");
    return tags[*best];
  }

  // The manifest, checked against its digest; fills the digest and annotations of `pulled`.
  Result<json> fetch_manifest(const std::string& reference, Pulled& pulled) {
    const std::string target = "/v2/" + ref_.repository + "/manifests/" + reference;
    // The index types too: a registry then sends an index as it is, and the error below says what it is.
    auto reply = registry_.get(
        target, std::string(kOciManifest) + ", " + kDockerManifest + ", " + kOciIndex + ", " + kDockerList,
        kMaxManifestBytes);
    if (!reply) return fail("manifest: " + reply.error());
    if (reply->status == 404)
      return fail("no such manifest in the repository: GET " + target + ": " + registry_.failure(*reply));
    if (reply->status != 200) return fail("manifest: GET " + target + ": " + registry_.failure(*reply));
    pulled.digest = sha256_digest(reply->body);
    if (!request_.digest.empty() && pulled.digest != request_.digest)
      return fail("the registry sent a manifest whose digest is " + pulled.digest +
                  ", not the one asked for");
    std::string said = reply->header("docker-content-digest");
    if (said.starts_with("sha256:") && said != pulled.digest)
      return fail("the registry says the manifest is " + printable(said) + " but its content is " +
                  pulled.digest);

    auto manifest = json::parse(reply->body, nullptr, false);
    if (!manifest.is_object()) return fail("the manifest is not a JSON object");
    std::string content_type = reply->header("content-type");
    std::string media_type = content_type.substr(0, content_type.find(';'));
    if (auto it = manifest.find("mediaType"); it != manifest.end() && it->is_string())
      media_type = it->get<std::string>();
    if (media_type == kOciIndex || media_type == kDockerList || manifest.contains("manifests"))
      return fail("it is an image index (" + printable(media_type) +
                  "), not a single manifest: Flux artifacts are single manifests");
    if (auto it = manifest.find("schemaVersion"); it == manifest.end() || *it != 2)
      return fail("the manifest is not schemaVersion 2");
    if (auto it = manifest.find("annotations"); it != manifest.end() && it->is_object())
      for (const auto& [key, value] : it->items())
        if (value.is_string()) pulled.annotations[key] = value.get<std::string>();
    return manifest;
  }

  Result<Layer> choose_layer(const json& manifest) const {
    auto layers = manifest.find("layers");
    if (layers == manifest.end() || !layers->is_array()) return fail("the manifest has no layers");
    std::string present;
    for (const auto& entry : *layers) {
      if (!entry.is_object()) return fail("the manifest has a layer that is not an object");
      Layer layer;
      if (auto it = entry.find("mediaType"); it != entry.end() && it->is_string())
        layer.media_type = it->get<std::string>();
      if (!request_.media_type.empty() && layer.media_type != request_.media_type) {
        present += (present.empty() ? "" : ", ") + printable(layer.media_type);
        continue;
      }
      auto digest = entry.find("digest");
      auto size = entry.find("size");
      if (digest == entry.end() || !digest->is_string() || !is_digest(digest->get<std::string>()))
        return fail("the layer's digest is not sha256:<64 hex digits>");
      if (size == entry.end() || !size->is_number_unsigned()) return fail("the layer's size is not a number");
      layer.digest = digest->get<std::string>();
      layer.size = size->get<uint64_t>();
      if (layer.size > request_.max_blob_bytes)
        return fail("layer " + layer.digest + " is " + std::to_string(layer.size) + " bytes, more than " +
                    std::to_string(request_.max_blob_bytes) + " (max_blob_bytes)");
      return layer;
    }
    if (request_.media_type.empty()) return fail("the manifest has no layers");
    return fail("no layer has media type " + printable(request_.media_type) +
                " (the layers have: " + (present.empty() ? "none" : present) + ")");
  }

  Result<std::string> fetch_blob(const Layer& layer) {
    const std::string target = "/v2/" + ref_.repository + "/blobs/" + layer.digest;
    auto reply = registry_.get(target, "", static_cast<size_t>(layer.size));
    if (!reply) return fail("layer " + layer.digest + ": " + reply.error());
    if (reply->status != 200) return fail("layer: GET " + target + ": " + registry_.failure(*reply));
    if (reply->body.size() != layer.size)
      return fail("layer " + layer.digest + " is " + std::to_string(reply->body.size()) +
                  " bytes, the manifest says " + std::to_string(layer.size));
    if (std::string digest = sha256_digest(reply->body); digest != layer.digest)
      return fail("layer " + layer.digest + " arrived with digest " + digest);
    return std::move(reply->body);
  }

  Status unpack(const std::string& blob, const std::string& digest, Pulled& pulled) const {
    if (blob.size() < 2 || static_cast<unsigned char>(blob[0]) != 0x1f ||
        static_cast<unsigned char>(blob[1]) != 0x8b)
      return fail("layer " + digest +
                  " is not a tar+gzip (an artifact pushed for Flux's `operation: copy` is not supported)");
    desired::helm::ArchiveLimits limits{request_.max_blob_bytes, request_.max_unpacked_bytes, request_.max_files};
    auto archive = desired::helm::read_tar_gz(blob, limits);
    if (!archive) return fail("layer " + digest + ": " + archive.error());
    for (auto& file : archive->files) pulled.files.push_back({std::move(file.path), std::move(file.data), file.executable});
    pulled.skipped = std::move(archive->skipped);
    return Status::Ok();
  }

  const Reference& ref_;
  const PullRequest& request_;
  Registry registry_;
  std::string repository_url_;
  std::string what_;
};

}  // namespace

Result<Reference> parse_reference(std::string_view url) {
  // Userinfo in the URL is refused, and not repeated: it may be a password.
  std::string shown(url);
  if (size_t start = shown.find("://"); start != std::string::npos) {
    start += 3;
    size_t at = shown.rfind('@', std::min(shown.find('/', start), shown.size()));
    if (at != std::string::npos && at >= start) shown.replace(start, at - start, "***");
  }
  auto bad = [&](const std::string& why) { return Error{"OCI URL '" + printable(shown) + "': " + why}; };
  if (!starts_with_nocase(url, "oci://")) return bad("must start with oci:// (oci://host[:port]/repository)");
  std::string_view rest = url.substr(6);
  if (rest.find('@') != std::string_view::npos)
    return bad("has '@': credentials belong in the secret and a digest in the reference (ref.digest)");
  if (rest.find_first_of("?# \t\r\n\\") != std::string_view::npos)
    return bad("has a query, a fragment, spaces or backslashes");
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash + 1 == rest.size())
    return bad("names no repository (oci://host[:port]/repository)");
  std::string_view host_port = rest.substr(0, slash), path = rest.substr(slash + 1);

  Reference ref;
  std::string_view port_text;
  bool has_port = false;
  if (host_port.starts_with('[')) {
    size_t close = host_port.find(']');
    if (close == std::string_view::npos) return bad("has an unclosed '[' in its host");
    ref.host = lower(host_port.substr(1, close - 1));
    if (!is_ip_literal(ref.host) || ref.host.find(':') == std::string::npos)
      return bad("has a bad IPv6 address");
    if (close + 1 < host_port.size()) {
      if (host_port[close + 1] != ':') return bad("has text after its IPv6 address");
      port_text = host_port.substr(close + 2);
      has_port = true;
    }
  } else {
    size_t colon = host_port.find(':');
    ref.host = lower(host_port.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = host_port.substr(colon + 1);
      has_port = true;
    }
    if (!is_host_name(ref.host)) return bad("has no valid host");
  }
  if (path.find(':') != std::string_view::npos)
    return bad("has ':' in its repository: a tag belongs in the reference (ref.tag), not the URL");
  if (path.size() > 255) return bad("its repository is longer than 255 characters");
  for (size_t at = 0; at <= path.size();) {
    size_t end = std::min(path.find('/', at), path.size());
    std::string_view part = path.substr(at, end - at);
    if (!is_repository_component(part))
      return bad("repository component '" + printable(part) +
                 "' is not valid (lower-case letters and digits, separated by '.', '_', '__' or '-')");
    at = end + 1;
  }
  ref.repository = std::string(path);
  ref.plain_http = is_loopback(ref.host);
  if (has_port) {
    auto port = parse_port(port_text);
    if (!port) return bad("has a bad port (1-65535)");
    ref.port = *port;
  } else {
    ref.port = ref.plain_http ? 80 : 443;
  }
  return ref;
}

Result<Pulled> pull(const Reference& ref, const PullRequest& request) {
  const std::string where =
      "oci://" + authority(ref.host, ref.port, ref.plain_http ? 80 : 443) + "/" + ref.repository;
  // Exceptions (allocation, asio setup) stay here; their text carries no request data, but is redacted
  // anyway.
  auto redact_given = [&](std::string message) {
    for (const auto* secret : {&request.credentials.password, &request.credentials.token})
      if (*secret && !(*secret)->empty())
        for (size_t pos = message.find(**secret); pos != std::string::npos; pos = message.find(**secret, pos))
          message.replace(pos, (*secret)->size(), "***");
    return message;
  };
  try {
    Puller puller(ref, request);
    auto pulled = puller.run();
    if (!pulled) return Error{puller.redact(pulled.error())};
    return pulled;
  } catch (const std::exception& e) {
    return Error{redact_given(where + ": " + e.what())};
  }
}

}  // namespace gitgate::gitstate::oci
