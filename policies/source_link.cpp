#include "policies/source_link.h"

#include "core/web_url.h"

namespace gitgate::policies {

void add_source_link(Decision& decision, std::string_view web_url_template, size_t max_message_bytes) {
  if (web_url_template.empty() || !decision.declared || !decision.snapshot_commit) return;
  decision.url = expand_web_url(web_url_template, decision.snapshot_commit->id, decision.declared->file(),
                                decision.declared->line());
  if (decision.url.empty() || !decision.violation || decision.message.empty()) return;
  if (decision.message.size() + 1 + decision.url.size() > max_message_bytes) return;
  decision.message += ' ';
  decision.message += decision.url;
}

}  // namespace gitgate::policies
