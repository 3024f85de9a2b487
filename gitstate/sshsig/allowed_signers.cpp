// OpenSSH allowed_signers files (ssh-keygen(1), "ALLOWED SIGNERS"), parsed strictly: a line that
// OpenSSH would ignore with a logged error is an error here, so a typo cannot silently drop a signer.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "gitstate/sshsig/base64.h"
#include "gitstate/sshsig/sshsig.h"
#include "gitstate/sshsig/text.h"

namespace gitgate::sshsig {
namespace {

constexpr std::string_view kCertificateSuffix = "-cert-v01@openssh.com";

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

void skip_blanks(std::string_view& rest) {
  while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = text[i] >= 'A' && text[i] <= 'Z' ? static_cast<char>(text[i] - 'A' + 'a') : text[i];
    if (a != prefix[i]) return false;
  }
  return true;
}

// '*' matches any run of characters, '?' any one character (OpenSSH match_pattern). Iterative, so a
// hostile pattern costs at most |subject| * |pattern| steps.
bool wildcard_match(std::string_view subject, std::string_view pattern) {
  size_t s = 0;
  size_t p = 0;
  size_t star = std::string_view::npos;
  size_t resume = 0;
  while (s < subject.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = s;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == subject[s])) {
      ++s;
      ++p;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      s = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// OpenSSH match_pattern_list: true when some pattern matches and no '!'-negated pattern does.
bool matches_pattern_list(std::string_view subject, const std::vector<std::string>& patterns) {
  bool positive = false;
  for (const std::string& pattern : patterns) {
    bool negated = !pattern.empty() && pattern[0] == '!';
    if (wildcard_match(subject, negated ? std::string_view(pattern).substr(1) : std::string_view(pattern))) {
      if (negated) return false;
      positive = true;
    }
  }
  return positive;
}

std::optional<std::vector<std::string>> split_list(std::string_view text) {
  std::vector<std::string> items;
  while (true) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    if (item.empty()) return std::nullopt;
    items.emplace_back(item);
    if (comma == std::string_view::npos) return items;
    text.remove_prefix(comma + 1);
  }
}

// YYYYMMDD[HHMM[SS]][Z], always UTC: unlike ssh-keygen, which reads times without 'Z' in the local time
// zone, a server must not change its answers with TZ.
std::optional<int64_t> parse_time(std::string_view text) {
  if (text.ends_with('Z')) text.remove_suffix(1);
  if (text.size() != 8 && text.size() != 12 && text.size() != 14) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  auto field = [&](size_t at, size_t width) {
    int value = 0;
    for (size_t i = at; i < at + width && i < text.size(); ++i) value = value * 10 + (text[i] - '0');
    return value;
  };
  int year = field(0, 4), month = field(4, 2), day = field(6, 2);
  int hour = field(8, 2), minute = field(10, 2), second = field(12, 2);
  static constexpr int kDaysInMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return std::nullopt;
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  int month_days = kDaysInMonth[month - 1] + (month == 2 && leap ? 1 : 0);
  if (day > month_days || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  int64_t seconds = utc_seconds(year, month, day, hour, minute, second);
  if (seconds <= 0) return std::nullopt;
  return seconds;
}

struct Options {
  bool cert_authority = false;
  std::optional<std::vector<std::string>> namespaces;
  std::optional<int64_t> valid_after;
  std::optional<int64_t> valid_before;
};

// A double-quoted option value; \" stands for a quote.
std::optional<std::string> dequote(std::string_view& rest) {
  if (rest.empty() || rest.front() != '"') return std::nullopt;
  std::string value;
  for (size_t i = 1; i < rest.size(); ++i) {
    if (rest[i] == '\\' && i + 1 < rest.size() && rest[i + 1] == '"') {
      value.push_back('"');
      ++i;
    } else if (rest[i] == '"') {
      rest.remove_prefix(i + 1);
      return value;
    } else {
      value.push_back(rest[i]);
    }
  }
  return std::nullopt;
}

// option[,option...] as OpenSSH sshsigopt_parse reads it.
Result<Options> parse_options(std::string_view text) {
  Options options;
  std::string_view rest = text;
  auto take_value = [&](std::string_view name) -> Result<std::string> {
    rest.remove_prefix(name.size());
    std::optional<std::string> value = dequote(rest);
    if (!value)
      return Error{"option " + std::string(name.substr(0, name.size() - 1)) + " needs a double-quoted value"};
    return std::move(*value);
  };
  auto take_time = [&](std::string_view name, std::optional<int64_t>& slot) -> Status {
    std::string_view bare = name.substr(0, name.size() - 1);
    if (slot) return Error{"option " + std::string(bare) + " given twice"};
    Result<std::string> value = take_value(name);
    if (!value) return std::move(value).take_error();
    slot = parse_time(*value);
    if (!slot)
      return Error{"option " + std::string(bare) + " has invalid time " + printable_quoted(*value) +
                   " (expected YYYYMMDD[HHMM[SS]][Z])"};
    return Status::Ok();
  };

  while (true) {
    if (iequals_prefix(rest, "cert-authority")) {
      rest.remove_prefix(std::string_view("cert-authority").size());
      options.cert_authority = true;
    } else if (iequals_prefix(rest, "namespaces=")) {
      if (options.namespaces) return Error{"option namespaces given twice"};
      Result<std::string> value = take_value("namespaces=");
      if (!value) return std::move(value).take_error();
      options.namespaces = split_list(*value);
      if (!options.namespaces)
        return Error{"namespaces=" + printable_quoted(*value) + " has an empty pattern"};
    } else if (iequals_prefix(rest, "valid-after=")) {
      Status status = take_time("valid-after=", options.valid_after);
      if (!status) return Error{status.error()};
    } else if (iequals_prefix(rest, "valid-before=")) {
      Status status = take_time("valid-before=", options.valid_before);
      if (!status) return Error{status.error()};
    } else {
      return Error{"unknown option " + printable_quoted(rest.substr(0, rest.find_first_of(",="))) +
                   " (known: cert-authority, namespaces, valid-after, valid-before)"};
    }
    if (rest.empty()) break;
    if (rest.front() != ',')
      return Error{"expected ',' between options, found " + printable_quoted(rest.substr(0, 1))};
    rest.remove_prefix(1);
    if (rest.empty()) return Error{"options end with ','"};
  }
  if (options.valid_after && options.valid_before && *options.valid_before <= *options.valid_after) {
    return Error{"valid-before is not after valid-after"};
  }
  return options;
}

// The principals field: a double-quoted string or a run of non-blank characters.
std::optional<std::string_view> take_principals(std::string_view& rest) {
  if (!rest.empty() && rest.front() == '"') {
    size_t close = rest.find('"', 1);
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view field = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
    if (!rest.empty() && !is_blank(rest.front())) return std::nullopt;
    return field;
  }
  size_t end = 0;
  while (end < rest.size() && !is_blank(rest[end])) ++end;
  std::string_view field = rest.substr(0, end);
  rest.remove_prefix(end);
  return field;
}

// A run of characters up to a blank outside double quotes (\" inside quotes does not close them).
std::optional<std::string_view> take_options_word(std::string_view& rest) {
  bool in_quotes = false;
  size_t end = 0;
  for (; end < rest.size() && (in_quotes || !is_blank(rest[end])); ++end) {
    if (in_quotes && rest[end] == '\\' && end + 1 < rest.size() && rest[end + 1] == '"') {
      ++end;
    } else if (rest[end] == '"') {
      in_quotes = !in_quotes;
    }
  }
  if (in_quotes) return std::nullopt;
  std::string_view word = rest.substr(0, end);
  rest.remove_prefix(end);
  return word;
}

std::string_view take_word(std::string_view& rest) {
  size_t end = 0;
  while (end < rest.size() && !is_blank(rest[end])) ++end;
  std::string_view word = rest.substr(0, end);
  rest.remove_prefix(end);
  return word;
}

bool looks_like_options(std::string_view word) {
  return word.find('=') != std::string_view::npos || iequals_prefix(word, "cert-authority");
}

struct ParsedLine {
  std::optional<AllowedSigner> signer;  // empty when the line is skipped
  std::string skip_reason;
};

Result<ParsedLine> parse_line(std::string_view rest, uint32_t line_number) {
  std::optional<std::string_view> principals_field = take_principals(rest);
  if (!principals_field) return Error{"unterminated or misplaced quote in the principals"};
  std::optional<std::vector<std::string>> principals = split_list(*principals_field);
  if (!principals) return Error{"empty principal in " + printable_quoted(*principals_field)};
  skip_blanks(rest);

  Options options;
  std::string_view key_type;
  std::optional<std::string_view> word = take_options_word(rest);
  if (!word) return Error{"unterminated quote in the options"};
  if (word->empty()) return Error{"missing key after the principals"};
  if (looks_like_options(*word)) {
    Result<Options> parsed = parse_options(*word);
    if (!parsed) return std::move(parsed).take_error();
    options = std::move(*parsed);
    skip_blanks(rest);
    key_type = take_word(rest);
    if (key_type.empty()) return Error{"missing key after the options"};
  } else {
    key_type = *word;
  }
  skip_blanks(rest);
  std::string_view key_text = take_word(rest);
  if (key_text.empty()) return Error{"missing base64 key data after " + printable_quoted(key_type)};
  // Whatever follows is a comment.

  std::optional<std::string> blob = base64_decode(key_text);
  if (!blob) return Error{"key data is not valid base64"};
  Result<PublicKey> key = parse_public_key(*blob);
  if (!key) return std::move(key).take_error();
  if (key->type_name != key_type) {
    return Error{"key type " + printable_quoted(key_type) + " does not match the key data, which is " +
                 printable_quoted(key->type_name)};
  }

  ParsedLine parsed;
  if (options.cert_authority) {
    parsed.skip_reason = "cert-authority entries are not supported; line skipped";
  } else if (key->type == KeyType::Unsupported) {
    parsed.skip_reason =
        std::string_view(key->type_name).ends_with(kCertificateSuffix)
            ? "certificates are not supported as signer keys; line skipped"
            : "key type " + printable_quoted(key->type_name) + " is not supported; line skipped";
  } else if (key->type == KeyType::Rsa && key->bits() < kMinRsaBits) {
    parsed.skip_reason = "RSA key has " + std::to_string(key->bits()) + " bits, under the " +
                         std::to_string(kMinRsaBits) + "-bit minimum; line skipped";
  } else {
    AllowedSigner signer;
    signer.principals = std::move(*principals);
    signer.namespaces = options.namespaces.value_or(std::vector<std::string>{});
    signer.valid_after = options.valid_after;
    signer.valid_before = options.valid_before;
    signer.key = std::move(*key);
    signer.line = line_number;
    parsed.signer = std::move(signer);
  }
  return parsed;
}

}  // namespace

std::string AllowedSigner::principals_text() const {
  std::string text;
  for (const std::string& principal : principals) text += (text.empty() ? "" : ",") + principal;
  return text;
}

bool AllowedSigner::matches_principal(std::string_view identity) const {
  return matches_pattern_list(identity, principals);
}

bool AllowedSigner::allows_namespace(std::string_view sig_namespace) const {
  return namespaces.empty() || matches_pattern_list(sig_namespace, namespaces);
}

bool AllowedSigner::valid_at(int64_t unix_time) const {
  return (!valid_after || unix_time >= *valid_after) && (!valid_before || unix_time <= *valid_before);
}

Result<AllowedSigners> parse_allowed_signers(std::string_view text, std::string_view source_name) {
  std::string source(source_name);
  if (text.size() > kMaxAllowedSignersBytes) {
    return Error{source + ": larger than " + std::to_string(kMaxAllowedSignersBytes) + " bytes"};
  }
  AllowedSigners result;
  result.source = source;
  uint32_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    std::string place = source + ":" + std::to_string(line_number) + ": ";
    if (line.size() > kMaxAllowedSignersLineBytes) {
      return Error{place + "line longer than " + std::to_string(kMaxAllowedSignersLineBytes) + " bytes"};
    }
    if (line.ends_with('\r')) line.remove_suffix(1);
    skip_blanks(line);
    if (line.empty() || line.front() == '#') continue;

    Result<ParsedLine> parsed = parse_line(line, line_number);
    if (!parsed) return Error{place + parsed.error()};
    if (parsed->signer) {
      result.signers.push_back(std::move(*parsed->signer));
    } else {
      result.skipped.push_back(Problem{source, line_number, parsed->skip_reason});
    }
  }
  return result;
}

Result<AllowedSigners> load_allowed_signers(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return Error{path + ": cannot open allowed signers: " + std::strerror(errno)};
  std::string text;
  char buffer[16384];
  while (text.size() <= kMaxAllowedSignersBytes) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      return Error{path + ": cannot read allowed signers: " + std::strerror(saved)};
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return parse_allowed_signers(text, path);
}

}  // namespace gitgate::sshsig
