// Plain snapshots patched commit by commit (SnapshotBuilder::patch_plain, Snapshot::patch) answer exactly as
// snapshots built whole from the same commit: every lookup, namespace count, problem and last change.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "gitstate/snapshot_builder.h"
#include "tests/gitstate/git_helpers.h"

namespace gitgate::gitstate {
namespace {

using namespace gitgate::gitstate::testing;

std::string object_text(const DeclaredObject* o) {
  if (o == nullptr) return "-";
  return o->file() + ":" + std::to_string(o->line()) + " " + std::string(o->json()) + " changed by " +
         (o->last_change() ? o->last_change()->id : "?") + " carried from " +
         (o->carried_from() ? o->carried_from()->id : "-");
}

std::string lookup_text(const Snapshot& s, ObjectKeyView key) {
  auto found = s.find(key);
  std::string text = object_text(found.object);
  for (const auto* other : found.others) text += " | " + object_text(other);
  return text;
}

// Everything a decision or a report can read from a snapshot, as text.
std::vector<std::string> describe(const Snapshot& s, const std::set<std::string>& namespaces,
                                  const std::vector<ObjectKey>& keys) {
  std::vector<std::string> out;
  out.push_back("objects " + std::to_string(s.object_count()) + " " + std::to_string(s.objects().size()));
  for (const auto& o : s.objects()) out.push_back("object " + object_text(o.get()));
  for (const auto& ns : namespaces) {
    const DeclaredObject* example = nullptr;
    size_t count = s.declared_in(ns, &example);
    out.push_back("namespace " + ns + " " + std::to_string(count) + " e.g. " + object_text(example));
  }
  for (const auto& k : keys) {
    out.push_back("find " + k.kind + " " + k.ns + "/" + k.name + " " +
                  lookup_text(s, {k.group, k.kind, k.ns, k.name}));
    // As a cluster-scoped request names a custom kind, and as a request in the default namespace does.
    out.push_back("by name " + lookup_text(s, {k.group, k.kind, "", k.name}));
    out.push_back("default " + lookup_text(s, {k.group, k.kind, "default", k.name}));
  }
  std::vector<std::string> problems;
  for (const auto& p : s.problems()) problems.push_back("problem " + p.to_string());
  std::sort(problems.begin(), problems.end());  // conflicts come in no particular order
  out.insert(out.end(), problems.begin(), problems.end());
  return out;
}

class PatchTest : public ::testing::Test {
 protected:
  std::unique_ptr<SnapshotBuilder> builder() {
    SourceSpec spec;
    spec.paths = {"apps", "single.yaml"};
    return snapshot_builder(repo.remote_path(), spec);
  }
  static std::shared_ptr<const Snapshot> build(SnapshotBuilder& b, const std::string& head) {
    return build_snapshot(b, head);
  }
  // Builds `head` with the long-lived builder (a patch when it can) and with a new one (whole); compares.
  void check(const std::string& head, const std::string& step) {
    auto patched = build(*live, head);
    auto whole = build(*builder(), head);
    std::set<std::string> namespaces{"default", "", "shop", "web", "other", "kube-system"};
    std::set<std::tuple<std::string, std::string, std::string, std::string>> seen;
    std::vector<ObjectKey> keys;
    for (const auto* s : {patched.get(), whole.get()})
      for (const auto& o : s->objects()) {
        const ObjectKey& k = o->key();
        namespaces.insert(k.ns);
        if (seen.insert({k.group, k.kind, k.ns, k.name}).second) keys.push_back(k);
      }
    for (const auto& k : known_keys)
      if (seen.insert({k.group, k.kind, k.ns, k.name}).second) keys.push_back(k);
    known_keys = keys;  // keys that were declared once are asked about ever after
    auto a = describe(*patched, namespaces, keys);
    auto b = describe(*whole, namespaces, keys);
    EXPECT_EQ(a, b) << "after " << step;
    if (a != b) {
      for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
        std::string x = i < a.size() ? a[i] : "<none>", y = i < b.size() ? b[i] : "<none>";
        if (x != y) ADD_FAILURE() << "patched: " << x << "\nwhole:   " << y;
      }
    }
    if (patched->patched_files() > 0) ++patches;
  }

