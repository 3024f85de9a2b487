// Go's text/template as ApplicationSets use it: what each construct renders, checked against what Go's
// text/template (with sprig) prints for the same template and data.
#include "desired/argocd/go_template.h"

#include <gtest/gtest.h>

namespace gitgate::desired::argocd {
namespace {

using json = nlohmann::json;

std::string render(const std::string& text, const json& data) {
  auto out = render_go_template(text, data);
  return out ? *out : "ERROR: " + out.error();
}

const json kData = {{"name", "web"},
                    {"env", "prod"},
                    {"replicas", 3},
                    {"enabled", true},
                    {"empty", ""},
                    {"tags", {"a", "b", "c"}},
                    {"labels", {{"tier", "front"}, {"app", "shop"}}},
                    {"path", {{"basename", "Web_App"}, {"segments", {"apps", "web"}}}}};

TEST(GoTemplate, ConditionsWithElseIfAndTheComparisonAndLogicFunctions) {
  EXPECT_EQ(render("{{ if eq .env \"prod\" }}P{{ else if eq .env \"dev\" }}D{{ else }}O{{ end }}", kData), "P");
  EXPECT_EQ(render("{{ if eq .env \"dev\" }}P{{ else if eq .env \"dev\" \"prod\" }}D{{ else }}O{{ end }}", kData), "D");
  EXPECT_EQ(render("{{ if .missing }}yes{{ else }}no{{ end }}", kData), "no") << "a missing key is nil: false";
  EXPECT_EQ(render("{{ if and .enabled (gt .replicas 2) (not .empty) }}y{{ end }}", kData), "y");
  EXPECT_EQ(render("{{ or .empty .missing \"fallback\" }}", kData), "fallback");
  EXPECT_EQ(render("{{ if ne .replicas 3 }}x{{ else }}three{{ end }}", kData), "three");
  EXPECT_EQ(render("{{ if hasKey .labels \"tier\" }}{{ .labels.tier }}{{ end }}", kData), "front");
}

TEST(GoTemplate, TrimMarkersRangeWithAndVariables) {
  EXPECT_EQ(render("a  {{- .name -}}  \n b", kData), "awebb");
  EXPECT_EQ(render("{{ range $i, $t := .tags }}{{ $i }}={{ $t }};{{ end }}", kData), "0=a;1=b;2=c;");
  EXPECT_EQ(render("{{ range .labels }}{{ . }},{{ end }}", kData), "shop,front,") << "a map ranges in key order";
  EXPECT_EQ(render("{{ range $k, $v := .labels }}{{ $k }}:{{ $v }} {{ end }}", kData), "app:shop tier:front ");
  EXPECT_EQ(render("{{ range .nothing }}x{{ else }}none{{ end }}", kData), "none");
  EXPECT_EQ(render("{{ with .labels }}{{ .tier }}{{ end }}{{ with .missing }}x{{ else }}-{{ end }}", kData), "front-");
  EXPECT_EQ(render("{{ $n := .name }}{{ range .tags }}{{ $n }}{{ end }}", kData), "webwebweb");
  EXPECT_EQ(render("{{ $x := 1 }}{{ if .enabled }}{{ $x = 2 }}{{ end }}{{ $x }}", kData), "2");
  EXPECT_EQ(render("{{ range .tags }}{{ $.name }}{{ end }}", kData), "webwebweb") << "$ is the root";
  EXPECT_EQ(render("{{/* a comment */}}x{{- /* trimmed */ -}} y", kData), "xy");
}

TEST(GoTemplate, PipelinesParenthesesAndSprigFunctions) {
  EXPECT_EQ(render("{{ .path.basename | normalize }}", kData), "web-app");
  EXPECT_EQ(render("{{ (index .path.segments 1) | upper }}", kData), "WEB");
  EXPECT_EQ(render("{{ printf \"%s-%d\" .name .replicas }}", kData), "web-3");
  EXPECT_EQ(render("{{ .name | quote }} {{ squote .env }}", kData), "\"web\" 'prod'");
  EXPECT_EQ(render("{{ default \"x\" .empty }}|{{ default \"x\" .name }}", kData), "x|web");
  EXPECT_EQ(render("{{ join \",\" .tags }}|{{ len .tags }}|{{ trunc 2 .name }}|{{ trunc -2 .name }}", kData),
            "a,b,c|3|we|eb");
  EXPECT_EQ(render("x:{{ .labels | toJson | nindent 2 }}", kData), "x:\n  {\"app\":\"shop\",\"tier\":\"front\"}");
  EXPECT_EQ(render("{{ ternary \"on\" \"off\" .enabled }}|{{ empty .tags }}", kData), "on|false");
  EXPECT_EQ(render("{{ print .name 1 2 \"x\" }}|{{ cat .name .missing .env }}", kData), "web1 2x|web prod");
  EXPECT_EQ(render("{{ \"a.b.c\" | splitList \".\" | join \"/\" }}", kData), "a/b/c");
}

TEST(GoTemplate, WhatGoRefusesOrGitgateDoesNotEvaluateIsAnErrorNotAGuess) {
  // Found by the go_template fuzz target: a range that assigns (`=`) instead of declaring read a variable name
  // from an emptied list.
  EXPECT_FALSE(render_go_template("{{ range $t = .tags }}{{ $t }}{{ end }}", kData).ok());
  for (const char* text : {"{{ .missing }}", "{{ .labels }}", "{{ eq .replicas \"3\" }}", "{{ eq .missing \"x\" }}",
                           "{{ sha1sum .name }}", "{{ define \"x\" }}{{ end }}", "{{ if .enabled }}unclosed",
                           "{{ end }}", "{{ .name", "{{ $undeclared }}", "{{ range .name }}{{ end }}"}) {
    auto out = render_go_template(text, kData);
    EXPECT_FALSE(out.ok()) << text << " rendered " << *out;
  }
  std::string deep;
  for (int i = 0; i < 100; ++i) deep = "{{ if .enabled }}" + deep + "{{ end }}";
  auto nested = render_go_template(deep, kData);
  ASSERT_FALSE(nested.ok()) << "nesting is bounded";
  EXPECT_NE(nested.error().find("nested too deep"), std::string::npos) << nested.error();
  auto parens = render_go_template("{{ " + std::string(5000, '(') + ".name" + std::string(5000, ')') + " }}", kData);
  ASSERT_FALSE(parens.ok());
  EXPECT_NE(parens.error().find("nested too deep"), std::string::npos) << parens.error();
  // A value may not grow past 1 MiB: indent, replace and concatenation are refused before they allocate it.
  json big = {{"s", std::string(600 * 1024, 'a')}, {"lines", std::string(300 * 1024, '\n')}};
  for (const char* text : {"{{ .lines | indent 8 }}", "{{ replace \"a\" \"aa\" .s }}", "{{ cat .s .s }}",
                           "{{ list .s .s | join \",\" }}"}) {
    auto out = render_go_template(text, big);
    ASSERT_FALSE(out.ok()) << text;
    EXPECT_NE(out.error().find("larger than 1 MiB"), std::string::npos) << text << ": " << out.error();
  }
  EXPECT_TRUE(render_go_template("{{ .s | len }}", big).ok());
  // Lists count by their nodes and nesting, not only their strings: a variable that doubles per step, or
  // nests one level per step, stops at the bound instead of exhausting memory or the stack.
  std::string doubling = "{{ $x := list 1 }}";
  for (int i = 0; i < 40; ++i) doubling += "{{ $x = list $x $x }}";
  auto doubled = render_go_template(doubling + "{{ len $x }}", kData);
  ASSERT_FALSE(doubled.ok());
  EXPECT_NE(doubled.error().find("larger than 1 MiB"), std::string::npos) << doubled.error();
  std::string nesting = "{{ $x := list 1 }}";
  for (int i = 0; i < 1000; ++i) nesting += "{{ $x = list $x }}";
  EXPECT_FALSE(render_go_template(nesting + "{{ toJson $x }}", kData).ok());
  // A range that copies a large value per element is refused by the traffic bound, not left to spin.
  json heavy = {{"s", std::string(500 * 1024, 'a')}, {"l", json::array()}};
  for (int i = 0; i < 1000; ++i) heavy["l"].push_back(i);
  auto spin = render_go_template("{{ range .l }}{{ len $.s }}{{ end }}", heavy);
  ASSERT_FALSE(spin.ok());
  EXPECT_NE(spin.error().find("MiB of values"), std::string::npos) << spin.error();
  // Invalid UTF-8 is written as Go writes it (U+FFFD), not thrown.
  auto invalid = render_go_template("{{ toJson (list \"\xff\") }}", kData);
  ASSERT_TRUE(invalid.ok()) << invalid.error();
  EXPECT_EQ(*invalid, "[\"\xEF\xBF\xBD\"]");
  json many = {{"l", json::array()}};
  for (int i = 0; i < 1000; ++i) many["l"].push_back(i);
  EXPECT_FALSE(render_go_template("{{ range .l }}{{ range $.l }}{{ range $.l }}x{{ end }}{{ end }}{{ end }}", many).ok())
      << "steps are bounded";
}

}  // namespace
}  // namespace gitgate::desired::argocd
