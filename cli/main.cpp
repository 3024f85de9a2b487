// gitgate: flags -> subcommand -> run. Each subcommand lives in its own file.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"gitgate: a Kubernetes validating admission webhook that makes Git the only way to change what Git declares.",
               "gitgate"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  gitgate::cli::ExitCode exit;
  gitgate::cli::add_serve_command(app, exit);
  gitgate::cli::add_review_command(app, exit);
  gitgate::cli::add_declared_command(app, exit);
  gitgate::cli::add_test_command(app, exit);
  gitgate::cli::add_policy_command(app, exit);
  gitgate::cli::add_audit_command(app, exit);
  gitgate::cli::add_certs_command(app, exit);
  gitgate::cli::add_demo_command(app, exit);
  gitgate::cli::add_fetch_command(app, exit);
  app.add_subcommand("version", "Print the version and exit")->callback([] {
    std::cout << "gitgate " << GITGATE_VERSION << "\n";
  });
  // A closed stdout (the audit stream's reader went away) must be an error to handle, not a silent death;
  // so must a file size limit (ulimit -f) the audit file reaches: EFBIG, handled as a full disk.
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;  // --help is a success; usage errors are exit code 2 in every subcommand
  }
  return exit.value;
}
