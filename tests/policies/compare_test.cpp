#include "policies/compare.h"

#include <gtest/gtest.h>

#include "policies/loader.h"
#include "policies/quantity.h"

namespace gitgate::policies {
namespace {

// Parses JSON into elements that stay valid for the test (one parser per document).
class Docs {
 public:
  element operator()(std::string_view json) {
    parsers_.push_back(std::make_unique<simdjson::dom::parser>());
    strings_.push_back(std::make_unique<simdjson::padded_string>(json));
    element e;
    EXPECT_FALSE(parsers_.back()->parse(*strings_.back()).get(e)) << json;
    return e;
  }

 private:
  std::vector<std::unique_ptr<simdjson::dom::parser>> parsers_;
  std::vector<std::unique_ptr<simdjson::padded_string>> strings_;
};

bool within(std::string_view declared, std::string_view requested, CompareOptions options = {}) {
  Docs docs;
  return contains(docs(declared), docs(requested), options);
}

TEST(Quantity, NormalisesDecimalBinaryAndExponentForms) {
  EXPECT_EQ(parse_quantity("500m"), parse_quantity("0.5"));
  EXPECT_EQ(parse_quantity("1Gi"), parse_quantity("1024Mi"));
  EXPECT_EQ(parse_quantity("1e3"), parse_quantity("1k"));
  EXPECT_EQ(parse_quantity("0.125Gi"), parse_quantity("128Mi"));
  EXPECT_EQ(parse_quantity("1.50"), parse_quantity("1500m"));
  EXPECT_EQ(parse_quantity("0"), parse_quantity("0m"));
  EXPECT_NE(parse_quantity("1Gi"), parse_quantity("1G"));
  EXPECT_NE(parse_quantity("-1"), parse_quantity("1"));
}

TEST(Quantity, RejectsWhatIsNotAQuantity) {
  for (const char* bad : {"", "Gi", "1.2.3", "1x", "1Kib", "1e", "abc", "--1", "1e99999"}) EXPECT_FALSE(parse_quantity(bad)) << bad;
}

TEST(Containment, MapsAreSubsetsAndExtraRequestedKeysAreFine) {
  EXPECT_TRUE(within(R"({"a":1})", R"({"a":1,"b":2})"));
  EXPECT_FALSE(within(R"({"a":1,"b":2})", R"({"a":1})"));
  EXPECT_FALSE(within(R"({"a":{"x":"y"}})", R"({"a":{"x":"z"}})"));
}

TEST(Containment, NumbersCompareByValueAndStringsNeverEqualNumbers) {
  EXPECT_TRUE(within(R"({"replicas":3})", R"({"replicas":3.0})"));
  EXPECT_FALSE(within(R"({"replicas":"3"})", R"({"replicas":3})"));
  EXPECT_FALSE(within(R"({"enabled":true})", R"({"enabled":"true"})"));
}

TEST(Containment, QuantitiesAreNormalisedWhereKubernetesHoldsThem) {
  EXPECT_TRUE(within(R"({"resources":{"limits":{"cpu":0.5,"memory":"1Gi"}}})",
                     R"({"resources":{"limits":{"cpu":"500m","memory":"1024Mi"}}})"));
  EXPECT_TRUE(within(R"({"hard":{"pods":"1e3"}})", R"({"hard":{"pods":"1k"}})"));
  EXPECT_FALSE(within(R"({"resources":{"requests":{"cpu":"250m"}}})", R"({"resources":{"requests":{"cpu":"0.5"}}})"));
  // Outside quantity context a string is a string.
  EXPECT_FALSE(within(R"({"data":{"size":"1Gi"}})", R"({"data":{"size":"1024Mi"}})"));
}

TEST(Containment, MergeKeyedListsMatchByKeyInAnyOrder) {
  EXPECT_TRUE(within(R"({"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]})",
                     R"({"containers":[{"name":"b","image":"y","imagePullPolicy":"Always"},{"name":"sidecar"},{"name":"a","image":"x"}]})"));
  EXPECT_FALSE(within(R"({"containers":[{"name":"a","image":"x"}]})", R"({"containers":[{"name":"b","image":"x"}]})"));
  EXPECT_TRUE(within(R"({"ports":[{"containerPort":53,"protocol":"UDP"}]})",
                     R"({"ports":[{"containerPort":53,"protocol":"TCP"},{"containerPort":53,"protocol":"UDP"}]})"));
  EXPECT_TRUE(within(R"({"volumeMounts":[{"mountPath":"/a","name":"v"}]})",
                     R"({"volumeMounts":[{"mountPath":"/b","name":"w"},{"mountPath":"/a","name":"v","readOnly":false}]})"));
}

