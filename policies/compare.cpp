#include "policies/compare.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <functional>
#include <tuple>
#include <utility>

#include "core/json_writer.h"
#include "policies/quantity.h"

namespace gitgate::policies {
namespace {

using simdjson::dom::array;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr size_t kMaxMatchingCells = 4096;  // unordered list matching is n*m containment checks

bool is_scalar(element e) { return e.type() != element_type::OBJECT && e.type() != element_type::ARRAY; }

std::optional<element> member(element obj, std::string_view key) {
  element v;
  if (obj.type() != element_type::OBJECT || object(obj)[key].get(v)) return std::nullopt;
  return v;
}

// Keys under which Kubernetes holds resource quantities (resources, quotas, limit ranges, capacity).
bool quantity_parent(std::string_view key) {
  static constexpr std::string_view kKeys[] = {"limits", "requests", "hard", "used", "capacity", "allocatable",
                                               "max", "min", "default", "defaultRequest", "maxLimitRequestRatio",
                                               "overhead", "podFixed"};
  return std::find(std::begin(kKeys), std::end(kKeys), key) != std::end(kKeys);
}

// The fields of an object by key. simdjson finds a key by scanning, so looking up every key of one object in
// another costs fields x keys: a 40,000-key map edited in one place took 2.8 s to diff, and a 7 MiB body
// minutes. Past kScanCells, the fields are sorted once and found by binary search.
class FieldFinder {
 public:
  static constexpr size_t kScanCells = 1024;

  // `lookups`: how many keys will be looked up.
  FieldFinder(element obj, size_t lookups) : object_(obj) {
    if (obj.type() != element_type::OBJECT) return;
    size_t fields = object(obj).size();
    if (fields < 2 || fields * lookups <= kScanCells) return;
    sorted_.reserve(fields);
    for (auto field : object(obj)) sorted_.emplace_back(field.key, field.value);
    // Stable: the first of equal keys wins, as with a scan (decoded requests never repeat a key).
    std::stable_sort(sorted_.begin(), sorted_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
  }

  std::optional<element> find(std::string_view key) const {
    if (sorted_.empty()) return member(object_, key);
    auto it = std::lower_bound(sorted_.begin(), sorted_.end(), key,
                               [](const auto& field, std::string_view k) { return field.first < k; });
    if (it == sorted_.end() || it->first != key) return std::nullopt;
    return it->second;
  }

  // Fields sorted (the work done beyond a scan).
  size_t indexed() const { return sorted_.size(); }

 private:
  element object_;
  std::vector<std::pair<std::string_view, element>> sorted_;
};

// The field that identifies items of a well-known list (the strategic-merge key), if `item` has it.
std::string_view merge_field(std::string_view list_key, element item) {
  if (item.type() != element_type::OBJECT) return {};
  auto has = [&](std::string_view f) { return member(item, f).has_value(); };
  std::string_view field;
  if (list_key == "containers" || list_key == "initContainers" || list_key == "ephemeralContainers" ||
      list_key == "env" || list_key == "volumes" || list_key == "imagePullSecrets" || list_key == "resourceClaims" ||
      list_key == "webhooks") {
    field = "name";
  } else if (list_key == "volumeMounts") {
    field = "mountPath";
  } else if (list_key == "volumeDevices") {
    field = "devicePath";
  } else if (list_key == "conditions") {
    field = "type";
  } else if (list_key == "readinessGates") {
    field = "conditionType";
  } else if (list_key == "hostAliases") {
    field = "ip";
  } else if (list_key == "topologySpreadConstraints") {
    field = "topologyKey";
  } else if (list_key == "ports") {
    field = has("containerPort") ? "containerPort" : "port";
  }
  return !field.empty() && has(field) ? field : std::string_view{};
}

// The common merge field of every item, or "" when the list is matched as a whole/positionally.
std::string_view list_merge_field(std::string_view list_key, element items) {
  std::string_view field;
  bool first = true;
  for (element item : array(items)) {
    std::string_view f = merge_field(list_key, item);
    if (f.empty() || (!first && f != field)) return {};
    field = f;
    first = false;
  }
  return field;
}

// The items of a keyed list by their merge-key value, for matching one list against another without a
// scan per item: binary search over string keys (name, mountPath, type: the usual case) and over number
// keys (containerPort, port) sorted by value. Matches exactly what a scan with values_equal would; a scan
// per item is what let a 60,000-port edit hold a request thread for half a minute. Keys of other types
// (bool, null, objects) never occur in Kubernetes and are scanned.
class KeyIndex {
 public:
  KeyIndex(array items, std::string_view field) {
    size_t index = 0;
    for (element item : items) {
      size_t position = index++;
      auto key = member(item, field);
      if (!key) continue;  // matches nothing
      switch (key->type()) {
        case element_type::STRING:
          strings_.push_back({std::string_view(*key), position, item});
          break;
        case element_type::INT64:
        case element_type::UINT64:
        case element_type::DOUBLE:
          numbers_.push_back({Number::of(*key), position, item});
          break;
        default:
          others_.push_back({*key, position, item});
          break;
      }
    }
    std::sort(strings_.begin(), strings_.end(), [](const StringEntry& a, const StringEntry& b) {
      return a.key != b.key ? a.key < b.key : a.index < b.index;
    });
    std::sort(numbers_.begin(), numbers_.end(), [](const NumberEntry& a, const NumberEntry& b) {
      return a.key.order() != b.key.order() ? a.key.order() < b.key.order() : a.index < b.index;
    });
  }

