#include "desired/flux/substitute.h"

#include <cctype>

namespace gitgate::desired::flux {

bool substitution_runs(const Variables& variables, bool always) {
  return always || !variables.values.empty() || variables.incomplete;
}

namespace {
constexpr int kMaxNesting = 16;
}  // namespace

std::string substitute(std::string_view text, const Variables& variables, int depth) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    // The closing brace of this expression: a default may hold expressions of its own
    // (`${CLAIM:-${APP}}`), as envsubst parses them.
    size_t end = i + 2;
    for (int open = 0; end < text.size(); ++end) {
      if (text.compare(end, 2, "${") == 0) {
        ++open;
        ++end;
      } else if (text[end] == '}' && open-- == 0) {
        break;
      }
    }
    if (end >= text.size()) {
      out.append(text.substr(i));
      break;
    }
    std::string_view expression = text.substr(i + 2, end - i - 2);
    std::string_view verbatim = text.substr(i, end - i + 1);
    i = end + 1;
    size_t name_end = 0;
    while (name_end < expression.size() &&
           (std::isalnum(static_cast<unsigned char>(expression[name_end])) || expression[name_end] == '_'))
      ++name_end;
    std::string name(expression.substr(0, name_end));
    std::string_view rest = expression.substr(name_end);
    bool valid_name = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0]));
    std::optional<std::string_view> fallback;
    if (!rest.empty()) {
      for (std::string_view op : {":=", ":-", "=", "-"}) {
        if (rest.starts_with(op)) {
          fallback = rest.substr(op.size());
          break;
        }
      }
      if (!fallback) valid_name = false;  // ${#x}, ${x^^}, ${x/a/b}: left as written
    }
    if (!valid_name) {
      out.append(verbatim);
      continue;
    }
    auto it = variables.values.find(name);
    if (it != variables.values.end() && !it->second.empty()) {
      out += it->second;
    } else if (it == variables.values.end() && variables.incomplete) {
      out.append(verbatim);  // may be set where gitgate cannot read: matches any value
    } else if (fallback) {
      out.append(depth < kMaxNesting ? substitute(*fallback, variables, depth + 1) : std::string(*fallback));
    }
  }
  return out;
}

}  // namespace gitgate::desired::flux