TEST(Containment, UnkeyedObjectListsMatchDistinctItemsInAnyOrder) {
  EXPECT_TRUE(within(R"({"tolerations":[{"key":"a"},{"key":"b"}]})",
                     R"({"tolerations":[{"key":"b","effect":"NoSchedule"},{"key":"x"},{"key":"a"}]})"));
  // Both declared items would need the same requested item.
  EXPECT_FALSE(within(R"({"tolerations":[{"key":"a"},{"key":"a","effect":"NoExecute"}]})",
                      R"({"tolerations":[{"key":"a","effect":"NoExecute"},{"key":"b"}]})"));
}

TEST(Containment, ScalarListsMustBeEqual) {
  EXPECT_TRUE(within(R"({"args":["a","b"]})", R"({"args":["a","b"]})"));
  EXPECT_FALSE(within(R"({"args":["a","b"]})", R"({"args":["b","a"]})"));
  EXPECT_FALSE(within(R"({"args":["a"]})", R"({"args":["a","b"]})"));
}

TEST(Containment, DeclaredNullOrEmptyMeansUnset) {
  EXPECT_TRUE(within(R"({"metadata":{"creationTimestamp":null}})", R"({"metadata":{}})"));
  EXPECT_TRUE(within(R"({"securityContext":{}})", R"({"securityContext":{"runAsUser":1000}})"));
  EXPECT_TRUE(within(R"({"annotations":{}})", R"({})"));
  EXPECT_TRUE(within(R"({"initContainers":[]})", R"({"initContainers":[{"name":"istio-init"}]})"));
  EXPECT_FALSE(within(R"({"args":[]})", R"({"args":["--x"]})"));
  EXPECT_FALSE(within(R"({"value":null})", R"({"value":"set"})"));
}

TEST(Containment, FluxPlaceholdersMatchAnyValueUnlessGiven) {
  EXPECT_TRUE(within(R"({"host":"${app}.${domain}"})", R"({"host":"shop.example.com"})"));
  EXPECT_FALSE(within(R"({"host":"${app}.example.com"})", R"({"host":"shop.example.org"})"));
  EXPECT_TRUE(within(R"({"replicas":"${replicas:=2}"})", R"({"replicas":4})"));
  std::map<std::string, std::string> values{{"domain", "example.com"}};
  CompareOptions options;
  options.substitute = &values;
  EXPECT_TRUE(within(R"({"host":"${app}.${domain}"})", R"({"host":"a.example.com"})", options));
  EXPECT_FALSE(within(R"({"host":"${app}.${domain}"})", R"({"host":"a.example.org"})", options));
  EXPECT_TRUE(within(R"({"literal":"$${x}"})", R"({"literal":"${x}"})"));
}

TEST(Containment, VersionDiffersButGroupAndKindMatch) {
  EXPECT_TRUE(within(R"({"apiVersion":"apps/v1beta1","kind":"Deployment"})", R"({"apiVersion":"apps/v1","kind":"Deployment"})"));
}

TEST(Containment, SecretDataIsNeverCompared) {
  CompareOptions options;
  options.secret = true;
  EXPECT_TRUE(within(R"({"kind":"Secret","data":{"p":"ENC[x]"},"type":"Opaque"})",
                     R"({"kind":"Secret","data":{"p":"aHVudGVyMg=="},"type":"Opaque"})", options));
  EXPECT_FALSE(within(R"({"kind":"Secret","type":"Opaque"})", R"({"kind":"Secret","type":"kubernetes.io/tls"})", options));
}

TEST(Containment, IgnoredPathsAreSkipped) {
  auto pattern = parse_path_pattern("/spec/replicas");
  ASSERT_TRUE(pattern.ok());
  auto item = parse_path_pattern("/spec/containers/*/image");
  ASSERT_TRUE(item.ok());
  CompareOptions options;
  options.ignored = {&*pattern, &*item};
  EXPECT_TRUE(within(R"({"spec":{"replicas":3,"containers":[{"name":"a","image":"x"}]}})",
                     R"({"spec":{"replicas":5,"containers":[{"name":"a","image":"y"}]}})", options));
}

