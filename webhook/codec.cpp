#include "webhook/codec.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <cstring>
#include <vector>

#include "core/json_writer.h"

namespace gitgate::webhook {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// Whether some object in a document may repeat a key: one pass, no path, no sorting, so that the exact
// check below (which names the key and where) runs only for the rare body that may be refused. Kubernetes
// objects are small: up to kPairwiseKeys keys are compared pairwise (length and first byte before any
// memcmp), larger objects compare sorted 64-bit signatures. False only when no key repeats.
class DuplicateKeyScan {
 public:
  // `hashes` is scratch space the caller keeps between bodies, so a warm decoder allocates nothing here.
  explicit DuplicateKeyScan(std::vector<size_t>& hashes) : hashes_(hashes) {}

  bool may_repeat(element e) {
    if (e.type() == element_type::ARRAY) {
      for (element child : array(e))
        if (is_container(child) && may_repeat(child)) return true;
      return false;
    }
    object o(e);
    size_t n = o.size();
    if (n > kPairwiseKeys) {
      if (hashes_collide(o)) return true;
      for (auto field : o)
        if (is_container(field.value) && may_repeat(field.value)) return true;
      return false;
    }
    // Left uninitialised: zeroing them costs more than the comparisons.
    const char* data[kPairwiseKeys];
    size_t size[kPairwiseKeys];
    size_t count = 0;
    for (auto field : o) {
      if (count == kPairwiseKeys) return true;
      std::string_view key = field.key;
      for (size_t j = 0; j < count; ++j) {
        if (size[j] == key.size() && (key.empty() || data[j][0] == key[0]) &&
            std::memcmp(data[j], key.data(), key.size()) == 0)
          return true;
      }
      data[count] = key.data();
      size[count++] = key.size();
      if (is_container(field.value) && may_repeat(field.value)) return true;
    }
    return false;
  }

 private:
  static constexpr size_t kPairwiseKeys = 8;

  static bool is_container(element e) {
    auto type = e.type();
    return type == element_type::OBJECT || type == element_type::ARRAY;
  }

  template <class Word>
  static uint64_t load(const char* p) {
    Word w;
    std::memcpy(&w, p, sizeof w);
    return w;
  }

  // Equal keys have equal signatures. Different keys rarely do: only with the same length and the same bytes
  // where these loads read (all of them up to 16 bytes, 24 of them beyond), or by chance; the exact check
  // then runs for nothing. A fraction of what std::hash costs on Kubernetes' short keys.
  static uint64_t signature_of(std::string_view key) {
    constexpr uint64_t kMix = 0x9E3779B97F4A7C15ULL;
    const char* p = key.data();
    const size_t n = key.size();
    uint64_t low = 0, high = 0;
    if (n >= 8) {
      low = load<uint64_t>(p);
      high = load<uint64_t>(p + n - 8);
      if (n > 16) low ^= std::rotl(load<uint64_t>(p + n / 2 - 4) * kMix, 31);
    } else if (n >= 4) {
      low = load<uint32_t>(p);
      high = load<uint32_t>(p + n - 4);
    } else if (n > 0) {
      low = static_cast<unsigned char>(p[0]) | static_cast<unsigned char>(p[n / 2]) << 8 |
            static_cast<unsigned char>(p[n - 1]) << 16;
    }
    uint64_t h = (low ^ (high * kMix)) + n;
    return h ^ (h >> 29);
  }

  bool hashes_collide(object o) {
    hashes_.clear();
    for (auto field : o) hashes_.push_back(signature_of(field.key));
    std::sort(hashes_.begin(), hashes_.end());
    return std::adjacent_find(hashes_.begin(), hashes_.end()) != hashes_.end();
  }

  std::vector<size_t>& hashes_;
};

// Rejects objects that repeat a key anywhere in the document: two readers of the same review (the API
// server and us, or two of our code paths) must never see different values. The path is kept as views and
// only turned into text for the error.
class DuplicateKeyCheck {
 public:
  std::string error;

  bool check(element e) {
    switch (e.type()) {
      case element_type::OBJECT: return check_object(object(e));
      case element_type::ARRAY: {
        size_t i = 0;
        for (element child : array(e)) {
          path_.push_back({{}, i++});
          if (!check(child)) return false;
          path_.pop_back();
        }
        return true;
      }
      default: return true;
    }
  }

 private:
  struct Segment {
    std::string_view key;
    size_t index;
  };