  WorkRepo repo;
  std::unique_ptr<SnapshotBuilder> live;
  std::vector<ObjectKey> known_keys;
  int patches = 0;
};

std::string custom(const std::string& name, const std::string& ns, const std::string& value) {
  std::string text = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: " + name + "\n";
  if (!ns.empty()) text += "  namespace: " + ns + "\n";
  return text + "spec:\n  value: \"" + value + "\"\n";
}

std::string in_namespace(const std::string& name, const std::string& ns, const std::string& value) {
  return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
         "\ndata:\n  value: \"" + value + "\"\n";
}

TEST_F(PatchTest, EveryKindOfChangeAnswersAsAWholeBuild) {
  repo.write("apps/a.yaml", config_map("a", "1") + "---\n" + in_namespace("a", "shop", "1"));
  repo.write("apps/b.yaml", config_map("b", "1"));
  repo.write("apps/deep/c.yaml", in_namespace("c", "shop", "1") + "---\n" + custom("w", "shop", "1"));
  repo.write("apps/notes.txt", "not a manifest");
  repo.write("single.yaml", config_map("single", "1"));
  repo.write("elsewhere/x.yaml", config_map("x", "1"));
  repo.commit("base");
  repo.push();
  live = builder();
  check(repo.git({"rev-parse", "HEAD"}), "base");

  struct Step {
    std::string name;
    std::function<void()> change;
  };
  std::vector<Step> steps = {
      {"one value", [&] { repo.write("apps/b.yaml", config_map("b", "2")); }},
      {"a new file",
       [&] { repo.write("apps/new.yaml", config_map("n", "1") + "---\n" + in_namespace("n", "web", "1")); }},
      {"a file deleted", [&] { repo.remove("apps/b.yaml"); }},
      {"a duplicate declaration", [&] { repo.write("apps/dup.yaml", config_map("a", "9")); }},
      {"the duplicate's first declaration deleted",
       [&] { repo.write("apps/a.yaml", in_namespace("a", "shop", "1")); }},
      {"a file that no longer parses", [&] { repo.write("apps/deep/c.yaml", "kind: [unclosed\n"); }},
      {"the broken file changed again", [&] { repo.write("apps/deep/c.yaml", "kind: {also: [broken\n"); }},
      {"the file parses again", [&] { repo.write("apps/deep/c.yaml", in_namespace("c", "shop", "2")); }},
      {"a symbolic link and a non-manifest file",
       [&] {
         repo.symlink("apps/link.yaml", "a.yaml");
         repo.write("apps/readme.md", "# notes");
       }},
      {"the link gone", [&] { repo.remove("apps/link.yaml"); }},
      {"outside the paths",
       [&] {
         repo.write("elsewhere/x.yaml", config_map("x", "2"));
         repo.write("apps-old/x.yaml", config_map("x", "3"));
       }},
      {"the single file", [&] { repo.write("single.yaml", config_map("single", "2")); }},
      {"custom kinds with and without a namespace",
       [&] { repo.write("apps/widgets.yaml", custom("w", "", "2") + "---\n" + custom("v", "web", "1")); }},
      {"the namespace's first file emptied", [&] { repo.write("apps/a.yaml", "# nothing\n"); }},
      {"a whole directory deleted", [&] { repo.remove("apps/deep"); }},
      {"a file becomes a directory",
       [&] {
         repo.remove("apps/new.yaml");
         repo.write("apps/new.yaml/inner.yaml", config_map("inner", "1"));
       }},
      {"mode only",
       [&] {
         repo.git({"update-index", "--chmod=+x", "apps/dup.yaml"});
       }},
  };
  for (const auto& step : steps) {
    step.change();
    repo.commit(step.name);
    repo.push();
    check(repo.git({"rev-parse", "HEAD"}), step.name);
  }

  // A change and its revert fetched together: the file's content is the old one, its last change the revert.
  std::string before = repo.git({"rev-parse", "HEAD"});
  repo.write("apps/dup.yaml", config_map("a", "10"));
  repo.commit("change");
  repo.write("apps/dup.yaml", config_map("a", "9"));
  repo.commit("revert");
  repo.push();
  check(repo.git({"rev-parse", "HEAD"}), "a change and its revert");

  // A merge of a branch that changed two files.
  repo.git({"checkout", "-q", "-b", "side"});
  repo.write("apps/widgets.yaml", custom("w", "", "3"));
  repo.write("apps/side.yaml", config_map("side", "1"));
  repo.commit("on a branch");
  repo.git({"checkout", "-q", "main"});
  repo.write("single.yaml", config_map("single", "3"));
  repo.commit("on main");
  repo.git({"merge", "-q", "--no-ff", "-m", "Merge side", "side"});
  repo.push();
  check(repo.git({"rev-parse", "HEAD"}), "a merge");

  // A force push back in time: built whole, and patched again after.
  repo.git({"reset", "-q", "--hard", before});
  repo.push(true);
  check(before, "a force push");
  repo.write("apps/after.yaml", config_map("after", "1"));
  repo.commit("after the force push");
  repo.push();
  check(repo.git({"rev-parse", "HEAD"}), "after the force push");

  EXPECT_GE(patches, 15) << "most steps must have been patches, not whole builds";
}

// Random commits (one or two files, sometimes two commits in one fetch) over a larger tree, patched one
// after the other.
TEST_F(PatchTest, RandomCommitsAnswerAsWholeBuilds) {
  std::mt19937 random(7);
  const std::vector<std::string> namespaces{"shop", "web", "other"};
  auto file = [](int i) { return "apps/team-" + std::to_string(i % 5) + "/f" + std::to_string(i) + ".yaml"; };
  auto content = [&](int i, int version) {
    std::string ns = namespaces[(i + version) % namespaces.size()];
    std::string text = in_namespace("cm-" + std::to_string(i % 37), ns, std::to_string(version));
    if (version % 4 == 1) text += "---\n" + custom("w-" + std::to_string(i % 11), version % 2 ? ns : "", "x");
    if (version % 9 == 5) text = "metadata: [broken\n";
    return text;
  };
  for (int i = 0; i < 120; ++i) repo.write(file(i), content(i, 0));
  repo.write("single.yaml", config_map("single", "1"));
  repo.commit("base");
  repo.push();
  live = builder();
  check(repo.git({"rev-parse", "HEAD"}), "base");
  std::set<int> present;
  for (int i = 0; i < 120; ++i) present.insert(i);
  for (int step = 1; step <= 60; ++step) {
    int i = static_cast<int>(random() % 140);
    int action = static_cast<int>(random() % 10);
    if (action == 0 && present.count(i)) {
      repo.remove(file(i));
      present.erase(i);
    } else {
      repo.write(file(i), content(i, step));
      present.insert(i);
    }
    if (step % 7 == 0)
      repo.write(file((i + 1) % 140), content((i + 1) % 140, step + 1));  // two files at once
    repo.commit("step " + std::to_string(step));
    if (step % 3 != 0) {  // sometimes two commits come in one fetch
      repo.push();
      check(repo.git({"rev-parse", "HEAD"}), "step " + std::to_string(step));
    }
    if (HasFailure()) return;
  }
  EXPECT_GE(patches, 30);
}

}  // namespace
}  // namespace gitgate::gitstate