TEST(Containment, ReportsDifferencesWithPathsAndValues) {
  Docs docs;
  std::vector<Difference> diffs;
  EXPECT_FALSE(contains(docs(R"({"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"web","image":"a:1"}]}}}})"),
                        docs(R"({"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"web","image":"a:2"}]}}}})"),
                        {}, &diffs));
  ASSERT_EQ(diffs.size(), 1u);
  EXPECT_EQ(diffs[0].path, "spec.template.spec.containers[name=web].image");
  EXPECT_EQ(diffs[0].declared, "\"a:1\"");
  EXPECT_EQ(diffs[0].requested, "\"a:2\"");
}

TEST(Diff, FindsChangedPathsAndSkipsServerManagedFields) {
  Docs docs;
  std::vector<Change> changes;
  diff_objects(docs(R"({"metadata":{"resourceVersion":"1","labels":{"a":"1"},"managedFields":[]},"spec":{"replicas":3},"status":{"x":1}})"),
               docs(R"({"metadata":{"resourceVersion":"2","labels":{"a":"1","b":"2"},"managedFields":[{}]},"spec":{"replicas":5},"status":{"x":2}})"),
               changes);
  std::vector<std::string> paths;
  for (const auto& c : changes) paths.push_back(render_path(c.path));
  EXPECT_EQ(paths, (std::vector<std::string>{"metadata.labels.b", "spec.replicas"}));
}

TEST(Diff, MergeKeyedListsDiffByKey) {
  Docs docs;
  std::vector<Change> changes;
  diff_objects(docs(R"({"containers":[{"name":"a","image":"1"},{"name":"b","image":"1"}]})"),
               docs(R"({"containers":[{"name":"b","image":"2"},{"name":"a","image":"1"},{"name":"c"}]})"), changes);
  std::vector<std::string> paths;
  for (const auto& c : changes) paths.push_back(render_path(c.path));
  EXPECT_EQ(paths, (std::vector<std::string>{"containers[name=b].image", "containers[name=c]"}));
}

TEST(Declares, LeavesPrefixesAndUnsetValues) {
  Docs docs;
  element git = docs(R"({"metadata":{"labels":{"app":"web"},"annotations":{}},"spec":{"replicas":3,"args":["a"],
    "containers":[{"name":"web","image":"x"}],"tolerations":[{"key":"k"}]}})");
  auto path = [](std::initializer_list<std::string_view> keys) {
    ObjectPath p;
    for (auto k : keys) p.push_back({k, std::nullopt, 0, false});
    return p;
  };
  EXPECT_TRUE(declares(git, path({"spec", "replicas"})));
  EXPECT_TRUE(declares(git, path({"spec"})));
  EXPECT_FALSE(declares(git, path({"spec", "paused"})));
  EXPECT_FALSE(declares(git, path({"metadata", "labels", "team"})));
  EXPECT_FALSE(declares(git, path({"metadata", "annotations"})));
  ObjectPath toleration = path({"spec", "tolerations"});
  toleration.push_back({{}, std::nullopt, 3, true});
  EXPECT_TRUE(declares(git, toleration)) << "a list Git declares as a whole covers its items";
  Docs keys;
  element web = keys(R"("web")");
  element other = keys(R"("sidecar")");
  ObjectPath container = path({"spec", "containers"});
  container.push_back({"name", web, 0, true});
  container.push_back({"image", std::nullopt, 0, false});
  EXPECT_TRUE(declares(git, container));
  container[2].item_key = other;
  EXPECT_FALSE(declares(git, container));
}

// Number merge keys (containerPort, port) were once matched by comparing every item with every other:
// a person's edit carrying 60,000 ports held a webhook thread for about half a minute (found by
// tests/faults). They are matched through a sorted index now, with the same equality as values_equal.
TEST(Diff, SixtyThousandNumberKeyedItemsAreMatchedByKeyInLinearTime) {
  std::string ports;
  for (int i = 1; i <= 60000; ++i) ports += R"({"containerPort":)" + std::to_string(i) + R"(,"name":"p"},)";
  std::string before = R"({"spec":{"ports":[)" + ports + R"({"containerPort":70000,"name":"p"}]}})";
  std::string after = R"({"spec":{"ports":[)" + ports + R"({"containerPort":70000,"name":"changed"}]}})";
  Docs docs;
  element b = docs(before), a = docs(after);
  std::vector<Change> changes;
  EXPECT_TRUE(diff_objects(b, a, changes));
  EXPECT_TRUE(contains(b, b, {}));
  EXPECT_FALSE(contains(b, a, {}));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(render_path(changes[0].path), "spec.ports[containerPort=70000].name");
}

