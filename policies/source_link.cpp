#include "policies/source_link.h"

#include "core/web_url.h"

namespace gitgate::policies {

namespace {

// The commit whose version of the file holds the declaration at its line: the one it was carried from when
// the file no longer parses, else the last change of the file (the commit the citation names; the file is
// the same at the snapshot), else the snapshot.
const CommitInfo& commit_of_line(const Decision& decision) {
  const DeclaredObject& declared = *decision.declared;
  if (declared.carried_from()) return *declared.carried_from();
  if (declared.last_change()) return *declared.last_change();
  return *decision.snapshot_commit;
}

}  // namespace

void add_source_link(Decision& decision, std::string_view web_url_template, size_t max_message_bytes) {
  if (web_url_template.empty() || !decision.declared || !decision.snapshot_commit) return;
  // A file of another repository ("<url>//<path>"): the policy's web URL does not show it.
  if (decision.declared->file().find("://") != std::string::npos) return;
  decision.url = expand_web_url(web_url_template, commit_of_line(decision).id, decision.declared->file(),
                                decision.declared->line());
  if (decision.url.empty() || !decision.violation || decision.message.empty()) return;
  if (decision.message.size() + 1 + decision.url.size() > max_message_bytes) return;
  decision.message += ' ';
  decision.message += decision.url;
}

}  // namespace gitgate::policies
