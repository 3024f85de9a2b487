// `gitgate __fetch`: one Git fetch in a child process, started by the server's Git sources so that a hung
// remote can be killed at its deadline. Hidden: not for people.
#include <unistd.h>

#include <cstdio>

#include "cli/commands.h"
#include "gitstate/fetch_child.h"

namespace gitgate::cli {

void add_fetch_command(CLI::App& app, ExitCode& exit) {
  auto request = std::make_shared<gitstate::FetchRequest>();
  auto* cmd = app.add_subcommand("__fetch", "(internal) fetch a Git remote in a child process");
  cmd->group("");
  cmd->add_option("--git-dir", request->git_dir, "bare cache repository")->required();
  cmd->add_option("--url", request->url, "remote URL")->required();
  auto* branch = cmd->add_option("--branch", request->branch, "branch to fetch");
  auto* tag = cmd->add_option("--tag", request->tag, "tag to fetch (its commit)")->excludes(branch);
  auto* range = cmd->add_option("--semver", request->semver, "fetch the highest tag this range allows")
                    ->excludes(branch)
                    ->excludes(tag);
  auto* commit = cmd->add_option("--commit", request->commit, "fetch this commit (40 hex digits) from a branch or tag reaching it")
                     ->excludes(branch)
                     ->excludes(tag)
                     ->excludes(range);
  cmd->add_option("--digest", request->digest, "oci:// only: pull the artifact with this manifest digest")
      ->excludes(branch)
      ->excludes(tag)
      ->excludes(range)
      ->excludes(commit);
  cmd->add_option("--credentials", request->credentials, "credentials directory");
  cmd->add_flag("--standby", request->standby, "start, then wait for \"go\" on stdin before fetching");
  cmd->callback([request, &exit] {
    exit.value = gitstate::run_fetch_child(*request);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    // The answer is out and the repository closed: end now, leaving the rest to the kernel (static
    // destructors and unmapping take about 5 ms, which a sync waits for). Sanitizer builds exit normally,
    // for their leak checks.
    std::fflush(nullptr);
    _exit(exit.value);
#endif
  });
}

}  // namespace gitgate::cli
