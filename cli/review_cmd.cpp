// Placeholder until the 'review' command lands.
#include <iostream>

#include "cli/commands.h"

namespace gitgate::cli {

void add_review_command(CLI::App& app, ExitCode& exit) {
  app.add_subcommand("review", "Evaluate one AdmissionReview offline")->callback([&exit] {
    std::cerr << "gitgate review: not implemented yet\n";
    exit.value = 2;
  });
}

}  // namespace gitgate::cli
