#include "manifests/yaml_tree.h"

#include <string>
#include <unordered_map>

#include <yaml.h>

namespace gitgate::manifests {
namespace {

constexpr uint32_t kNoNode = UINT32_MAX;
// Collections open at once. libyaml's parser keeps its own state on the heap and has no limit of its own; the
// loader refuses documents nested past Limits::max_depth later, with the line, so this only bounds the work
// on hostile input.
constexpr size_t kMaxNesting = 1024;

uint32_t line_of(const yaml_mark_t& mark) {
  return static_cast<uint32_t>(mark.line + 1);
}
uint32_t column_of(const yaml_mark_t& mark) {
  return static_cast<uint32_t>(mark.column + 1);
}
std::string_view text_of(const yaml_char_t* s) {
  return s == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(s));
}

// How a scalar was written: an explicit tag, else plain or not (quoted, literal, folded).
ScalarTag tag_of(const yaml_event_t& event) {
  std::string_view tag = text_of(event.data.scalar.tag);
  if (tag.empty())
    return event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? ScalarTag::Plain : ScalarTag::NonPlain;
  return scalar_tag(tag);
}

struct Parser {
  Parser() { yaml_parser_initialize(&parser); }
  ~Parser() { yaml_parser_delete(&parser); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
  yaml_parser_t parser;
};

struct Event {
  ~Event() {
    if (parsed) yaml_event_delete(&event);
  }
  yaml_event_t event;
  bool parsed = false;
};

// Builds the node table from libyaml's events, one document at a time.
class TreeBuilder {
 public:
  TreeBuilder(YamlStream& out, uint64_t max_nodes) : out_(out), max_nodes_(max_nodes) {}

  void document_start() {
    anchors_.clear();
    frames_.clear();
    pending_.clear();
    error_.clear();
    error_line_ = 0;
    root_ = kNoNode;
    mark_document_start();
  }

  void document_end() {
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

  void scalar(const yaml_event_t& event) {
    if (!error_.empty()) return;
    const auto& s = event.data.scalar;
    // An empty plain scalar without a tag is an absent value (`key:`), as an explicit null is.
    if (s.length == 0 && s.tag == nullptr && s.style == YAML_PLAIN_SCALAR_STYLE) {
      add_node(YamlNode::Kind::Null, ScalarTag::Plain, event.start_mark, s.anchor);
      return;
    }
    uint32_t id = add_node(YamlNode::Kind::Scalar, tag_of(event), event.start_mark, s.anchor);
    if (id == kNoNode) return;
    out_.nodes[id].begin = static_cast<uint32_t>(out_.text.size());
    out_.nodes[id].size = static_cast<uint32_t>(s.length);
    out_.text.append(reinterpret_cast<const char*>(s.value), s.length);
  }

  void alias(const yaml_event_t& event) {
    if (!error_.empty()) return;
    auto anchor = anchors_.find(std::string(text_of(event.data.alias.anchor)));
    if (anchor == anchors_.end()) {
      fail(line_of(event.start_mark), "alias refers to an unknown anchor");
      return;
    }
    uint32_t target = anchor->second;
    for (const Frame& f : frames_) {
      if (f.node == target) {
        fail(line_of(event.start_mark), "cyclic alias: the alias refers to a node that contains it");
        return;
      }
    }
    attach(target);
  }

  // False when the document nests deeper than the parser goes.
  bool open(YamlNode::Kind kind, const yaml_mark_t& mark, const yaml_char_t* anchor) {
    if (frames_.size() >= kMaxNesting) return false;
    if (!error_.empty()) return true;
    uint32_t id = add_node(kind, ScalarTag::Plain, mark, anchor);
    if (id == kNoNode) return true;
    frames_.push_back({id, pending_.size()});
    return true;
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

  uint32_t add_node(YamlNode::Kind kind, ScalarTag tag, const yaml_mark_t& mark, const yaml_char_t* anchor) {
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
    if (anchor != nullptr)
      anchors_[std::string(text_of(anchor))] = id;  // a later anchor of the same name wins
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

  YamlStream& out_;
  uint64_t max_nodes_;
  std::unordered_map<std::string, uint32_t> anchors_;  // anchor name -> node id, for the current document
  std::vector<Frame> frames_;
  std::vector<uint32_t> pending_;  // children of the open collections, innermost last
  std::string error_;
  uint32_t error_line_ = 0;
  uint32_t root_ = kNoNode;
  size_t nodes_at_start_ = 0;
  size_t children_at_start_ = 0;
  size_t text_at_start_ = 0;
};

// libyaml's message: the problem, and what it was reading when the problem is not on that line.
std::string parse_error(const yaml_parser_t& parser) {
  if (parser.problem == nullptr) return "cannot read YAML";
  std::string message = parser.problem;
  if (parser.context != nullptr && parser.context_mark.line != parser.problem_mark.line)
    message +=
        " (" + std::string(parser.context) + " at line " + std::to_string(line_of(parser.context_mark)) + ")";
  return message;
}

}  // namespace

YamlStream read_yaml_stream(std::string_view content, uint64_t max_nodes) {
  YamlStream out;
  TreeBuilder builder(out, max_nodes);
  Parser p;
  yaml_parser_set_input_string(&p.parser, reinterpret_cast<const unsigned char*>(content.data()),
                               content.size());
  for (;;) {
    Event e;
    if (yaml_parser_parse(&p.parser, &e.event) == 0) {
      builder.abandon_document();
      out.syntax_error = parse_error(p.parser);
      out.syntax_error_line = line_of(p.parser.problem_mark);
      return out;
    }
    e.parsed = true;
    const yaml_event_t& event = e.event;
    switch (event.type) {
      case YAML_STREAM_END_EVENT:
        return out;
      case YAML_DOCUMENT_START_EVENT:
        builder.document_start();
        break;
      case YAML_DOCUMENT_END_EVENT:
        builder.document_end();
        break;
      case YAML_SCALAR_EVENT:
        builder.scalar(event);
        break;
      case YAML_ALIAS_EVENT:
        builder.alias(event);
        break;
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        bool sequence = event.type == YAML_SEQUENCE_START_EVENT;
        const yaml_char_t* anchor =
            sequence ? event.data.sequence_start.anchor : event.data.mapping_start.anchor;
        if (!builder.open(sequence ? YamlNode::Kind::Sequence : YamlNode::Kind::Mapping, event.start_mark,
                          anchor)) {
          builder.abandon_document();
          out.syntax_error = "nesting is deeper than " + std::to_string(kMaxNesting) + " levels";
          out.syntax_error_line = line_of(event.start_mark);
          return out;
        }
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
        builder.close(1);
        break;
      case YAML_MAPPING_END_EVENT:
        builder.close(2);
        break;
      default:  // stream start
        break;
    }
  }
}

}  // namespace gitgate::manifests