  bool check_object(object o) {
    size_t n = o.size();
    if (n > 1) {
      keys_.clear();
      for (auto field : o) keys_.push_back(field.key);
      std::sort(keys_.begin(), keys_.end());
      auto dup = std::adjacent_find(keys_.begin(), keys_.end());
      if (dup != keys_.end()) {
        error = "duplicate key \"" + std::string(dup->substr(0, 128)) + "\" in the object at " + path_text();
        return false;
      }
    }
    for (auto field : o) {
      path_.push_back({field.key, 0});
      if (!check(field.value)) return false;
      path_.pop_back();
    }
    return true;
  }

  std::string path_text() const {
    if (path_.empty()) return "/";
    std::string out;
    for (const auto& s : path_) {
      out += '/';
      if (s.key.data() != nullptr) out.append(s.key.substr(0, 128));
      else out += std::to_string(s.index);
    }
    return out;
  }

  std::vector<std::string_view> keys_;
  std::vector<Segment> path_;
};

Error field_error(std::string_view path, std::string_view what) {
  return Error{std::string(path) + ": " + std::string(what)};
}

// Reads an optional string field; absent or null gives "".
bool optional_string(object o, std::string_view key, std::string_view& out) {
  element v;
  if (o[key].get(v)) return true;
  if (v.is_null()) return true;
  return !v.get(out);
}

Result<object> required_object(object parent, std::string_view key, std::string_view path) {
  element v;
  if (parent[key].get(v) || v.is_null()) return field_error(path, "is missing");
  object o;
  if (v.get(o)) return field_error(path, "must be a JSON object");
  return o;
}

// object/oldObject/options: absent or null means none; anything else must be an object.
Result<std::optional<element>> optional_object(object parent, std::string_view key, std::string_view path) {
  element v;
  if (parent[key].get(v) || v.is_null()) return std::optional<element>{};
  if (v.type() != element_type::OBJECT) return field_error(path, "must be a JSON object or null");
  return std::optional<element>{v};
}

// kind/requestKind ({group, version, kind}) and resource/requestResource ({group, version, resource}):
// three strings, the last one named `last` and required to be non-empty when the whole field is required.
Status read_group_version(object req, std::string_view key, std::string_view path, bool required,
                          std::string_view last, std::string_view& group, std::string_view& version,
                          std::string_view& name) {
  element v;
  if (req[key].get(v) || v.is_null()) {
    if (required) return field_error(path, "is missing");
    return {};
  }
  object o;
  if (v.get(o)) return field_error(path, "must be a JSON object");
  if (!optional_string(o, "group", group) || !optional_string(o, "version", version) || !optional_string(o, last, name))
    return field_error(path, "group, version and " + std::string(last) + " must be strings");
  if (required && name.empty()) return field_error(std::string(path) + "." + std::string(last), "must not be empty");
  return {};
}

Status read_gvk(object req, std::string_view key, std::string_view path, bool required, GroupVersionKind& out) {
  return read_group_version(req, key, path, required, "kind", out.group, out.version, out.kind);
}

Status read_gvr(object req, std::string_view key, std::string_view path, bool required, GroupVersionResource& out) {
  return read_group_version(req, key, path, required, "resource", out.group, out.version, out.resource);
}


std::string parse_error_message(simdjson::error_code code) {
  switch (code) {
    case simdjson::DEPTH_ERROR:
      return "body is not acceptable JSON: nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    case simdjson::UTF8_ERROR: return "body is not valid JSON: invalid UTF-8";
    case simdjson::CAPACITY: return "body is too large";
    case simdjson::EMPTY: return "body is empty; expected an AdmissionReview";
    default: return std::string("body is not valid JSON: ") + simdjson::error_message(code);
  }
}

}  // namespace

