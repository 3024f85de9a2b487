// Placeholder until the 'certs' command lands.
#include <iostream>

#include "cli/commands.h"

namespace gitgate::cli {

void add_certs_command(CLI::App& app, ExitCode& exit) {
  app.add_subcommand("certs", "Write a CA and a serving certificate")->callback([&exit] {
    std::cerr << "gitgate certs: not implemented yet\n";
    exit.value = 2;
  });
}

}  // namespace gitgate::cli
