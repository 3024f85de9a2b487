// libFuzzer target: any bytes as the body of POST /validate, through what the server does with it:
// ReviewDecoder::decode, the decision engine (the engine tests' policy and Git tree, in enforce, warn or
// audit mode) and encode_response. Beyond "no crash, no leak, no hang" it checks what a user relies on:
// the response is valid JSON echoing the uid, a message is at most 1 KiB and a warning at most 256 bytes,
// and no Secret value reaches the response.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "manifests/loader.h"
#include "policies/engine.h"
#include "policies/loader.h"
#include "webhook/codec.h"

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

class FixtureState final : public gitgate::policies::DeclaredState {
 public:
  explicit FixtureState(std::shared_ptr<const gitgate::SnapshotWindow> window) : window_(std::move(window)) {}
  const gitgate::SnapshotWindow* window(const gitgate::policies::Policy&) const override {
    return window_.get();
  }

 private:
  std::shared_ptr<const gitgate::SnapshotWindow> window_;
};

struct Fixture {
  std::vector<gitgate::policies::PolicySet> sets;  // enforce, warn, audit
  std::unique_ptr<FixtureState> state;
};

std::string read_all(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) std::abort();
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  return out;
}

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture out;
    std::string base = std::string(GITGATE_SOURCE_DIR) + "/tests/fixtures/engine/";
    std::string policy = read_all(base + "policy.yaml");
    for (std::string_view mode : {"enforce", "warn", "audit"}) {
      std::string text = policy;
      text.replace(text.find("mode: enforce"), 13, "mode: " + std::string(mode));
      auto loaded = gitgate::policies::load_policies_from_text("policy.yaml", text);
      if (!loaded.ok()) std::abort();
      out.sets.push_back(std::move(loaded.set));
    }
    auto commit = std::make_shared<gitgate::CommitInfo>();
    commit->id = "3f2c1ab000000000000000000000000000000000";
    commit->author_name = "alice";
    commit->subject = "fuzz";
    auto snapshot =
        gitgate::manifests::snapshot_from_directory(base + "repo", out.sets[0].policies[0].source, commit);
    if (!snapshot) std::abort();
    auto window = std::make_shared<gitgate::SnapshotWindow>();
    window->snapshots.push_back(*snapshot);
    out.state = std::make_unique<FixtureState>(window);
    return out;
  }();
  return f;
}

bool secret_field(std::string_view key) {
  return key == "data" || key == "stringData";
}

// A value worth looking for in the response: long, alphanumeric (so escaping cannot hide it) and not
// hexadecimal (commit ids are).
bool distinctive(std::string_view s) {
  if (s.size() < 24) return false;
  bool non_hex = false;
  for (char c : s) {
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum) return false;
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) non_hex = true;
  }
  return non_hex;
}

// Strings of a Secret's data/stringData (values) and every other string and key of the review.
void collect(element e, bool in_secret_data, std::vector<std::string_view>& secrets,
             std::vector<std::string_view>& others, int depth = 0) {
  if (depth > 600) return;
  switch (e.type()) {
    case element_type::OBJECT:
      for (auto field : simdjson::dom::object(e)) {
        others.push_back(field.key);
        collect(field.value, in_secret_data, secrets, others, depth + 1);
      }
      break;
    case element_type::ARRAY:
      for (element child : simdjson::dom::array(e))
        collect(child, in_secret_data, secrets, others, depth + 1);
      break;
    case element_type::STRING:
      (in_secret_data ? secrets : others).push_back(e.get_string().value_unsafe());
      break;
    default:
      break;
  }
}

void check_secret_values(const gitgate::AdmissionRequest& request, element root,
                         const std::string& response) {
  if (request.kind.group != "" || request.kind.kind != "Secret") return;
  std::vector<std::string_view> secrets, others;
  for (const auto& object : {request.object, request.old_object}) {
    if (!object) continue;
    for (auto field : simdjson::dom::object(*object))
      if (secret_field(field.key)) collect(field.value, true, secrets, others);
  }
  if (secrets.empty()) return;
  // Everything else the review carries (a value may legitimately appear as a label too).
  std::vector<std::string_view> rest_secrets, rest;
  collect(root, false, rest_secrets, rest);
  for (std::string_view secret : secrets) {
    if (!distinctive(secret)) continue;
    size_t elsewhere = 0;
    for (std::string_view s : rest)
      if (s.find(secret) != std::string_view::npos) ++elsewhere;
    size_t as_secret = 0;
    for (std::string_view s : secrets)
      if (s.find(secret) != std::string_view::npos) ++as_secret;
    if (elsewhere > as_secret) continue;  // the same text also appears outside Secret data
    if (response.find(secret) != std::string::npos) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static gitgate::webhook::ReviewDecoder decoder;
  static gitgate::policies::Scratch scratch;
  static simdjson::dom::parser response_parser;
  static simdjson::dom::parser whole_parser;
  const Fixture& f = fixture();

  gitgate::webhook::PaddedBody body(std::string_view(reinterpret_cast<const char*>(data), size));
  auto request = decoder.decode(body.view());
  if (!request) {
    if (request.error().empty()) std::abort();  // a 400 must say why
    return 0;
  }
  const auto& set = f.sets[size % f.sets.size()];
  gitgate::Decision decision = gitgate::policies::evaluate(*request, set, *f.state, scratch);
  if (decision.message.size() > 1024) std::abort();
  for (const auto& warning : decision.warnings)
    if (warning.size() > 256) std::abort();

  std::string response = gitgate::webhook::encode_response(request->uid, decision);
  element root;
  if (response_parser.parse(response).get(root)) std::abort();  // always valid JSON
  std::string_view uid;
  if (root["response"]["uid"].get(uid) || uid != request->uid) std::abort();
  bool allowed = false;
  if (root["response"]["allowed"].get(allowed) || allowed != decision.allowed) std::abort();

  // The request points into the decoder's document; parse a second copy to walk the whole review.
  element whole;
  auto error = whole_parser.parse(body.view().data(), body.view().size(), true).get(whole);
  static std::string widened;  // integers beyond 64 bits, widened as the decoder widens them
  if (error == simdjson::NUMBER_ERROR && gitgate::webhook::widen_big_integers(body.view(), widened))
    error = whole_parser.parse(widened).get(whole);
  if (error) std::abort();
  check_secret_values(*request, whole, response);
  return 0;
}
