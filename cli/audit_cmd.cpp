// Placeholder until the 'audit' command lands.
#include <iostream>

#include "cli/commands.h"

namespace gitgate::cli {

void add_audit_command(CLI::App& app, ExitCode& exit) {
  app.add_subcommand("audit", "Query, summarize and verify the audit log")->callback([&exit] {
    std::cerr << "gitgate audit: not implemented yet\n";
    exit.value = 2;
  });
}

}  // namespace gitgate::cli
