// libFuzzer target: two JSON documents (declared, then requested, split at the first NUL byte; without one
// the input is both; documents with a repeated key are skipped, as the decoder and the loader reject them)
// through the comparisons of policies/compare.h: contains(), diff_objects(), declares() and the path and
// value rendering of messages. Beyond "no crash, no leak, no hang" it checks:
// - a document contains itself and has no differences with itself (unless it needs more work than the
//   matching bound allows, or holds Flux's "$${" escape, which means a literal "${" in the cluster);
// - a failed containment always names at least one difference (a deny must say what differs);
// - every changed path that diff_objects() reports can be rendered and looked up with declares().
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "policies/compare.h"
#include "policies/loader.h"

namespace {

using gitgate::policies::CompareOptions;
using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr size_t kMaxDepth = 512;  // as the webhook decoder allows
// The same code as the webhook's 8M-node budget, at 1/32 of it: an input runs contains() four times, and
// at 1M nodes one that exhausts the budget took 1.2 s under ASan, so a campaign at nice 19 beside a build
// reported 10 s (wall-clock) timeouts.
constexpr size_t kMaxWork = size_t{1} << 18;

bool out_of_work(const std::vector<gitgate::policies::Difference>& differences) {
  for (const auto& d : differences)
    if (d.requested.find("gitgate's work bound") != std::string::npos) return true;
  return false;
}

// Documents with a repeated key are never compared: the webhook decoder and the manifest loader reject them.
bool has_duplicate_key(element e, int depth = 0) {
  if (depth > 600) return true;
  switch (e.type()) {
    case element_type::OBJECT: {
      std::vector<std::string_view> keys;
      for (auto field : simdjson::dom::object(e)) {
        keys.push_back(field.key);
        if (has_duplicate_key(field.value, depth + 1)) return true;
      }
      std::sort(keys.begin(), keys.end());
      return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
    }
    case element_type::ARRAY:
      for (element item : simdjson::dom::array(e))
        if (has_duplicate_key(item, depth + 1)) return true;
      return false;
    default:
      return false;
  }
}

// Whether self-containment is expected: every list small enough to be matched, no "$${" escape.
bool reflexive_case(element e) {
  switch (e.type()) {
    case element_type::OBJECT:
      for (auto field : simdjson::dom::object(e))
        if (!reflexive_case(field.value)) return false;
      return true;
    case element_type::ARRAY: {
      simdjson::dom::array items(e);
      if (items.size() > 64) return false;
      for (element item : items)
        if (!reflexive_case(item)) return false;
      return true;
    }
    case element_type::STRING:
      return e.get_string().value_unsafe().find("$${") == std::string_view::npos;
    default:
      return true;
  }
}

const std::vector<gitgate::policies::PathPattern>& ignore_patterns() {
  static const std::vector<gitgate::policies::PathPattern> patterns = [] {
    std::vector<gitgate::policies::PathPattern> out;
    for (std::string_view text :
         {"/spec/replicas", "/metadata/annotations/*", "/spec/template/spec/containers/*/image"}) {
      auto parsed = gitgate::policies::parse_path_pattern(text);
      if (!parsed) std::abort();
      out.push_back(*parsed);
    }
    return out;
  }();
  return patterns;
}

const std::vector<gitgate::Pattern>& governed_metadata() {
  static const std::vector<gitgate::Pattern> patterns{gitgate::Pattern("*.fluxcd.io/*"),
                                                      gitgate::Pattern("app.kubernetes.io/managed-by")};
  return patterns;
}

void exercise(element declared, element requested, bool secret) {
  static const std::map<std::string, std::string> substitute{{"cluster", "prod"}, {"replicas", "3"}};
  CompareOptions options;
  for (const auto& p : ignore_patterns()) options.ignored.push_back(&p);
  options.secret = secret;
  options.substitute = &substitute;
  options.max_work = kMaxWork;
  std::vector<gitgate::policies::Difference> differences;
  bool bound_hit = false;
  bool contained = gitgate::policies::contains(declared, requested, options, &differences, 3, &bound_hit);
  if (!contained && differences.empty()) std::abort();
  if (contained && bound_hit) std::abort();  // a bound never turns into a match
  if (contained != gitgate::policies::contains(declared, requested, options)) std::abort();

  std::vector<gitgate::policies::Change> changes;
  // A diff that stops early says so, and only at its bound: the caller then refuses what it did not see.
  bool complete = gitgate::policies::diff_objects(declared, requested, changes);
  if (!complete && changes.size() != gitgate::policies::kMaxChanges) std::abort();
  for (const auto& change : changes) {
    (void)gitgate::policies::render_path(change.path);
    if (change.before) (void)gitgate::policies::render_value(*change.before);
    if (change.after) (void)gitgate::policies::render_value(*change.after, 200);
    std::optional<element> at;
    (void)gitgate::policies::declares(declared, change.path, &at);
    (void)gitgate::policies::path_role(change.path, governed_metadata());
    (void)gitgate::policies::path_ignored(options.ignored, change.path);
  }
}

void check_self(element doc) {
  if (!reflexive_case(doc)) return;
  CompareOptions plain;
  plain.max_work = kMaxWork;
  std::vector<gitgate::policies::Difference> differences;
  if (!gitgate::policies::contains(doc, doc, plain, &differences) && !out_of_work(differences)) std::abort();
  std::vector<gitgate::policies::Change> changes;
  if (!gitgate::policies::diff_objects(doc, doc, changes) || !changes.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static simdjson::dom::parser declared_parser;
  static simdjson::dom::parser requested_parser;
  static const bool allocated =
      !declared_parser.allocate(1 << 16, kMaxDepth) && !requested_parser.allocate(1 << 16, kMaxDepth);
  if (!allocated) std::abort();
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t split = input.find('\0');
  std::string_view declared_text = input.substr(0, split);
  std::string_view requested_text = split == std::string_view::npos ? input : input.substr(split + 1);

  element declared, requested;
  if (declared_parser.parse(declared_text.data(), declared_text.size(), true).get(declared)) return 0;
  if (requested_parser.parse(requested_text.data(), requested_text.size(), true).get(requested)) return 0;
  if (has_duplicate_key(declared) || has_duplicate_key(requested)) return 0;
  exercise(declared, requested, size % 2 == 1);
  check_self(declared);
  if (split != std::string_view::npos) check_self(requested);  // otherwise the same document again
  return 0;
}
