#include <iostream>

#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"gitgate: a Kubernetes validating admission webhook that makes Git the only way to change what Git declares"};
  app.require_subcommand(1);
  auto* version = app.add_subcommand("version", "Print the version");
  version->callback([] { std::cout << "gitgate " << GITGATE_VERSION << "\n"; });
  CLI11_PARSE(app, argc, argv);
  return 0;
}
