// Placeholder until the 'test' command lands.
#include <iostream>

#include "cli/commands.h"

namespace gitgate::cli {

void add_test_command(CLI::App& app, ExitCode& exit) {
  app.add_subcommand("test", "Run policy test cases")->callback([&exit] {
    std::cerr << "gitgate test: not implemented yet\n";
    exit.value = 2;
  });
}

}  // namespace gitgate::cli