  // Calls f(item, position) for every item whose key equals `key`, in list order.
  template <class F>
  void for_each_match(element key, F&& f) const {
    switch (key.type()) {
      case element_type::STRING: {
        std::string_view text(key);
        auto it = std::lower_bound(strings_.begin(), strings_.end(), text,
                                   [](const StringEntry& e, std::string_view k) { return e.key < k; });
        for (; it != strings_.end() && it->key == text; ++it) f(it->item, it->index);
        return;
      }
      case element_type::INT64:
      case element_type::UINT64:
      case element_type::DOUBLE: {
        Number k = Number::of(key);
        // Equal numbers have equal double values; the run of those is checked exactly (3 == 3.0, but two
        // integers above 2^53 that round to the same double differ).
        auto [first, last] = std::equal_range(numbers_.begin(), numbers_.end(), k.value, ByValue{});
        std::vector<const NumberEntry*> matches;
        for (auto it = first; it != last; ++it)
          if (k.equals(it->key)) matches.push_back(&*it);
        std::sort(matches.begin(), matches.end(), [](auto* a, auto* b) { return a->index < b->index; });
        for (const NumberEntry* m : matches) f(m->item, m->index);
        return;
      }
      default:
        for (const OtherEntry& e : others_)
          if (values_equal(key, e.key, false)) f(e.item, e.index);
        return;
    }
  }

  // No two items share a key.
  bool unique() const {
    for (size_t i = 1; i < strings_.size(); ++i)
      if (strings_[i - 1].key == strings_[i].key) return false;
    for (auto run = numbers_.begin(); run != numbers_.end();) {
      auto end = std::upper_bound(run, numbers_.end(), run->key.value, ByValue{});
      // Within a run of one double value: a double equals every member; integers compare exactly and are
      // sorted by (sign, magnitude), so equal ones are adjacent.
      if (end - run > 1 && run->key.is_double) return false;
      for (auto it = run + 1; it < end; ++it)
        if (it->key.equals((it - 1)->key)) return false;
      run = end;
    }
    // Only bool, null or objects: more than three such keys cannot all differ in any real list.
    if (others_.size() > 3) return false;
    for (size_t i = 0; i < others_.size(); ++i)
      for (size_t j = i + 1; j < others_.size(); ++j)
        if (values_equal(others_[i].key, others_[j].key, false)) return false;
    return true;
  }

 private:
  // A JSON number as values_equal compares it: by double value when either side is a double, exactly
  // (sign and magnitude) when both are integers.
  struct Number {
    double value = 0;
    bool is_double = false;
    bool negative = false;
    uint64_t magnitude = 0;

    static Number of(element e) {
      Number n;
      if (e.type() == element_type::DOUBLE) {
        n.value = double(e) + 0.0;  // -0.0 == 0.0
        n.is_double = true;
      } else if (e.type() == element_type::INT64) {
        int64_t v = int64_t(e);
        n.value = static_cast<double>(v);
        n.negative = v < 0;
        n.magnitude = static_cast<uint64_t>(v);
      } else {
        uint64_t v = uint64_t(e);
        n.value = static_cast<double>(v);
        n.magnitude = v;
      }
      return n;
    }
    bool equals(const Number& o) const {
      if (is_double || o.is_double) return value == o.value;
      return negative == o.negative && magnitude == o.magnitude;
    }
    // Doubles first within a run of equal values, so unique() finds them at its start.
    std::tuple<double, bool, bool, uint64_t> order() const {
      return {value, !is_double, negative, magnitude};
    }
  };
  struct StringEntry {
    std::string_view key;
    size_t index;
    element item;
  };
  struct NumberEntry {
    Number key;
    size_t index;
    element item;
  };
  struct OtherEntry {
    element key;
    size_t index;
    element item;
  };
  struct ByValue {
    bool operator()(const NumberEntry& e, double v) const { return e.key.value < v; }
    bool operator()(double v, const NumberEntry& e) const { return v < e.key.value; }
  };

