// Placeholder until the '__fetch' command lands.
#include <iostream>

#include "cli/commands.h"

namespace gitgate::cli {

void add_fetch_command(CLI::App& app, ExitCode& exit) {
  app.add_subcommand("__fetch", "(internal) fetch a Git remote in a child process")->callback([&exit] {
    std::cerr << "gitgate __fetch: not implemented yet\n";
    exit.value = 2;
  });
}

}  // namespace gitgate::cli
