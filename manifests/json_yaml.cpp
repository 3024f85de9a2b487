#include "manifests/json_yaml.h"

#include <algorithm>
#include <cctype>

#include <yaml-cpp/yaml.h>

namespace gitgate::manifests {
namespace {

// Whether a plain scalar with this text would be read as something other than a string (YAML 1.1's booleans
// included: Kubernetes' decoder still reads `yes` and `on` as booleans in some places).
bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  std::string lower(s);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* word : {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".inf", "-.inf", "+.inf",
                           ".nan"})
    if (lower == word) return true;
  char first = s.front();
  if (std::isdigit(static_cast<unsigned char>(first)) || first == '+' || first == '-' || first == '.')
    return std::all_of(s.begin(), s.end(), [](unsigned char c) {
      return std::isxdigit(c) || c == '.' || c == '+' || c == '-' || c == '_' || c == ':' || c == 'x' || c == 'X' ||
             c == 'o' || c == 'O';
    });
  return false;
}

template <typename Json>
void emit(YAML::Emitter& out, const Json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [key, item] : v.items()) {
        out << YAML::Key;
        if (needs_quotes(key)) out << YAML::DoubleQuoted;
        out << key << YAML::Value;
        emit(out, item);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& item : v) emit(out, item);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string: {
      const auto& s = v.template get_ref<const std::string&>();
      // A literal block ("|") reads back as the same text only when the text ends in exactly one newline and
      // its first line is not indented (yaml-cpp writes no indentation indicator); anything else is quoted.
      bool block = s.size() > 1 && s.back() == '\n' && s[s.size() - 2] != '\n' && s.front() != ' ' &&
                   s.front() != '\t' && s.find('\r') == std::string::npos;
      if (block) out << YAML::Literal;
      else if (needs_quotes(s) || s.find('\n') != std::string::npos) out << YAML::DoubleQuoted;
      out << s;
      break;
    }
    case nlohmann::json::value_t::null:
      out << YAML::Null;
      break;
    default:  // numbers and booleans: JSON's text is YAML's
      out << v.dump();
  }
}

}  // namespace

template <typename Json>
std::string write(const Json& value) {
  YAML::Emitter out;
  emit(out, value);
  std::string text(out.c_str(), out.size());
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

std::string json_to_yaml(const nlohmann::json& value) { return write(value); }
std::string json_to_yaml(const nlohmann::ordered_json& value) { return write(value); }

}  // namespace gitgate::manifests