// Go's encoding/json writes a float64 without a fraction as an integer (1e20 arrives as
// 100000000000000000000), and simdjson's DOM refuses integers beyond 64 bits. Such a value, stored once in
// an object (through /status), would make every later review of that object fail. Copies `json` with a ".0"
// after every integer literal that fits neither int64 nor uint64, so it reads as the double Go meant; false
// when there is none.
bool widen_big_integers(std::string_view json, std::string& out) {
  out.clear();
  bool widened = false;
  bool in_string = false;
  size_t copied = 0;
  for (size_t i = 0; i < json.size();) {
    char c = json[i];
    if (in_string) {
      if (c == '\\') {
        i += 2;
        continue;
      }
      in_string = c != '"';
      ++i;
      continue;
    }
    if (c == '"') {
      in_string = true;
      ++i;
      continue;
    }
    if (c != '-' && (c < '0' || c > '9')) {
      ++i;
      continue;
    }
    size_t start = i;
    if (c == '-') ++i;
    while (i < json.size() && json[i] >= '0' && json[i] <= '9') ++i;
    size_t digits_end = i;
    bool integer = !(i < json.size() && (json[i] == '.' || json[i] == 'e' || json[i] == 'E'));
    while (i < json.size() && (std::isdigit(static_cast<unsigned char>(json[i])) || json[i] == '.' || json[i] == 'e' ||
                               json[i] == 'E' || json[i] == '+' || json[i] == '-'))
      ++i;
    if (!integer || digits_end != i) continue;
    std::string_view token = json.substr(start, digits_end - start);
    bool fits;
    if (token[0] == '-') {
      int64_t v;
      auto r = std::from_chars(token.data(), token.data() + token.size(), v);
      fits = r.ec == std::errc() && r.ptr == token.data() + token.size();
    } else {
      uint64_t v;
      auto r = std::from_chars(token.data(), token.data() + token.size(), v);
      fits = r.ec == std::errc() && r.ptr == token.data() + token.size();
    }
    if (fits || token == "-") continue;
    out.append(json.substr(copied, digits_end - copied));
    out += ".0";
    copied = digits_end;
    widened = true;
  }
  if (!widened) return false;
  out.append(json.substr(copied));
  return true;
}

// A body whose big integers were widened (below) grows by 2 bytes a number, at most a quarter.
constexpr size_t kMaxParsedBytes = kMaxBodyBytes + kMaxBodyBytes / 4 + 1024;

ReviewDecoder::ReviewDecoder() : parser_(kMaxParsedBytes) {}

void ReviewDecoder::trim() {
  parser_ = simdjson::dom::parser(kMaxParsedBytes);
  key_hashes_ = {};
  widened_ = {};
}