TEST(Diff, NumberMergeKeysMatchAsValuesEqualDoes) {
  Docs docs;
  std::vector<Change> changes;
  // 80 and 80.0 are the same key; the item moved and is unchanged.
  EXPECT_TRUE(diff_objects(docs(R"({"ports":[{"port":80,"x":1},{"port":443,"x":2}]})"),
                           docs(R"({"ports":[{"port":443,"x":2},{"port":80.0,"x":1}]})"), changes));
  EXPECT_TRUE(changes.empty());
  // Integers above 2^53 that round to one double are still different keys.
  changes.clear();
  EXPECT_TRUE(diff_objects(
      docs(R"({"ports":[{"port":9007199254740993,"x":1},{"port":9007199254740992,"x":2}]})"),
      docs(R"({"ports":[{"port":9007199254740992,"x":2},{"port":9007199254740993,"x":1}]})"), changes));
  EXPECT_TRUE(changes.empty());
  // A repeated key makes the list positional, as before.
  changes.clear();
  EXPECT_TRUE(diff_objects(docs(R"({"ports":[{"port":80,"x":1},{"port":80.0,"x":2}]})"),
                           docs(R"({"ports":[{"port":80,"x":2},{"port":80,"x":1}]})"), changes));
  EXPECT_EQ(changes.size(), 2u);
  // Containment finds a declared port among requested ones by value.
  EXPECT_TRUE(within(R"({"ports":[{"containerPort":8080,"protocol":"TCP"}]})",
                     R"({"ports":[{"containerPort":9090},{"containerPort":8080.0,"protocol":"TCP"}]})"));
  EXPECT_FALSE(within(R"({"ports":[{"containerPort":8080}]})", R"({"ports":[{"containerPort":"8080"}]})"));
}

// Lists without a merge key nested in one another multiply their matching work: five levels of 8 items,
// declared in Git and applied by an agent, once held a request thread for minutes. Lists in Git's order
// now match item by item in one pass; whatever needs more than a bounded amount of matching differs.
std::string nested_lists(int width, int depth, bool reversed, std::string leaf = "") {
  if (depth == 0) return R"({"leaf":")" + leaf + R"("})";
  std::string out = "[";
  for (int i = 0; i < width; ++i) {
    int k = reversed ? width - 1 - i : i;
    if (i > 0) out += ",";
    out += nested_lists(width, depth - 1, reversed, leaf + std::to_string(k));
  }
  return out + "]";
}

TEST(Containment, NestedUnorderedListsNeedBoundedWork) {
  Docs docs;
  element git = docs(R"({"spec":{"matrix":)" + nested_lists(8, 5, false) + "}}");
  element same = docs(R"({"spec":{"matrix":)" + nested_lists(8, 5, false) + "}}");
  element reordered = docs(R"({"spec":{"matrix":)" + nested_lists(8, 5, true) + "}}");
  element small_git = docs(R"({"spec":{"matrix":)" + nested_lists(3, 3, false) + "}}");
  element small_reordered = docs(R"({"spec":{"matrix":)" + nested_lists(3, 3, true) + "}}");
  EXPECT_TRUE(contains(git, same, {}));
  std::vector<Difference> differences;
  EXPECT_FALSE(contains(git, reordered, {}, &differences)) << "more matching than the bound allows";
  ASSERT_FALSE(differences.empty());
  EXPECT_NE(differences[0].requested.find("keep Git's order"), std::string::npos) << differences[0].requested;
  EXPECT_TRUE(contains(small_git, small_reordered, {})) << "reordered items still match at every level";
}

// Cells were once the only work counted: each cell compares a whole subtree (identical(), then check()), so
// 12 KiB of nested lists whose items differ only at their end took seconds (found by
// tests/fuzz/containment, 18M executions in). Every node visited counts now. Here 64 x 64 cells each visit
// about 2 x 2,000 nodes, more than the bound: Git's order still matches, any other order differs.
TEST(Containment, EveryNodeVisitedInUnorderedMatchingCountsAgainstTheBound) {
  auto list = [](bool reversed) {
    std::string payload = "{";
    for (int f = 0; f < 2000; ++f) payload += (f ? ",\"f" : "\"f") + std::to_string(f) + "\":\"v\"";
    payload += "}";
    std::string out = R"({"spec":{"items":[)";
    for (int i = 0; i < 64; ++i) {
      int k = reversed ? 63 - i : i;
      out += (i ? "," : "") + std::string(R"({"payload":)") + payload + R"(,"id":)" + std::to_string(k) + "}";
    }
    return out + "]}}";
  };
  Docs docs;
  element git = docs(list(false));
  EXPECT_TRUE(contains(git, docs(list(false)), {}));
  std::vector<Difference> differences;
  EXPECT_FALSE(contains(git, docs(list(true)), {}, &differences));
  ASSERT_EQ(differences.size(), 1u);
  EXPECT_EQ(differences[0].path, "spec.items");
  EXPECT_NE(differences[0].requested.find("keep Git's order"), std::string::npos) << differences[0].requested;
  // Within the bound, reordered subtrees are still matched: 8 x 8 cells of the same items.
  auto small = [](bool reversed) {
    std::string out = R"({"items":[)";
    for (int i = 0; i < 8; ++i)
      out += (i ? "," : "") + std::string(R"({"payload":{"a":"b"},"id":)") +
             std::to_string(reversed ? 7 - i : i) + "}";
    return out + "]}";
  };
  EXPECT_TRUE(contains(docs(small(false)), docs(small(true)), {}));
}

