#include "desired/argocd/go_template.h"

#include <algorithm>
#include <limits>
#include <cctype>
#include <memory>
#include <optional>
#include <vector>

namespace gitgate::desired::argocd {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxOutput = 1024 * 1024;
constexpr size_t kMaxTraffic = 64 * kMaxOutput;  // the bytes of every value that goes into or out of a command
constexpr size_t kMaxSteps = 200000;
constexpr int kMaxNesting = 64;

const char* const kFunctions =
    "and, or, not, eq, ne, lt, le, gt, ge, len, index, default, empty, ternary, coalesce, hasKey, hasPrefix, "
    "hasSuffix, contains, lower, upper, title, trim, trimPrefix, trimSuffix, trunc, replace, quote, squote, "
    "cat, print, printf, toString, toJson, toYaml, indent, nindent, join, splitList, list, normalize";

struct Pipe;

struct Arg {
  enum Kind { Literal, Field, Variable, Function, Sub } kind = Literal;
  json literal;
  std::string name;               // a variable's name ("" is $) or a function's
  std::vector<std::string> path;  // fields after a dot, a variable or a parenthesised pipeline
  std::shared_ptr<Pipe> sub;
};

struct Command {
  std::vector<Arg> args;
};

struct Pipe {
  std::vector<std::string> declared;  // $x := …, or $i, $v := … in range
  bool assigns = false;               // $x = …
  std::vector<Command> commands;
};

struct Node {
  enum Kind { Text, Action, If, Range, With } kind = Text;
  std::string text;
  Pipe pipe;
  std::vector<Node> body, otherwise;
};

gitgate::Error unsupported(const std::string& what) {
  return gitgate::Error{"template " + what + ": gitgate does not evaluate it (it evaluates Go template actions if, "
                        "else, range, with, variables and the functions " + std::string(kFunctions) + ")"};
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// --- the lexer and parser of one action's text --------------------------------------------------------
class ActionParser {
 public:
  explicit ActionParser(std::string text) : text_(std::move(text)) {}

  gitgate::Result<Pipe> pipe(bool allow_declaration) {
    Pipe p;
    skip();
    if (allow_declaration && peek() == '$') {
      size_t saved = at_;
      std::vector<std::string> names;
      while (peek() == '$') {
        auto name = variable_name();
        names.push_back(name);
        skip();
        if (peek() != ',') break;
        ++at_;
        skip();
      }
      skip();
      if (text_.compare(at_, 2, ":=") == 0) {
        at_ += 2;
        p.declared = std::move(names);
      } else if (peek() == '=' && text_.compare(at_, 2, "==") != 0 && names.size() == 1) {
        ++at_;
        p.declared = std::move(names);
        p.assigns = true;
      } else {
        at_ = saved;
      }
    }
    while (true) {
      auto command = this->command();
      if (!command) return gitgate::Error{command.error()};
      p.commands.push_back(std::move(*command));
      skip();
      if (at_ >= text_.size() || peek() == ')') break;
      if (peek() != '|') return unsupported("{{" + text_ + "}}");
      ++at_;
    }
    return p;
  }

  bool done() {
    skip();
    return at_ >= text_.size();
  }
  char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }

 private:
  void skip() {
    while (at_ < text_.size() && is_space(text_[at_])) ++at_;
  }

  std::string variable_name() {
    ++at_;  // '$'
    size_t start = at_;
    while (at_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[at_])) || text_[at_] == '_')) ++at_;
    return text_.substr(start, at_ - start);
  }

  std::vector<std::string> fields() {
    std::vector<std::string> out;
    while (peek() == '.' && at_ + 1 < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[at_ + 1])) || text_[at_ + 1] == '_')) {
      ++at_;
      size_t start = at_;
      while (at_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[at_])) || text_[at_] == '_')) ++at_;
      out.push_back(text_.substr(start, at_ - start));
    }
    return out;
  }

  gitgate::Result<Command> command() {
    Command c;
    while (true) {
      skip();
      char ch = peek();
      if (ch == '\0' || ch == '|' || ch == ')') break;
      auto arg = operand();
      if (!arg) return gitgate::Error{arg.error()};
      c.args.push_back(std::move(*arg));
    }
    if (c.args.empty()) return unsupported("{{" + text_ + "}} (an empty command)");
    return c;
  }

  gitgate::Result<Arg> operand() {
    Arg a;
    char c = peek();
    if (c == '"' || c == '`') {
      std::string out;
      for (++at_; at_ < text_.size() && text_[at_] != c; ++at_) {
        if (c == '"' && text_[at_] == '\\' && at_ + 1 < text_.size()) {
          char e = text_[++at_];
          out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
          continue;
        }
        out += text_[at_];
      }
      if (at_ >= text_.size()) return unsupported("{{" + text_ + "}} (an unterminated string)");
      ++at_;
      a.literal = out;
      return a;
    }
    if (c == '-' || c == '+' || std::isdigit(static_cast<unsigned char>(c))) {
      size_t start = at_++;
      bool fraction = false;
      while (at_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[at_])) || text_[at_] == '.')) {
        fraction |= text_[at_] == '.';
        ++at_;
      }
      std::string digits = text_.substr(start, at_ - start);
      if (digits == "-" || digits == "+" || digits.size() > 18) return unsupported("{{" + text_ + "}}");
      try {
        a.literal = fraction ? json(std::stod(digits)) : json(std::stoll(digits));
      } catch (const std::exception&) {
        return unsupported("{{" + text_ + "}}");
      }
      return a;
    }
    if (c == '.') {
      a.kind = Arg::Field;
      a.path = fields();
      if (a.path.empty()) ++at_;  // "." alone: dot
      return a;
    }
    if (c == '$') {
      a.kind = Arg::Variable;
      a.name = variable_name();
      a.path = fields();
      return a;
    }
    if (c == '(') {
      if (++depth_ > kMaxNesting) return gitgate::Error{"template: parentheses nested too deep"};
      ++at_;
      auto sub = pipe(false);
      --depth_;
      if (!sub) return gitgate::Error{sub.error()};
      skip();
      if (peek() != ')') return unsupported("{{" + text_ + "}} (an unclosed parenthesis)");
      ++at_;
      a.kind = Arg::Sub;
      a.sub = std::make_shared<Pipe>(std::move(*sub));
      a.path = fields();
      return a;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = at_;
      while (at_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[at_])) || text_[at_] == '_')) ++at_;
      std::string word = text_.substr(start, at_ - start);
      if (word == "true" || word == "false") {
        a.literal = word == "true";
      } else if (word == "nil") {
        a.literal = nullptr;
      } else {
        a.kind = Arg::Function;
        a.name = word;
      }
      return a;
    }
    return unsupported("{{" + text_ + "}}");
  }

  std::string text_;
  size_t at_ = 0;
  int depth_ = 0;
};