  std::vector<StringEntry> strings_;
  std::vector<NumberEntry> numbers_;
  std::vector<OtherEntry> others_;
};

std::string scalar_text(element e) {
  switch (e.type()) {
    case element_type::STRING: return std::string(std::string_view(e));
    case element_type::INT64: return std::to_string(int64_t(e));
    case element_type::UINT64: return std::to_string(uint64_t(e));
    case element_type::DOUBLE: {
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, double(e));
      return std::string(buf, r.ptr);
    }
    case element_type::BOOL: return bool(e) ? "true" : "false";
    default: return {};
  }
}

std::optional<Quantity> as_quantity(element e) {
  if (e.type() == element_type::STRING) return parse_quantity(std::string_view(e));
  if (e.type() == element_type::INT64 || e.type() == element_type::UINT64 || e.type() == element_type::DOUBLE)
    return parse_quantity(scalar_text(e));
  return std::nullopt;
}

bool is_number(element e) {
  auto t = e.type();
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

bool numbers_equal(element a, element b) {
  auto ta = a.type(), tb = b.type();
  if (ta == element_type::DOUBLE || tb == element_type::DOUBLE) {
    auto to_double = [](element e) {
      if (e.type() == element_type::INT64) return static_cast<double>(int64_t(e));
      if (e.type() == element_type::UINT64) return static_cast<double>(uint64_t(e));
      return double(e);
    };
    return to_double(a) == to_double(b);
  }
  if (ta == tb) return ta == element_type::INT64 ? int64_t(a) == int64_t(b) : uint64_t(a) == uint64_t(b);
  int64_t s = ta == element_type::INT64 ? int64_t(a) : int64_t(b);
  uint64_t u = ta == element_type::UINT64 ? uint64_t(a) : uint64_t(b);
  return s >= 0 && static_cast<uint64_t>(s) == u;
}

// A Flux postBuild string: literal parts and ${var} placeholders (unknown ones match anything).
bool placeholder_match(std::string_view declared, std::string_view subject,
                       const std::map<std::string, std::string>* substitute) {
  struct Part {
    bool wildcard;
    std::string text;
  };
  std::vector<Part> parts{{false, {}}};
  for (size_t i = 0; i < declared.size();) {
    if (declared.compare(i, 3, "$${") == 0) {
      parts.back().text += "${";
      i += 3;
      continue;
    }
    if (declared.compare(i, 2, "${") == 0) {
      size_t end = declared.find('}', i + 2);
      if (end == std::string_view::npos) {
        parts.back().text.append(declared.substr(i));
        break;
      }
      std::string_view expr = declared.substr(i + 2, end - i - 2);
      std::string_view name = expr.substr(0, expr.find_first_of(":"));
      const std::string* value = nullptr;
      if (substitute != nullptr) {
        auto it = substitute->find(std::string(name));
        if (it != substitute->end()) value = &it->second;
      }
      if (value != nullptr) {
        parts.back().text += *value;
      } else {
        parts.push_back({true, {}});
        parts.push_back({false, {}});
      }
      i = end + 1;
      continue;
    }
    parts.back().text += declared[i++];
  }
  // Greedy glob match over literal parts separated by wildcards.
  size_t pos = 0;
  bool anchored = true;
  for (size_t k = 0; k < parts.size(); ++k) {
    const Part& p = parts[k];
    if (p.wildcard) {
      anchored = false;
      continue;
    }
    bool last = k + 1 == parts.size();
    if (anchored) {
      if (subject.compare(pos, p.text.size(), p.text) != 0) return false;
      pos += p.text.size();
    } else if (last) {
      if (subject.size() < pos + p.text.size()) return false;
      if (subject.compare(subject.size() - p.text.size(), p.text.size(), p.text) != 0) return false;
      pos = subject.size();
    } else {
      size_t found = subject.find(p.text, pos);
      if (found == std::string_view::npos) return false;
      pos = found + p.text.size();
    }
    anchored = true;
  }
  return pos == subject.size();
}

bool item_segment_matches(const PathSegment& seg, std::string_view pattern) {
  if (pattern == std::to_string(seg.index)) return true;
  if (seg.key.empty() || !seg.item_key) return false;
  auto eq = pattern.find('=');
  if (eq == std::string_view::npos) return false;
  return pattern.substr(0, eq) == seg.key && pattern.substr(eq + 1) == scalar_text(*seg.item_key);
}

bool simple_key(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

// The same JSON in the same order: keys, items, scalar types and values. The API server writes object and
// oldObject alike, so most subtrees of an update are identical and need no key-by-key walk. (Requests never
// repeat a key: the decoder rejects them, so an identical subtree holds no change.)
// With `as_declaration`, also false where containment is more than equality: strings with Flux ${var}
// placeholders (the policy may substitute other values) and lists of more than 64 objects (unordered
// matching gives up beyond kMaxMatchingCells); then identical(Git's, request's, true) implies containment,
// and most of a declaration (env items, labels, selectors, probes) is contained as it is written.
// `visits` counts the nodes compared; past `max_visits` the answer is false ("not shown identical").
bool identical(element a, element b, bool as_declaration = false, size_t* visits = nullptr,
               size_t max_visits = SIZE_MAX) {
  if (visits != nullptr && ++*visits > max_visits) return false;
  auto type = a.type();
  if (type != b.type()) return false;
  switch (type) {
    case element_type::OBJECT: {
      object oa(a), ob(b);
      if (oa.size() != ob.size()) return false;
      auto ib = ob.begin();
      for (auto ia = oa.begin(); ia != oa.end(); ++ia, ++ib) {
        if (ib == ob.end() || ia.key() != ib.key() ||
            !identical(ia.value(), ib.value(), as_declaration, visits, max_visits))
          return false;
      }
      return ib == ob.end();
    }
    case element_type::ARRAY: {
      array xa(a), xb(b);
      if (xa.size() != xb.size()) return false;
      if (as_declaration && xa.size() * xa.size() > kMaxMatchingCells) return false;
      auto ib = xb.begin();
      for (element item : xa) {
        if (ib == xb.end() || !identical(item, *ib, as_declaration, visits, max_visits)) return false;
        ++ib;
      }
      return ib == xb.end();
    }
    case element_type::STRING: {
      std::string_view text(a);
      if (as_declaration && text.find("${") != std::string_view::npos) return false;
      return text == std::string_view(b);
    }
    case element_type::INT64: return int64_t(a) == int64_t(b);
    case element_type::UINT64: return uint64_t(a) == uint64_t(b);
    case element_type::DOUBLE: return double(a) == double(b);
    case element_type::BOOL: return bool(a) == bool(b);
    case element_type::NULL_VALUE: return true;
  }
  return false;
}

class Containment {
 public:
  Containment(const CompareOptions& options, std::vector<Difference>* differences, size_t max)
      : options_(options), differences_(differences), max_(max) {}

  bool check(element declared, std::optional<element> requested, std::string_view parent_key) {
    if (++work_ > options_.max_work) return too_much_matching(declared, requested);
    if (!options_.ignored.empty() && path_ignored(options_.ignored, path_)) return true;
    if (requested && identical(declared, *requested, /*as_declaration=*/true, &work_)) return true;
    if (is_empty_value(declared)) {
      if (!requested || is_empty_value(*requested)) return true;
      if (declared.type() == element_type::OBJECT && requested->type() == element_type::OBJECT) return true;
      if (declared.type() == element_type::ARRAY && requested->type() == element_type::ARRAY &&
          !is_scalar((*array(*requested).begin()))) {
        return true;
      }
      return differ(declared, requested);
    }
    if (!requested) return differ(declared, requested);
    switch (declared.type()) {
      case element_type::OBJECT: return check_object(declared, *requested);
      case element_type::ARRAY: return check_array(declared, *requested);
      case element_type::STRING: {
        std::string_view text(declared);
        if (text.find("${") != std::string_view::npos && is_scalar(*requested) &&
            requested->type() != element_type::NULL_VALUE) {
          if (placeholder_match(text, scalar_text(*requested), options_.substitute)) return true;
          return differ(declared, requested);
        }
        [[fallthrough]];
      }
      default:
        if (values_equal(declared, *requested, quantity_parent(parent_key))) return true;
        return differ(declared, requested);
    }
  }

  // Silent containment for matching candidates (no differences recorded, same path context).
  bool quietly(element declared, element requested, std::string_view parent_key) {
    auto* saved = differences_;
    differences_ = nullptr;
    bool ok = check(declared, requested, parent_key);
    differences_ = saved;
    return ok;
  }

 private:
  bool check_object(element declared, element requested) {
    if (requested.type() != element_type::OBJECT) return differ(declared, requested);
    bool ok = true;
    bool root = path_.empty();
    bool in_metadata = path_.size() == 1 && path_[0].key == "metadata" && !path_[0].is_item;
    std::string_view map_key = root ? std::string_view{} : path_.back().key;
    const FieldFinder requested_fields(requested, object(declared).size());
    work_ += requested_fields.indexed();
    for (auto field : object(declared)) {
      std::string_view key = field.key;
      if (root && (key == "apiVersion" || key == "status")) continue;  // group/kind matched; version may differ
      if (root && options_.secret && (key == "data" || key == "stringData")) continue;  // never compared
      // The namespace was matched by the lookup (a stray one on a cluster-scoped kind is dropped by the API
      // server, so the request has none).
      if (in_metadata && (key == "uid" || key == "resourceVersion" || key == "generation" ||
                          key == "creationTimestamp" || key == "managedFields" || key == "selfLink" ||
                          key == "namespace"))
        continue;
      path_.push_back({key, std::nullopt, 0, false});
      bool child_ok = check(field.value, requested_fields.find(key), map_key);
      path_.pop_back();
      if (!child_ok) {
        ok = false;
        if (!collecting()) return false;
      }
    }
    return ok;
  }

  bool check_array(element declared_list, element requested) {
    if (requested.type() != element_type::ARRAY) return differ(declared_list, requested);
    array req(requested);
    array declared(declared_list);
    std::string_view list_key = path_.empty() ? std::string_view{} : path_.back().key;
    element first = *declared.begin();
    if (is_scalar(first)) {
      // Scalar lists (args, command) must be equal, in order. The difference names the first item that
      // differs, not both whole lists.
      auto r = req.begin();
      size_t i = 0;
      for (element d : declared) {
        if (i == req.size()) {
          path_.push_back({{}, std::nullopt, i, true});
          bool ok = differ(d, std::nullopt);
          path_.pop_back();
          return ok;
        }
        if (!values_equal(d, *r, false) &&
            !(d.type() == element_type::STRING && std::string_view(d).find("${") != std::string_view::npos &&
              placeholder_match(std::string_view(d), scalar_text(*r), options_.substitute))) {
          path_.push_back({{}, std::nullopt, i, true});
          bool ok = differ(d, *r);
          path_.pop_back();
          return ok;
        }
        ++r;
        ++i;
      }
      if (declared.size() != req.size()) {
        path_.push_back({{}, std::nullopt, i, true});
        if (collecting()) differences_->push_back({render_path(path_), "no such item", render_value(*r)});
        path_.pop_back();
        return false;
      }
      return true;
    }
    std::string_view field = list_merge_field(list_key, declared_list);
    if (!field.empty()) return check_keyed(declared, req, list_key, field);
    return check_unordered(declared_list, requested, list_key);
  }

  bool check_keyed(array declared, array requested, std::string_view list_key, std::string_view field) {
    bool ok = true;
    size_t index = 0;
    const KeyIndex requested_by_key(requested, field);
    for (element d : declared) {
      element key_value = *member(d, field);
      auto d_protocol = member(d, "protocol");
      path_.push_back({field, key_value, index++, true});
      std::optional<element> match;
      requested_by_key.for_each_match(key_value, [&](element r, size_t r_index) {
        auto r_protocol = member(r, "protocol");
        bool protocol_ok = !d_protocol || (r_protocol && values_equal(*d_protocol, *r_protocol, false));
        if (protocol_ok && (!match || quietly(d, r, list_key))) {
          match = r;
          path_.back().index = r_index;
        }
      });
      bool item_ok = check(d, match, list_key);
      path_.pop_back();
      if (!item_ok) {
        ok = false;
        if (!collecting()) return false;
      }
    }
    return ok;
  }

  // Each declared item needs a distinct requested item that contains it; controllers reorder lists.
  bool check_unordered(element declared, element requested, std::string_view list_key) {
    std::vector<element> ds(array(declared).begin(), array(declared).end());
    std::vector<element> rs(array(requested).begin(), array(requested).end());
    if (ds.size() > rs.size()) return differ(declared, requested);
    if (ds.size() * rs.size() > kMaxMatchingCells) {
      bound_hit_ = true;
      return differ(declared, requested, " (too many list items to match in any order: keep Git's order)");
    }
    // Item by item first: an agent applies Git's list in Git's order, so one pass usually settles it.
    bool in_order = true;
    for (size_t i = 0; i < ds.size() && in_order; ++i) {
      path_.push_back({{}, std::nullopt, i, true});
      in_order = quietly(ds[i], rs[i], list_key);
      path_.pop_back();
    }
    if (in_order) return true;
    matched_in_any_order_ = true;
    // Each cell visits at least one node: give up now rather than after most of the budget.
    if (work_ + ds.size() * rs.size() > options_.max_work) return too_much_matching(declared, requested);
    std::vector<std::vector<bool>> fits(ds.size(), std::vector<bool>(rs.size()));
    for (size_t i = 0; i < ds.size(); ++i) {
      for (size_t j = 0; j < rs.size(); ++j) {
        path_.push_back({{}, std::nullopt, j, true});
        fits[i][j] = quietly(ds[i], rs[j], list_key);
        path_.pop_back();
      }
    }
    if (work_ > options_.max_work) return too_much_matching(declared, requested);
    // Kuhn's augmenting paths: a perfect matching of declared items into requested ones.
    std::vector<int> owner(rs.size(), -1);
    std::vector<bool> visited;
    std::function<bool(size_t)> augment = [&](size_t i) {
      for (size_t j = 0; j < rs.size(); ++j) {
        if (!fits[i][j] || visited[j]) continue;
        visited[j] = true;
        if (owner[j] < 0 || augment(static_cast<size_t>(owner[j]))) {
          owner[j] = static_cast<int>(i);
          return true;
        }
      }
      return false;
    };
    for (size_t i = 0; i < ds.size(); ++i) {
      visited.assign(rs.size(), false);
      if (!augment(i)) {
        path_.push_back({{}, std::nullopt, i, true});
        // Show the closest explanation: compare with the same position when there is one.
        std::optional<element> same = i < rs.size() ? std::optional<element>(rs[i]) : std::nullopt;
        bool fits_same_position = check(ds[i], same, list_key);
        path_.pop_back();
        if (fits_same_position) differ(declared, requested);
        return false;
      }
    }
    return true;
  }

  bool collecting() const { return differences_ != nullptr && differences_->size() < max_; }

 public:
  // A work or matching bound was hit: the answer "not contained" is gitgate failing closed, not a finding.
  bool bound_hit() const { return bound_hit_; }

 private:

  // Fails closed: gitgate cannot confirm the request holds what Git declares, and says how to fix it, once
  // (every node left would fail the same way). Lists matched in any order are what spends the bound.
  bool too_much_matching(element declared, std::optional<element> requested) {
    bound_hit_ = true;
    if (out_of_work_reported_ || !collecting()) return false;
    out_of_work_reported_ = true;
    return differ(
        declared, requested,
        matched_in_any_order_
            ? " (too many list items to match in any order, past gitgate's work bound: keep Git's order)"
            : " (too large to compare within gitgate's work bound: declare less of this object in Git)");
  }

  bool differ(element declared, std::optional<element> requested, std::string_view note = {}) {
    if (collecting()) {
      Difference d;
      d.path = render_path(path_);
      d.declared = render_value(declared);
      d.requested = requested ? render_value(*requested) : "absent";
      d.requested += note;
      differences_->push_back(std::move(d));
    }
    return false;
  }

  const CompareOptions& options_;
  std::vector<Difference>* differences_;
  size_t max_;
  ObjectPath path_;
  // Nodes visited so far (containment steps plus the nodes identical() compares), against
  // options_.max_work. Lists nested in unordered lists multiply their cells and every cell compares a
  // whole subtree: counting cells alone let 12 KiB of nested lists run for seconds (five levels of 8 took
  // minutes before cells were counted).
  size_t work_ = 0;
  bool out_of_work_reported_ = false;
  bool matched_in_any_order_ = false;
  bool bound_hit_ = false;
};

bool server_managed(const ObjectPath& path) {
  auto key = [&](size_t i) { return path[i].is_item ? std::string_view{} : path[i].key; };
  if (path.size() == 1) return key(0) == "status";
  if (path.size() == 2 && key(0) == "metadata") {
    auto k = key(1);
    return k == "uid" || k == "resourceVersion" || k == "generation" || k == "creationTimestamp" ||
           k == "managedFields" || k == "selfLink" || k == "deletionTimestamp" || k == "deletionGracePeriodSeconds";
  }
  if (path.size() == 3 && key(0) == "metadata" && key(1) == "annotations")
    return key(2) == "kubectl.kubernetes.io/last-applied-configuration" || key(2) == "deployment.kubernetes.io/revision";
  if (path.size() == 5 && key(0) == "spec" && key(1) == "template" && key(2) == "metadata" &&
      key(3) == "annotations")
    return key(4) == "kubectl.kubernetes.io/restartedAt";
  return false;
}

class Differ {
 public:
  Differ(std::vector<Change>& out, size_t limit) : out_(out), limit_(limit) {}

  // `map_key`: the key of the map holding this value (quantity context).
  bool walk(std::optional<element> before, std::optional<element> after, std::string_view map_key) {
    if (out_.size() >= limit_) return false;
    if (!path_.empty() && server_managed(path_)) return true;
    // Only below the top level: the root, metadata and status hold server-managed fields (managedFields,
    // resourceVersion) that differ in most updates and are skipped anyway, so comparing them whole is wasted.
    // A shortcut only: the walk finds the same changes, so it stops once spent.
    if (path_.size() >= 2 && before && after && shortcut_visits_ <= kShortcutVisits &&
        identical(*before, *after, false, &shortcut_visits_, kShortcutVisits))
      return true;
    // Absent, null and empty mean the same thing: unset.
    bool before_unset = !before || is_empty_value(*before);
    bool after_unset = !after || is_empty_value(*after);
    if (before_unset && after_unset) return true;
    if (!before || !after) {
      // A map added or removed as a whole is reported key by key, so each path is judged on its own.
      auto present = before ? *before : *after;
      if (present.type() == element_type::OBJECT) {
        std::string_view key = path_.empty() ? std::string_view{} : path_.back().key;
        for (auto field : object(present)) {
          path_.push_back({field.key, std::nullopt, 0, false});
          bool more = before ? walk(field.value, std::nullopt, key) : walk(std::nullopt, field.value, key);
          path_.pop_back();
          if (!more) return false;
        }
        return true;
      }
      return add(before, after);
    }
    auto tb = before->type(), ta = after->type();
    if (tb == element_type::OBJECT && ta == element_type::OBJECT) return walk_objects(*before, *after);
    if (tb == element_type::ARRAY && ta == element_type::ARRAY) return walk_arrays(*before, *after);
    if (values_equal(*before, *after, quantity_parent(map_key))) return true;
    return add(before, after);
  }

 private:
  bool walk_objects(element before, element after) {
    std::string_view map_key = path_.empty() ? std::string_view{} : path_.back().key;
    const FieldFinder after_fields(after, object(before).size());
    for (auto field : object(before)) {
      path_.push_back({field.key, std::nullopt, 0, false});
      bool more = walk(field.value, after_fields.find(field.key), map_key);
      path_.pop_back();
      if (!more) return false;
    }
    const FieldFinder before_fields(before, object(after).size());
    for (auto field : object(after)) {
      if (before_fields.find(field.key)) continue;
      path_.push_back({field.key, std::nullopt, 0, false});
      bool more = walk(std::nullopt, field.value, map_key);
      path_.pop_back();
      if (!more) return false;
    }
    return true;
  }

  bool walk_arrays(element before_list, element after_list) {
    array before(before_list), after(after_list);
    std::string_view list_key = path_.empty() ? std::string_view{} : path_.back().key;
    std::string_view field = list_merge_field(list_key, before_list);
    std::string_view field_after = list_merge_field(list_key, after_list);
    bool keyed = !field.empty() && field == field_after && before.size() > 0 && after.size() > 0;
    std::optional<KeyIndex> before_by_key, after_by_key;
    if (keyed) {
      before_by_key.emplace(before, field);
      after_by_key.emplace(after, field);
      keyed = before_by_key->unique() && after_by_key->unique();
    }
    if (keyed) {
      size_t i = 0;
      for (element b : before) {
        element key_value = *member(b, field);
        std::optional<element> match;
        size_t match_index = 0;
        after_by_key->for_each_match(key_value, [&](element a, size_t j) {
          match = a;
          match_index = j;
        });
        path_.push_back({field, key_value, match ? match_index : i, true});
        bool more = walk(b, match, list_key);
        path_.pop_back();
        if (!more) return false;
        ++i;
      }
      size_t j = 0;
      for (element a : after) {
        element key_value = *member(a, field);
        bool existed = false;
        before_by_key->for_each_match(key_value, [&](element, size_t) { existed = true; });
        if (!existed) {
          path_.push_back({field, key_value, j, true});
          bool more = add(std::nullopt, a);
          path_.pop_back();
          if (!more) return false;
        }
        ++j;
      }
      return true;
    }
    if (before.size() != after.size()) return add(before_list, after_list);
    bool scalars = before.size() == 0 || is_scalar(*before.begin());
    auto a = after.begin();
    size_t i = 0;
    for (element b : before) {
      if (scalars) {
        if (!values_equal(b, *a, false)) return add(before_list, after_list);
      } else {
        path_.push_back({{}, std::nullopt, i, true});
        bool more = walk(b, *a, list_key);
        path_.pop_back();
        if (!more) return false;
      }
      ++a;
      ++i;
    }
    return true;
  }

  bool add(std::optional<element> before, std::optional<element> after) {
    out_.push_back({path_, before, after});
    return out_.size() < limit_;
  }

  // identical() at each level compares again what lies below it: a chain 500 objects deep with 1,500
  // fields beside each link, edited at its end (6.9 MB), took 6.9 s. The walk alone is linear.
  static constexpr size_t kShortcutVisits = size_t{1} << 20;

  std::vector<Change>& out_;
  size_t limit_;
  ObjectPath path_;
  size_t shortcut_visits_ = 0;
};

bool declares_anything(element e) {
  if (is_empty_value(e)) return false;
  if (e.type() == element_type::OBJECT) {
    for (auto field : object(e))
      if (declares_anything(field.value)) return true;
    return false;
  }
  return true;
}

}  // namespace

std::string render_path(const ObjectPath& path) {
  std::string out;
  for (const auto& seg : path) {
    if (seg.is_item) {
      out += '[';
      if (!seg.key.empty() && seg.item_key) {
        out.append(seg.key).append("=").append(scalar_text(*seg.item_key));
      } else {
        out += std::to_string(seg.index);
      }
      out += ']';
    } else if (simple_key(seg.key)) {
      if (!out.empty()) out += '.';
      out.append(seg.key);
    } else {
      out += '[';
      append_json_string(out, seg.key);
      out += ']';
    }
  }
  return out.empty() ? std::string("(object)") : out;
}

std::string render_value(element value, size_t max_chars) {
  std::string text;
  if (value.type() == element_type::STRING) {
    append_json_string(text, std::string_view(value));
  } else {
    text = simdjson::minify(value);
  }
  if (text.size() > max_chars) {
    size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
    text.resize(cut);
    text += "\xE2\x80\xA6";
  }
  return text;
}

bool is_empty_value(element value) {
  switch (value.type()) {
    case element_type::NULL_VALUE: return true;
    case element_type::STRING: return std::string_view(value).empty();
    case element_type::OBJECT: return object(value).size() == 0;
    case element_type::ARRAY: return array(value).size() == 0;
    default: return false;
  }
}

bool values_equal(element a, element b, bool quantity_context) {
  auto ta = a.type(), tb = b.type();
  if (quantity_context && (ta == element_type::STRING || is_number(a)) && (tb == element_type::STRING || is_number(b))) {
    auto qa = as_quantity(a), qb = as_quantity(b);
    if (qa && qb) return *qa == *qb;
  }
  if (is_number(a) && is_number(b)) return numbers_equal(a, b);
  if (ta != tb) return false;
  switch (ta) {
    case element_type::STRING: return std::string_view(a) == std::string_view(b);
    case element_type::BOOL: return bool(a) == bool(b);
    case element_type::NULL_VALUE: return true;
    case element_type::OBJECT: {
      object oa(a), ob(b);
      if (oa.size() != ob.size()) return false;
      for (auto field : oa) {
        auto other = member(b, field.key);
        if (!other || !values_equal(field.value, *other, quantity_parent(field.key))) return false;
      }
      return true;
    }
    case element_type::ARRAY: {
      array xa(a), xb(b);
      if (xa.size() != xb.size()) return false;
      auto it = xb.begin();
      for (element e : xa) {
        if (!values_equal(e, *it, false)) return false;
        ++it;
      }
      return true;
    }
    default: return false;
  }
}

bool path_ignored(const std::vector<const PathPattern*>& ignored, const ObjectPath& path) {
  for (const PathPattern* pattern : ignored) {
    const auto& segs = pattern->segments;
    if (segs.size() > path.size()) continue;
    bool match = true;
    for (size_t i = 0; i < segs.size() && match; ++i) {
      const std::string& p = segs[i];
      if (p == "*") continue;
      match = path[i].is_item ? item_segment_matches(path[i], p) : p == path[i].key;
    }
    if (match) return true;
  }
  return false;
}

bool contains(element declared, element requested, const CompareOptions& options, std::vector<Difference>* differences,
              size_t max_differences, bool* bound_hit) {
  Containment c(options, differences, max_differences);
  bool ok = c.check(declared, requested, {});
  if (bound_hit != nullptr) *bound_hit = !ok && c.bound_hit();
  return ok;
}

bool diff_objects(element before, element after, std::vector<Change>& changes, size_t limit) {
  Differ d(changes, limit);
  return d.walk(before, after, {});
}

bool declares(element root, const ObjectPath& path, std::optional<element>* at) {
  element node = root;
  std::string_view last_key;
  auto found = [&](element e) {
    if (at != nullptr) *at = e;
    return true;
  };
  for (const auto& seg : path) {
    if (node.type() == element_type::ARRAY) {
      array items(node);
      std::string_view field = list_merge_field(last_key, node);
      if (field.empty() || !seg.is_item || seg.key != field || !seg.item_key) {
        // A list Git declares as a whole (scalars, or objects without a merge key).
        return declares_anything(node) && found(node);
      }
      std::optional<element> match;
      for (element item : items) {
        auto k = member(item, field);
        if (k && values_equal(*k, *seg.item_key, false)) match = item;
      }
      if (!match) return false;
      node = *match;
      continue;
    }
    if (node.type() != element_type::OBJECT) return declares_anything(node) && found(node);
    if (seg.is_item) return false;
    auto child = member(node, seg.key);
    if (!child) return false;
    node = *child;
    last_key = seg.key;
  }
  return declares_anything(node) && found(node);
}

PathRole path_role(const ObjectPath& path, const std::vector<Pattern>& governed_metadata) {
  if (path.empty() || path[0].is_item) return PathRole::Metadata;
  std::string_view root = path[0].key;
  if (root != "metadata") {
    return root == "apiVersion" || root == "kind" || root == "status" ? PathRole::Metadata : PathRole::Body;
  }
  if (path.size() < 2 || path[1].is_item) return PathRole::Metadata;
  std::string_view field = path[1].key;
  if (field == "finalizers" || field == "ownerReferences") return PathRole::Lifecycle;
  if (field == "labels" || field == "annotations") {
    // A whole map added or removed is reported key by key; a map replaced by a scalar names no key.
    if (path.size() < 3 || path[2].is_item) return PathRole::GovernedMetadata;
    if (matches_any(governed_metadata, path[2].key)) return PathRole::GovernedMetadata;
  }
  return PathRole::Metadata;
}

}  // namespace gitgate::policies