// simdjson finds a key by scanning: looking every key of a map up in the other one cost keys², and a
// 40,000-key ConfigMap edited in one place took 2.8 s to diff and 1.4 s to compare (a 7 MiB body, minutes).
// 300,000 keys (4.4 MB) would take minutes that way; they are sorted once now.
TEST(Diff, WideMapsAreMatchedByKeyInLinearTime) {
  auto config_map = [](std::string_view changed_value, bool reversed) {
    constexpr int kKeys = 300000;
    std::string out = R"({"kind":"ConfigMap","data":{)";
    for (int i = 0; i < kKeys; ++i) {
      int k = reversed ? kKeys - 1 - i : i;
      out += (i ? ",\"k" : "\"k") + std::to_string(k) + R"(":")" +
             std::string(k == 123456 ? changed_value : "v") + "\"";
    }
    return out + "}}";
  };
  Docs docs;
  element before = docs(config_map("v", false));
  element after = docs(config_map("changed", false));
  std::vector<Change> changes;
  EXPECT_TRUE(diff_objects(before, after, changes));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(render_path(changes[0].path), "data.k123456");
  // The same keys in another order are the same map.
  changes.clear();
  element reordered = docs(config_map("v", true));
  EXPECT_TRUE(diff_objects(before, reordered, changes));
  EXPECT_TRUE(changes.empty());
  EXPECT_TRUE(contains(before, reordered, {}));
  std::vector<Difference> differences;
  EXPECT_FALSE(contains(before, after, {}, &differences));
  ASSERT_EQ(differences.size(), 1u);
  EXPECT_EQ(differences[0].path, "data.k123456");
  // Keys added and removed are found on both sides.
  changes.clear();
  EXPECT_TRUE(diff_objects(docs(R"({"spec":{"a":1,"b":2,"c":3}})"), docs(R"({"spec":{"c":3,"d":4,"a":1}})"),
                           changes));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(render_path(changes[0].path), "spec.b");
  EXPECT_FALSE(changes[0].after);
  EXPECT_EQ(render_path(changes[1].path), "spec.d");
  EXPECT_FALSE(changes[1].before);
}

// The diff compared each level whole before walking into it, so every level compared again all that lies
// below it: a chain 500 objects deep with 1,500 fields beside each link, edited at its end (6.9 MB), took
// 6.9 s. The shortcut now has a budget for the whole diff and the walk, linear, does the rest.
TEST(Diff, DeepChainsWithWideLevelsAreWalkedOnce) {
  auto chain = [](std::string_view leaf) {
    constexpr int kDepth = 500;
    std::string wide = "{";
    for (int f = 0; f < 1500; ++f) wide += (f ? ",\"f" : "\"f") + std::to_string(f) + "\":1";
    wide += "}";
    std::string out;
    for (int d = 0; d < kDepth; ++d) out += R"({"wide":)" + wide + R"(,"next":)";
    out += "\"" + std::string(leaf) + "\"";
    for (int d = 0; d < kDepth; ++d) out += "}";
    return out;
  };
  Docs docs;
  element before = docs(chain("a")), after = docs(chain("b"));
  std::vector<Change> changes;
  EXPECT_TRUE(diff_objects(before, after, changes));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].path.size(), 500u);
  EXPECT_EQ(changes[0].path.back().key, "next");
  std::vector<Difference> differences;
  EXPECT_FALSE(contains(before, after, {}, &differences));
  ASSERT_EQ(differences.size(), 1u);
}

}  // namespace
}  // namespace gitgate::policies
