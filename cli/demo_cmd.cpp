// Placeholder until the 'demo' command lands.
#include <iostream>

#include "cli/commands.h"

namespace gitgate::cli {

void add_demo_command(CLI::App& app, ExitCode& exit) {
  app.add_subcommand("demo", "Run the self-contained demo")->callback([&exit] {
    std::cerr << "gitgate demo: not implemented yet\n";
    exit.value = 2;
  });
}

}  // namespace gitgate::cli