// --- the template: text and actions, split at the delimiters --------------------------------------------
struct Piece {
  bool action = false;
  std::string text;  // the text, or the action's content without delimiters and trim markers
};

gitgate::Result<std::vector<Piece>> split(std::string_view text) {
  std::vector<Piece> out;
  size_t at = 0;
  bool trim_next = false;
  while (at <= text.size()) {
    size_t open = text.find("{{", at);
    std::string literal(text.substr(at, open == std::string_view::npos ? std::string_view::npos : open - at));
    if (trim_next) literal.erase(0, std::find_if_not(literal.begin(), literal.end(), is_space) - literal.begin());
    if (open == std::string_view::npos) {
      out.push_back({false, literal});
      break;
    }
    size_t start = open + 2;
    if (start + 1 < text.size() && text[start] == '-' && is_space(text[start + 1])) {
      while (!literal.empty() && is_space(literal.back())) literal.pop_back();
      start += 2;
    }
    out.push_back({false, literal});
    // The closing delimiter, outside string literals.
    size_t i = start;
    char quote = 0;
    for (; i + 1 < text.size(); ++i) {
      char c = text[i];
      if (quote != 0) {
        if (c == '\\' && quote == '"') ++i;
        else if (c == quote) quote = 0;
        continue;
      }
      if (c == '"' || c == '`') quote = c;
      else if (c == '}' && text[i + 1] == '}') break;
    }
    if (i + 1 >= text.size()) return gitgate::Error{"template: an action is not closed with }}"};
    size_t end = i;
    trim_next = false;
    if (end >= start + 2 && text[end - 1] == '-' && is_space(text[end - 2])) {
      trim_next = true;
      end -= 2;
    }
    std::string action(text.substr(start, end - start));
    size_t first = action.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && action.compare(first, 2, "/*") == 0) {
      // A comment.
    } else {
      out.push_back({true, action});
    }
    at = i + 2;
  }
  return out;
}

