#include "manifests/yaml_tree.h"

#include <algorithm>
#include <istream>
#include <optional>
#include <streambuf>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace gitgate::manifests {
namespace {

constexpr uint32_t kNoNode = UINT32_MAX;

// Reads a string_view as an istream without copying it.
class MemoryBuffer : public std::streambuf {
 public:
  explicit MemoryBuffer(std::string_view s) {
    char* p = const_cast<char*>(s.data());  // streambuf wants char*; the buffer is only read
    setg(p, p, p + s.size());
  }
};

// yaml-cpp 0.7 can report the same empty document for ever without consuming input (a stray ',' at the start
// of a document, jbeder/yaml-cpp#1040); the builder stops the stream when a document starts where the
// previous one did.
struct NoProgress {
  YAML::Mark mark;
};

uint32_t line_of(const YAML::Mark& mark) {
  return mark.is_null() ? 0 : static_cast<uint32_t>(mark.line + 1);
}
uint32_t column_of(const YAML::Mark& mark) {
  return mark.is_null() ? 0 : static_cast<uint32_t>(mark.column + 1);
}

class TreeBuilder : public YAML::EventHandler {
 public:
  TreeBuilder(YamlStream& out, uint64_t max_nodes) : out_(out), max_nodes_(max_nodes) {}

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (last_document_start_ && *last_document_start_ == mark.pos) throw NoProgress{mark};
    last_document_start_ = mark.pos;
    anchors_.clear();
    frames_.clear();
    pending_.clear();
    error_.clear();
    error_line_ = 0;
    root_ = kNoNode;
    mark_document_start();
  }

  void OnDocumentEnd() override {
    YamlDocument doc;
    if (error_.empty() && root_ == kNoNode) fail(0, "empty document");
    if (!error_.empty()) {
      discard_document();
      doc.error = std::move(error_);
      doc.error_line = error_line_;
    } else {
      doc.root = root_;
    }
    out_.documents.push_back(std::move(doc));
    mark_document_start();
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (!error_.empty()) return;
    add_node(YamlNode::Kind::Null, ScalarTag::Plain, mark, anchor);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (!error_.empty()) return;
    uint32_t id = add_node(YamlNode::Kind::Scalar, scalar_tag_from_yaml_cpp(tag), mark, anchor);
    if (id == kNoNode) return;
    out_.nodes[id].begin = static_cast<uint32_t>(out_.text.size());
    out_.nodes[id].size = static_cast<uint32_t>(value.size());
    out_.text += value;
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (!error_.empty()) return;
    if (anchor >= anchors_.size() || anchors_[anchor] == kNoNode) {
      fail(line_of(mark), "alias refers to an unknown anchor");
      return;
    }
    uint32_t target = anchors_[anchor];
    for (const Frame& f : frames_) {
      if (f.node == target) {
        fail(line_of(mark), "cyclic alias: the alias refers to a node that contains it");
        return;
      }
    }
    attach(target);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(YamlNode::Kind::Sequence, mark, anchor);
  }
  void OnSequenceEnd() override { close(1); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(YamlNode::Kind::Mapping, mark, anchor);
  }
  void OnMapEnd() override { close(2); }

  // A syntax error interrupts a document: drop what was read of it.
  void abandon_document() { discard_document(); }

 private:
  struct Frame {
    uint32_t node;
    size_t first_pending;
  };

  void fail(uint32_t line, std::string message) {
    if (!error_.empty()) return;
    error_ = std::move(message);
    error_line_ = line;
  }

  // Where the next document's data begins, so a failed document can be dropped without touching others.
  void mark_document_start() {
    nodes_at_start_ = out_.nodes.size();
    children_at_start_ = out_.children.size();
    text_at_start_ = out_.text.size();
  }

  void discard_document() {
    out_.nodes.resize(nodes_at_start_);
    out_.children.resize(children_at_start_);
    out_.text.resize(text_at_start_);
    frames_.clear();
    pending_.clear();
  }

  uint32_t add_node(YamlNode::Kind kind, ScalarTag tag, const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (out_.nodes.size() - nodes_at_start_ >= max_nodes_) {
      fail(line_of(mark), "document has more than " + std::to_string(max_nodes_) + " nodes");
      return kNoNode;
    }
    auto id = static_cast<uint32_t>(out_.nodes.size());
    YamlNode node;
    node.kind = kind;
    node.tag = tag;
    node.line = line_of(mark);
    node.column = column_of(mark);
    out_.nodes.push_back(node);
    if (anchor != YAML::NullAnchor) {
      if (anchor >= anchors_.size()) anchors_.resize(anchor + 1, kNoNode);
      anchors_[anchor] = id;
    }
    attach(id);
    return id;
  }

  void attach(uint32_t id) {
    if (frames_.empty()) {
      if (root_ == kNoNode) root_ = id;
    } else {
      pending_.push_back(id);
    }
  }

  void open(YamlNode::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (!error_.empty()) return;
    uint32_t id = add_node(kind, ScalarTag::Plain, mark, anchor);
    if (id == kNoNode) return;
    frames_.push_back({id, pending_.size()});
  }

  void close(uint32_t ids_per_entry) {
    if (!error_.empty() || frames_.empty()) return;
    Frame f = frames_.back();
    frames_.pop_back();
    YamlNode& node = out_.nodes[f.node];
    node.begin = static_cast<uint32_t>(out_.children.size());
    node.size = static_cast<uint32_t>((pending_.size() - f.first_pending) / ids_per_entry);
    out_.children.insert(out_.children.end(), pending_.begin() + static_cast<std::ptrdiff_t>(f.first_pending),
                         pending_.end());
    pending_.resize(f.first_pending);
  }

  YamlStream& out_;
  uint64_t max_nodes_;
  std::vector<uint32_t> anchors_;  // yaml-cpp anchor id -> node id, for the current document
  std::vector<Frame> frames_;
  std::vector<uint32_t> pending_;  // children of the open collections, innermost last
  std::string error_;
  uint32_t error_line_ = 0;
  uint32_t root_ = kNoNode;
  std::optional<int> last_document_start_;
  size_t nodes_at_start_ = 0;
  size_t children_at_start_ = 0;
  size_t text_at_start_ = 0;
};

}  // namespace

YamlStream read_yaml_stream(std::string_view content, uint64_t max_nodes) {
  YamlStream out;
  MemoryBuffer buffer(content);
  std::istream in(&buffer);
  TreeBuilder builder(out, max_nodes);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const NoProgress& e) {
    builder.abandon_document();
    out.syntax_error = "malformed document: the YAML parser cannot read past this point";
    out.syntax_error_line = line_of(e.mark);
  } catch (const YAML::DeepRecursion& e) {
    builder.abandon_document();
    out.syntax_error = "nesting is deeper than the YAML parser allows";
    out.syntax_error_line = line_of(e.mark);
  } catch (const YAML::Exception& e) {
    builder.abandon_document();
    out.syntax_error = e.msg;
    out.syntax_error_line = line_of(e.mark);
  } catch (const std::exception& e) {
    builder.abandon_document();
    out.syntax_error = std::string("cannot read YAML: ") + e.what();
  }
  return out;
}

}  // namespace gitgate::manifests
