// Placeholder until the 'serve' command lands.
#include <iostream>

#include "cli/commands.h"

namespace gitgate::cli {

void add_serve_command(CLI::App& app, ExitCode& exit) {
  app.add_subcommand("serve", "Run the admission webhook server")->callback([&exit] {
    std::cerr << "gitgate serve: not implemented yet\n";
    exit.value = 2;
  });
}

}  // namespace gitgate::cli
