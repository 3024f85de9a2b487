// Placeholder until the 'policy' command lands.
#include <iostream>

#include "cli/commands.h"

namespace gitgate::cli {

void add_policy_command(CLI::App& app, ExitCode& exit) {
  app.add_subcommand("policy", "Policy file tools")->callback([&exit] {
    std::cerr << "gitgate policy: not implemented yet\n";
    exit.value = 2;
  });
}

}  // namespace gitgate::cli