Result<AdmissionRequest> ReviewDecoder::decode(std::string_view body) {
  if (body.size() > kMaxBodyBytes) return Error{"body is larger than 7 MiB"};
  if (parser_.max_depth() != kMaxJsonDepth || parser_.capacity() < body.size()) {
    if (parser_.allocate(std::max(body.size(), size_t{64 * 1024}), kMaxJsonDepth))
      return Error{"out of memory while parsing the body"};
  }
  element root;
  auto err = parser_.parse(body.data(), body.size(), false).get(root);
  if (err == simdjson::NUMBER_ERROR && widen_big_integers(body, widened_)) {
    size_t size = widened_.size();
    if (size > kMaxParsedBytes) return Error{"body holds too many integers beyond 64 bits"};
    if (parser_.capacity() < size && parser_.allocate(size, kMaxJsonDepth))
      return Error{"out of memory while parsing the body"};
    widened_.append(simdjson::SIMDJSON_PADDING, '\0');
    err = parser_.parse(widened_.data(), size, false).get(root);
  }
  if (err) return Error{parse_error_message(err)};

  object review;
  if (root.get(review)) return Error{"body must be a JSON object (an AdmissionReview)"};
  if (DuplicateKeyScan(key_hashes_).may_repeat(root)) {
    DuplicateKeyCheck dup;
    if (!dup.check(root)) return Error{"body is not acceptable JSON: " + dup.error};
  }

  std::string_view api_version, kind;
  if (!optional_string(review, "apiVersion", api_version) || !optional_string(review, "kind", kind))
    return Error{"apiVersion and kind must be strings"};
  if (kind != "AdmissionReview")
    return Error{"kind is \"" + std::string(kind.substr(0, 64)) + "\", expected \"AdmissionReview\""};
  if (api_version != "admission.k8s.io/v1")
    return Error{"apiVersion is \"" + std::string(api_version.substr(0, 64)) +
                 "\"; only admission.k8s.io/v1 is supported (set admissionReviewVersions: [v1])"};

  auto req = required_object(review, "request", "request");
  if (!req) return std::move(req).take_error();
  object r = *req;

  AdmissionRequest out;
  if (!optional_string(r, "uid", out.uid)) return field_error("request.uid", "must be a string");
  if (out.uid.empty()) return field_error("request.uid", "is missing or empty");

  if (auto s = read_gvk(r, "kind", "request.kind", true, out.kind); !s) return Error{s.error()};
  if (auto s = read_gvr(r, "resource", "request.resource", true, out.resource); !s) return Error{s.error()};
  if (auto s = read_gvk(r, "requestKind", "request.requestKind", false, out.request_kind); !s) return Error{s.error()};
  if (auto s = read_gvr(r, "requestResource", "request.requestResource", false, out.request_resource); !s)
    return Error{s.error()};
  if (!optional_string(r, "subResource", out.sub_resource))
    return field_error("request.subResource", "must be a string");
  if (!optional_string(r, "requestSubResource", out.request_sub_resource))
    return field_error("request.requestSubResource", "must be a string");
  if (!optional_string(r, "name", out.name)) return field_error("request.name", "must be a string");
  if (!optional_string(r, "namespace", out.ns)) return field_error("request.namespace", "must be a string");

  std::string_view op;
  if (!optional_string(r, "operation", op)) return field_error("request.operation", "must be a string");
  if (op == "CREATE") out.operation = Operation::Create;
  else if (op == "UPDATE") out.operation = Operation::Update;
  else if (op == "DELETE") out.operation = Operation::Delete;
  else if (op == "CONNECT") out.operation = Operation::Connect;
  else return field_error("request.operation", "must be CREATE, UPDATE, DELETE or CONNECT");

  auto user = required_object(r, "userInfo", "request.userInfo");
  if (!user) return std::move(user).take_error();
  if (!optional_string(*user, "username", out.user.username) || !optional_string(*user, "uid", out.user.uid))
    return field_error("request.userInfo", "username and uid must be strings");
  {
    element groups;
    if (!(*user)["groups"].get(groups) && !groups.is_null()) {
      array a;
      if (groups.get(a)) return field_error("request.userInfo.groups", "must be an array of strings");
      for (element g : a)
        if (!g.is_string()) return field_error("request.userInfo.groups", "must be an array of strings");
      out.user.groups = a;
    }
    auto extra = optional_object(*user, "extra", "request.userInfo.extra");
    if (!extra) return std::move(extra).take_error();
    if (*extra) out.user.extra = object(**extra);
  }

  auto obj = optional_object(r, "object", "request.object");
  if (!obj) return std::move(obj).take_error();
  out.object = *obj;
  auto old = optional_object(r, "oldObject", "request.oldObject");
  if (!old) return std::move(old).take_error();
  out.old_object = *old;
  auto options = optional_object(r, "options", "request.options");
  if (!options) return std::move(options).take_error();
  out.options = *options;

  element dry;
  if (!r["dryRun"].get(dry) && !dry.is_null()) {
    if (dry.get(out.dry_run)) return field_error("request.dryRun", "must be a boolean");
  }

  if ((out.operation == Operation::Create || out.operation == Operation::Update) && !out.object)
    return field_error("request.object", "is required for " + std::string(op));
  return out;
}

PaddedBody::PaddedBody(std::string_view body) : size_(body.size()) {
  data_.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  data_.assign(body);
  data_.append(simdjson::SIMDJSON_PADDING, '\0');
}

void encode_response(std::string& out, std::string_view uid, const Decision& decision) {
  JsonWriter w(out);
  w.begin_object()
      .field("apiVersion", "admission.k8s.io/v1")
      .field("kind", "AdmissionReview")
      .key("response")
      .begin_object()
      .field("uid", uid)
      .field("allowed", decision.allowed);
  if (!decision.allowed) {
    w.key("status").begin_object().field("code", 403).field("reason", "Forbidden").field("message", decision.message);
    w.end_object();
  }
  if (!decision.warnings.empty()) {
    w.key("warnings").begin_array();
    for (const auto& warning : decision.warnings) w.value(warning);
    w.end_array();
  }
  w.key("auditAnnotations").begin_object().field("decision", decision.outcome()).field("reason", decision.reason);
  if (decision.snapshot_commit) w.field("commit", decision.snapshot_commit->id);
  if (decision.declared) {
    std::string source = decision.declared->file() + ":" + std::to_string(decision.declared->line());
    w.field("source", source);
  }
  if (!decision.policy.empty()) w.field("policy", decision.policy);
  w.end_object();
  w.end_object().end_object();
}

std::string encode_response(std::string_view uid, const Decision& decision) {
  std::string out;
  out.reserve(256 + decision.message.size());
  encode_response(out, uid, decision);
  return out;
}

}  // namespace gitgate::webhook
