#include "core/provenance.h"

#include <ctime>

namespace gitgate {
namespace {

std::string date_of(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string_view signature_words(SignatureStatus s) {
  switch (s) {
    case SignatureStatus::Verified:
      return "verified";
    case SignatureStatus::Unsigned:
      return "unsigned";
    case SignatureStatus::Invalid:
      return "bad signature";
    case SignatureStatus::UnknownKey:
      return "signed by an unknown key";
  }
  return "unsigned";
}

}  // namespace

std::string cite(const std::string& file, uint32_t line, const CommitInfo* changed,
                 const CommitInfo& snapshot) {
  std::string out = "(" + file + ":" + std::to_string(line == 0 ? 1 : line) + " @ " +
                    std::string(changed != nullptr ? changed->short_id() : snapshot.short_id());
  if (changed != nullptr) {
    out += ", " + (changed->author_name.empty() ? changed->author_email : changed->author_name) + ", " +
           date_of(changed->time) + ", ";
    out += signature_words(changed->signature);
    // The allowed_signers principal: who vouched for this state (bounded: it comes from the operator's file).
    if (changed->signature == SignatureStatus::Verified && !changed->signer.empty())
      out += " by " + changed->signer.substr(0, 64);
  }
  out += ")";
  return out;
}

std::string declared_where(const DeclaredObject& decl, const CommitInfo& snapshot) {
  std::string out;
  const BuildProvenance* built = decl.built_by().get();
  const ProvenanceLink* owner = built != nullptr && !built->chain.empty() ? &built->chain.front() : nullptr;
  if (owner != nullptr && built->rendered) {
    // Rendered: the object itself is not written in Git, its HelmRelease is.
    out = "is built by " + owner->what + " " + cite(owner->file, owner->line, owner->commit.get(), snapshot);
  } else {
    out = "is declared in Git " + cite(decl.file(), decl.line(), decl.last_change().get(), snapshot);
    if (owner != nullptr)
      out += " and built by " + owner->what + " " +
             cite(owner->file, owner->line, owner->commit.get(), snapshot);
  }
  if (built != nullptr)
    for (size_t i = 1; i < built->chain.size(); ++i) out += " from " + built->chain[i].what;
  out += ".";
  if (decl.carried_from())
    out += " " + decl.file() + " fails to parse at " + std::string(snapshot.short_id()) +
           ", so what it declared at " + std::string(decl.carried_from()->short_id()) +
           " stays in force until it parses again or is deleted.";
  if (built != nullptr && built->values_unknown)
    out += " Its values are unknown: " + built->unknown_reason.substr(0, 300) + ".";
  return out;
}

const ValueOrigin* origin_of(const DeclaredObject& decl, std::string_view git_value,
                             std::string_view requested) {
  const BuildProvenance* built = decl.built_by().get();
  if (built == nullptr || git_value.empty()) return nullptr;
  const ValueOrigin* best = nullptr;
  int best_rank = -1;
  for (const auto& origin : built->values) {
    bool exact = origin.value == git_value;
    // Part of a longer value (an image tag in "repo:tag"): only when long enough to mean something.
    bool part = origin.value.size() >= 3 && git_value.find(origin.value) != std::string_view::npos;
    if (!exact && !part) continue;
    bool differs = requested.find(origin.value) == std::string_view::npos;
    int rank = (exact ? 2 : 0) + (differs ? 1 : 0);
    if (rank > best_rank || (rank == best_rank && origin.value.size() > best->value.size())) {
      best = &origin;
      best_rank = rank;
    }
  }
  return best;
}

std::string set_by(const DeclaredObject& decl, std::string_view git_value, std::string_view requested) {
  const ValueOrigin* origin = origin_of(decl, git_value, requested);
  if (origin == nullptr) return {};
  return " (set by " + origin->where + " at " + origin->file + ":" + std::to_string(origin->line) + ")";
}

}  // namespace gitgate
