// Each subcommand registers itself on the root CLI11 app; its callback stores the process exit code here.
#pragma once

#include <CLI/CLI.hpp>

namespace gitgate::cli {

struct ExitCode {
  int value = 0;
};

void add_serve_command(CLI::App& app, ExitCode& exit);
void add_review_command(CLI::App& app, ExitCode& exit);   // review
void add_declared_command(CLI::App& app, ExitCode& exit); // declared
void add_test_command(CLI::App& app, ExitCode& exit);     // test
void add_policy_command(CLI::App& app, ExitCode& exit);   // policy validate
void add_audit_command(CLI::App& app, ExitCode& exit);    // audit query|summary|verify
void add_certs_command(CLI::App& app, ExitCode& exit);    // certs
void add_demo_command(CLI::App& app, ExitCode& exit);     // demo
void add_fetch_command(CLI::App& app, ExitCode& exit);    // internal: one Git fetch in a child process

}  // namespace gitgate::cli