class TreeParser {
 public:
  explicit TreeParser(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

  gitgate::Result<std::vector<Node>> parse() {
    std::string stop;
    auto nodes = list(stop, 0);
    if (!nodes) return nodes;
    if (!stop.empty()) return gitgate::Error{"template: {{" + stop + "}} without a matching if, range or with"};
    return nodes;
  }

 private:
  static std::string keyword(const std::string& action, std::string& rest) {
    size_t b = action.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return "";
    size_t e = b;
    while (e < action.size() && std::isalpha(static_cast<unsigned char>(action[e]))) ++e;
    rest = action.substr(e);
    return action.substr(b, e - b);
  }

  // Nodes up to {{end}} or {{else …}}; `stop` is set to that action ("" at the end of the text).
  gitgate::Result<std::vector<Node>> list(std::string& stop, int depth) {
    if (depth > kMaxNesting) return gitgate::Error{"template: nested too deep"};
    std::vector<Node> out;
    while (at_ < pieces_.size()) {
      Piece& piece = pieces_[at_++];
      if (!piece.action) {
        if (!piece.text.empty()) out.push_back({Node::Text, piece.text, {}, {}, {}});
        continue;
      }
      std::string rest;
      std::string word = keyword(piece.text, rest);
      if (word == "end" || word == "else") {
        stop = piece.text;
        return out;
      }
      if (word == "if" || word == "range" || word == "with") {
        auto node = block(word == "if" ? Node::If : word == "range" ? Node::Range : Node::With, rest, depth);
        if (!node) return gitgate::Error{node.error()};
        out.push_back(std::move(*node));
        continue;
      }
      if (word == "define" || word == "template" || word == "block" || word == "break" || word == "continue")
        return unsupported("action {{" + piece.text + "}}");
      ActionParser parser(piece.text);
      auto pipe = parser.pipe(true);
      if (!pipe) return gitgate::Error{pipe.error()};
      if (!parser.done()) return unsupported("{{" + piece.text + "}}");
      Node n;
      n.kind = Node::Action;
      n.pipe = std::move(*pipe);
      out.push_back(std::move(n));
    }
    stop.clear();
    return out;
  }

  gitgate::Result<Node> block(Node::Kind kind, const std::string& condition, int depth) {
    Node n;
    n.kind = kind;
    ActionParser parser(condition);
    auto pipe = parser.pipe(true);
    if (!pipe) return gitgate::Error{pipe.error()};
    if (!parser.done()) return unsupported("{{" + condition + "}}");
    n.pipe = std::move(*pipe);
    std::string stop;
    auto body = list(stop, depth + 1);
    if (!body) return gitgate::Error{body.error()};
    n.body = std::move(*body);
    std::string rest;
    std::string word = keyword(stop, rest);
    if (word == "else") {
      std::string chained;
      std::string next = keyword(rest, chained);
      if (next == "if" || next == "with") {
        // {{else if …}}: a block in the else branch that shares this block's {{end}}.
        auto inner = block(next == "if" ? Node::If : Node::With, chained, depth + 1);
        if (!inner) return inner;
        n.otherwise.push_back(std::move(*inner));
        return n;
      }
      if (!next.empty()) return unsupported("{{" + stop + "}}");
      auto otherwise = list(stop, depth + 1);
      if (!otherwise) return gitgate::Error{otherwise.error()};
      n.otherwise = std::move(*otherwise);
      word = keyword(stop, rest);
    }
    if (word != "end") return gitgate::Error{"template: an if, range or with is not closed with {{end}}"};
    return n;
  }

  std::vector<Piece> pieces_;
  size_t at_ = 0;
};

// --- evaluation -----------------------------------------------------------------------------------------
bool truth(const json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  if (v.is_number_integer()) return v.get<long long>() != 0;
  if (v.is_number()) return v.get<double>() != 0;
  return !v.empty();
}

// JSON text as Go's encoding/json writes it for invalid UTF-8 (U+FFFD), never nlohmann's exception.
std::string dumped(const json& v) { return v.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "<nil>";
  return dumped(v);
}

// What a value weighs: its strings' and keys' bytes plus 16 per node. Counting stops past `limit`, and a
// value nested deeper than kMaxNesting weighs more than any limit (dump and copies recurse on nesting).
size_t weight(const json& v, size_t limit, int depth = 0) {
  if (depth > kMaxNesting) return limit + 1;
  size_t w = 16 + (v.is_string() ? v.get_ref<const std::string&>().size() : 0);
  if (v.is_object())
    for (auto it = v.begin(); it != v.end() && w <= limit; ++it) w += it.key().size() + weight(*it, limit, depth + 1);
  else if (v.is_array())
    for (auto it = v.begin(); it != v.end() && w <= limit; ++it) w += weight(*it, limit, depth + 1);
  return w;
}

std::string go_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '\t') {
      out += "\\t";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string indented(const std::string& text, long long n) {
  std::string pad(static_cast<size_t>(std::clamp(n, 0LL, 256LL)), ' ');
  std::string out = pad;
  for (char c : text) {
    out += c;
    if (c == '\n') out += pad;
  }
  return out;
}

class Evaluator {
 public:
  explicit Evaluator(const json& root) : root_(root) {}

  gitgate::Status run(const std::vector<Node>& nodes, const json& dot, std::string& out) {
    for (const auto& n : nodes) {
      if (++steps_ > kMaxSteps) return gitgate::Error{"template: more than " + std::to_string(kMaxSteps) + " steps"};
      if (out.size() > kMaxOutput) return gitgate::Error{"template: its output is larger than 1 MiB"};
      switch (n.kind) {
        case Node::Text:
          out += n.text;
          break;
        case Node::Action: {
          auto value = pipe(n.pipe, dot);
          if (!value) return gitgate::Error{value.error()};
          if (!n.pipe.declared.empty()) break;
          if (value->is_null()) return gitgate::Error{"template: an action prints a parameter the generators do not give"};
          if (value->is_object() || value->is_array())
            return gitgate::Error{"template: an action prints a map or list, not a value"};
          out += text_of(*value);
          if (out.size() > kMaxOutput) return gitgate::Error{"template: its output is larger than 1 MiB"};
          break;
        }
        case Node::If:
        case Node::With: {
          size_t scope = vars_.size();
          auto value = pipe(n.pipe, dot);
          if (!value) return gitgate::Error{value.error()};
          gitgate::Status s = truth(*value) ? run(n.body, n.kind == Node::With ? *value : dot, out)
                                            : run(n.otherwise, dot, out);
          vars_.resize(scope);
          if (!s.ok()) return s;
          break;
        }
        case Node::Range: {
          size_t scope = vars_.size();
          if (n.pipe.assigns) return unsupported("range that assigns ($x = …) instead of declaring ($x := …)");
          Pipe head = n.pipe;
          std::vector<std::string> names = head.declared;
          head.declared.clear();
          auto value = pipe(head, dot);
          if (!value) return gitgate::Error{value.error()};
          if (!value->is_null() && !value->is_array() && !value->is_object())
            return unsupported("range over a value that is not a list or a map");
          if (names.size() > 2) return unsupported("range with more than two variables");
          if (!truth(*value)) {
            if (gitgate::Status s = run(n.otherwise, dot, out); !s.ok()) return s;
            break;
          }
          size_t i = 0;
          for (auto it = value->begin(); it != value->end(); ++it, ++i) {
            vars_.resize(scope);
            json key = value->is_object() ? json(it.key()) : json(static_cast<long long>(i));
            if (!names.empty()) {
              if (gitgate::Status s = weigh(*it); !s.ok()) return s;  // the variable is a copy
            }
            if (names.size() == 1) vars_.emplace_back(names[0], *it);
            if (names.size() == 2) {
              vars_.emplace_back(names[0], key);
              vars_.emplace_back(names[1], *it);
            }
            if (gitgate::Status s = run(n.body, *it, out); !s.ok()) return s;
          }
          vars_.resize(scope);
          break;
        }
      }
    }
    return gitgate::Status::Ok();
  }

 private:
  gitgate::Result<json> pipe(const Pipe& p, const json& dot) {
    std::optional<json> piped;
    for (const auto& c : p.commands) {
      auto value = command(c, dot, piped);
      if (!value) return value;
      piped = std::move(*value);
    }
    json value = piped ? std::move(*piped) : json();
    if (p.assigns && p.declared.size() != 1) {
      return unsupported("an assignment to other than one variable");
    } else if (p.assigns) {
      auto it = std::find_if(vars_.rbegin(), vars_.rend(), [&](const auto& v) { return v.first == p.declared[0]; });
      if (it == vars_.rend()) return gitgate::Error{"template: $" + p.declared[0] + " is assigned before it is declared"};
      it->second = value;
    } else if (p.declared.size() == 1) {
      vars_.emplace_back(p.declared[0], value);
    } else if (p.declared.size() > 1) {
      return unsupported("a declaration of two variables outside range");
    }
    return value;
  }

  static json walk(json value, const std::vector<std::string>& path) {
    for (const auto& key : path) {
      if (!value.is_object() || !value.contains(key)) return nullptr;
      json next = std::move(value[key]);
      value = std::move(next);
    }
    return value;
  }

  gitgate::Result<json> argument(const Arg& a, const json& dot) {
    switch (a.kind) {
      case Arg::Literal:
        return a.literal;
      case Arg::Field:
        return walk(dot, a.path);
      case Arg::Variable: {
        if (a.name.empty()) return walk(root_, a.path);
        auto it = std::find_if(vars_.rbegin(), vars_.rend(), [&](const auto& v) { return v.first == a.name; });
        if (it == vars_.rend()) return gitgate::Error{"template: $" + a.name + " is not declared"};
        return walk(it->second, a.path);
      }
      case Arg::Sub: {
        auto value = pipe(*a.sub, dot);
        if (!value) return value;
        return walk(std::move(*value), a.path);
      }
      case Arg::Function:
        return call(a.name, {});
    }
    return json();
  }

  gitgate::Result<json> command(const Command& c, const json& dot, const std::optional<json>& piped) {
    const Arg& head = c.args.front();
    if (head.kind != Arg::Function) {
      if (c.args.size() != 1 || piped) return unsupported("a command that is not a function but has arguments");
      auto value = argument(head, dot);
      if (value) {
        if (gitgate::Status s = weigh(*value); !s.ok()) return gitgate::Error{s.error()};
      }
      return value;
    }
    std::vector<json> args;
    for (size_t i = 1; i < c.args.size(); ++i) {
      auto value = argument(c.args[i], dot);
      if (!value) return value;
      args.push_back(std::move(*value));
    }
    if (piped) args.push_back(*piped);
    // Every value stays within the output bound: what goes into a function and what comes out (nodes and
    // nesting counted, so `$x = list $x $x` cannot double a value per step), what replace and indent would
    // make before they make it, and the traffic of the whole evaluation (a range copying a large value per
    // element is refused instead of spinning).
    for (const auto& a : args)
      if (gitgate::Status s = weigh(a); !s.ok()) return gitgate::Error{s.error()};
    auto result = call(head.name, args);
    if (result) {
      if (gitgate::Status s = weigh(*result); !s.ok()) return gitgate::Error{s.error()};
    }
    return result;
  }

  gitgate::Status weigh(const json& value) {
    size_t w = weight(value, kMaxOutput);
    if (w > kMaxOutput) return too_large();
    traffic_ += w;
    if (traffic_ > kMaxTraffic)
      return gitgate::Error{"template: evaluating it moves more than " + std::to_string(kMaxTraffic >> 20) +
                            " MiB of values"};
    return gitgate::Status::Ok();
  }

  static gitgate::Error too_large() { return gitgate::Error{"template: a value is larger than 1 MiB"}; }

  // Go's eq and lt on basic values of one kind; anything else is Go's error, so not evaluated.
  static gitgate::Result<int> compare(const json& a, const json& b) {
    if (a.is_string() && b.is_string()) return a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    if (a.is_boolean() && b.is_boolean()) return a.get<bool>() == b.get<bool>() ? 0 : 1;
    if (a.is_number_integer() && b.is_number_integer())
      return a.get<long long>() < b.get<long long>() ? -1 : a.get<long long>() > b.get<long long>() ? 1 : 0;
    if (a.is_number_float() && b.is_number_float())
      return a.get<double>() < b.get<double>() ? -1 : a.get<double>() > b.get<double>() ? 1 : 0;
    return unsupported("comparison of " + std::string(a.type_name()) + " with " + b.type_name() +
                       " (Go refuses incompatible types and nil)");
  }

  gitgate::Result<json> call(const std::string& f, const std::vector<json>& a) {
    auto n = [&](size_t count) { return a.size() == count; };
    auto primitive = [&](size_t count) {
      return a.size() == count && std::all_of(a.begin(), a.end(), [](const json& v) { return v.is_primitive(); });
    };
    if (f == "and" && !a.empty()) {
      for (const auto& v : a)
        if (!truth(v)) return v;
      return a.back();
    }
    if (f == "or" && !a.empty()) {
      for (const auto& v : a)
        if (truth(v)) return v;
      return a.back();
    }
    if (f == "not" && n(1)) return json(!truth(a[0]));
    if ((f == "eq" || f == "ne") && a.size() >= 2) {
      bool equal = false;
      for (size_t i = 1; i < a.size() && !equal; ++i) {
        auto c = compare(a[0], a[i]);
        if (!c) return gitgate::Error{c.error()};
        equal = *c == 0;
      }
      return json(f == "eq" ? equal : !equal);
    }
    if ((f == "lt" || f == "le" || f == "gt" || f == "ge") && n(2)) {
      if (a[0].is_boolean()) return unsupported("ordering of booleans");
      auto c = compare(a[0], a[1]);
      if (!c) return gitgate::Error{c.error()};
      return json(f == "lt" ? *c < 0 : f == "le" ? *c <= 0 : f == "gt" ? *c > 0 : *c >= 0);
    }
    if (f == "len" && n(1)) {
      if (a[0].is_string()) return json(a[0].get_ref<const std::string&>().size());
      if (a[0].is_array() || a[0].is_object()) return json(a[0].size());
      return unsupported("len of " + std::string(a[0].type_name()));
    }
    if (f == "index" && a.size() >= 2) {
      json v = a[0];
      for (size_t i = 1; i < a.size(); ++i) {
        if (v.is_array() && a[i].is_number_integer()) {
          auto k = a[i].get<long long>();
          if (k < 0 || static_cast<size_t>(k) >= v.size()) return gitgate::Error{"template: index out of range"};
          json next = v[static_cast<size_t>(k)];
          v = std::move(next);
        } else if (v.is_object() && a[i].is_string()) {
          json next = v.contains(a[i].get<std::string>()) ? v[a[i].get<std::string>()] : json();
          v = std::move(next);
        } else if (v.is_null()) {
          return v;
        } else {
          return gitgate::Error{"template: index of " + std::string(v.type_name()) + " with " + a[i].type_name()};
        }
      }
      return v;
    }
    if (f == "default" && n(2)) return truth(a[1]) ? a[1] : a[0];
    if (f == "empty" && n(1)) return json(!truth(a[0]));
    if (f == "ternary" && n(3)) return truth(a[2]) ? a[0] : a[1];
    if (f == "coalesce" && !a.empty()) {
      for (const auto& v : a)
        if (truth(v)) return v;
      return json();
    }
    if (f == "hasKey" && n(2) && a[1].is_string()) return json(a[0].is_object() && a[0].contains(a[1].get<std::string>()));
    if ((f == "hasPrefix" || f == "hasSuffix" || f == "contains") && primitive(2)) {
      std::string part = text_of(a[0]), s = text_of(a[1]);
      bool yes = f == "hasPrefix" ? s.starts_with(part) : f == "hasSuffix" ? s.ends_with(part)
                                                                            : s.find(part) != std::string::npos;
      return json(yes);
    }
    if ((f == "lower" || f == "upper" || f == "title") && primitive(1)) {
      std::string t = text_of(a[0]);
      bool start = true;
      for (auto& c : t) {
        auto u = static_cast<unsigned char>(c);
        c = static_cast<char>(f == "lower" ? std::tolower(u) : f == "upper" || start ? std::toupper(u) : c);
        start = is_space(c);
      }
      return json(t);
    }
    if (f == "normalize" && primitive(1)) return json(normalized_name(text_of(a[0])));
    if (f == "trim" && primitive(1)) {
      std::string t = text_of(a[0]);
      size_t b = t.find_first_not_of(" \t\n\r"), e = t.find_last_not_of(" \t\n\r");
      return json(b == std::string::npos ? std::string() : t.substr(b, e - b + 1));
    }
    if ((f == "trimPrefix" || f == "trimSuffix") && primitive(2)) {
      std::string p = text_of(a[0]), t = text_of(a[1]);
      if (f == "trimPrefix" && t.starts_with(p)) t.erase(0, p.size());
      if (f == "trimSuffix" && t.ends_with(p)) t.erase(t.size() - p.size());
      return json(t);
    }
    if (f == "trunc" && n(2) && a[0].is_number_integer() && a[1].is_primitive()) {
      std::string t = text_of(a[1]);
      long long k = a[0].get<long long>();
      if (k >= 0) return json(t.substr(0, std::min(t.size(), static_cast<size_t>(k))));
      size_t keep = k == std::numeric_limits<long long>::min() ? t.size() : static_cast<size_t>(-k);
      return json(keep >= t.size() ? t : t.substr(t.size() - keep));
    }
    if (f == "replace" && primitive(3)) {
      std::string from = text_of(a[0]), to = text_of(a[1]), t = text_of(a[2]), out;
      if (from.empty()) return json(t);
      if (to.size() > from.size()) {
        size_t count = 0;
        for (size_t at = t.find(from); at != std::string::npos; at = t.find(from, at + from.size())) ++count;
        if (t.size() + count * (to.size() - from.size()) > kMaxOutput) return too_large();
      }
      for (size_t i = 0; i < t.size();) {
        if (t.compare(i, from.size(), from) == 0) {
          out += to;
          i += from.size();
        } else {
          out += t[i++];
        }
      }
      return json(out);
    }
    if ((f == "quote" || f == "squote") && !a.empty()) {
      std::string out;
      for (const auto& v : a) {
        if (v.is_null()) continue;
        if (!v.is_primitive()) return unsupported(f + " of a map or list");
        if (!out.empty()) out += ' ';
        out += f == "quote" ? go_quote(text_of(v)) : "'" + text_of(v) + "'";
      }
      return json(out);
    }
    if (f == "cat") {
      std::string out;
      for (const auto& v : a) {
        if (v.is_null()) continue;
        if (!v.is_primitive()) return unsupported("cat of a map or list");
        if (!out.empty()) out += ' ';
        out += text_of(v);
      }
      return json(out);
    }
    if (f == "print") {
      // fmt.Sprint: a space between operands when neither is a string.
      std::string out;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!a[i].is_primitive()) return unsupported("print of a map or list");
        if (i > 0 && !a[i].is_string() && !a[i - 1].is_string()) out += ' ';
        out += text_of(a[i]);
      }
      return json(out);
    }
    if (f == "printf" && !a.empty() && a[0].is_string()) {
      const std::string& format = a[0].get_ref<const std::string&>();
      std::string out;
      size_t next = 1;
      for (size_t i = 0; i < format.size(); ++i) {
        if (format[i] != '%') {
          out += format[i];
          continue;
        }
        if (++i >= format.size()) return unsupported("printf format '" + format + "'");
        char verb = format[i];
        if (verb == '%') {
          out += '%';
          continue;
        }
        if (next >= a.size() || !a[next].is_primitive()) return unsupported("printf format '" + format + "'");
        const json& v = a[next++];
        if (verb == 's' || verb == 'v') out += text_of(v);
        else if (verb == 'd' && v.is_number_integer()) out += v.dump();
        else if (verb == 'q' && v.is_string()) out += go_quote(v.get<std::string>());
        else return unsupported("printf verb %" + std::string(1, verb));
      }
      if (next != a.size()) return unsupported("printf with more arguments than verbs");
      return json(out);
    }
    if (f == "toString" && primitive(1)) return json(text_of(a[0]));
    if (f == "toJson" && n(1)) return json(dumped(a[0]));
    // JSON is YAML: what toYaml gives parses to the same value (a templatePatch is parsed as YAML).
    if (f == "toYaml" && n(1)) return json(a[0].is_string() ? a[0].get<std::string>() : dumped(a[0]));
    if ((f == "indent" || f == "nindent") && n(2) && a[0].is_number_integer() && a[1].is_primitive()) {
      std::string source = text_of(a[1]);
      size_t lines = 1 + static_cast<size_t>(std::count(source.begin(), source.end(), '\n'));
      if (source.size() + lines * static_cast<size_t>(std::clamp(a[0].get<long long>(), 0LL, 256LL)) > kMaxOutput)
        return too_large();
      std::string text = indented(source, a[0].get<long long>());
      return json(f == "nindent" ? "\n" + text : text);
    }
    if (f == "join" && n(2) && a[0].is_string() && a[1].is_array()) {
      std::string out;
      for (size_t i = 0; i < a[1].size(); ++i) {
        if (!a[1][i].is_primitive()) return unsupported("join of maps or lists");
        out += (i > 0 ? a[0].get<std::string>() : std::string()) + text_of(a[1][i]);
      }
      return json(out);
    }
    if (f == "splitList" && primitive(2)) {
      std::string sep = text_of(a[0]), t = text_of(a[1]);
      json out = json::array();
      if (sep.empty()) return unsupported("splitList with an empty separator");
      for (size_t start = 0;;) {
        size_t at = t.find(sep, start);
        out.push_back(t.substr(start, at == std::string::npos ? std::string::npos : at - start));
        if (at == std::string::npos) break;
        start = at + sep.size();
      }
      return out;
    }
    if (f == "list") return json(a);
    return unsupported("function " + f + " with " + std::to_string(a.size()) + " argument(s)");
  }

  const json& root_;
  std::vector<std::pair<std::string, json>> vars_;
  size_t steps_ = 0;
  size_t traffic_ = 0;
};

}  // namespace

std::string normalized_name(std::string name) {
  for (auto& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '-';
  }
  while (!name.empty() && (name.back() == '-' || name.back() == '.')) name.pop_back();
  return name;
}

gitgate::Result<std::string> render_go_template(std::string_view text, const json& data) {
  auto pieces = split(text);
  if (!pieces) return gitgate::Error{pieces.error()};
  auto nodes = TreeParser(std::move(*pieces)).parse();
  if (!nodes) return gitgate::Error{nodes.error()};
  std::string out;
  Evaluator evaluator(data);
  if (gitgate::Status s = evaluator.run(*nodes, data, out); !s.ok()) return gitgate::Error{s.error()};
  return out;
}

}  // namespace gitgate::desired::argocd
