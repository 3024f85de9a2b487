// gitgate certs: writes a private CA and a serving certificate for the webhook's Service.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "certs/certs.h"
#include "cli/commands.h"

namespace gitgate::cli {
namespace {

struct CertsOptions {
  certs::CertRequest request;
  std::string key_type = "ecdsa";
  std::string out_dir;
  bool force = false;
};

void run_certs(CertsOptions& options, ExitCode& exit) {
  options.request.key_type = options.key_type == "rsa" ? certs::KeyType::Rsa : certs::KeyType::Ecdsa;
  auto status = certs::write_certificates(
      options.request, options.out_dir, options.force ? certs::Overwrite::Replace : certs::Overwrite::Refuse);
  if (!status) {
    std::cerr << "gitgate " << status.error() << "\n";  // messages start with "certs: "
    exit.value = 1;
    return;
  }
  namespace fs = std::filesystem;
  const fs::path dir(options.out_dir);
  const char* key_type = options.request.key_type == certs::KeyType::Rsa ? "RSA 3072" : "ECDSA P-256";
  std::cout << "wrote " << (dir / certs::kCaCertFile).string() << "   CA certificate (caBundle), mode 0644\n"
            << "wrote " << (dir / certs::kCaKeyFile).string() << "   CA private key, mode 0600\n"
            << "wrote " << (dir / certs::kCertFile).string() << "  serving certificate, mode 0644\n"
            << "wrote " << (dir / certs::kKeyFile).string() << "  serving private key, mode 0600\n"
            << key_type << " keys, SHA-256 signatures, valid " << options.request.days << " days, for:";
  for (const auto& name : certs::service_names(options.request.service, options.request.ns).dns) {
    std::cout << " " << name;
  }
  std::cout << "\n";
}

}  // namespace

void add_certs_command(CLI::App& app, ExitCode& exit) {
  auto options = std::make_shared<CertsOptions>();
  auto* cmd = app.add_subcommand(
      "certs",
      "Write a CA (ca.crt, ca.key) and a serving certificate (tls.crt, tls.key) for the webhook Service. The "
      "serving certificate names S, S.N, S.N.svc and S.N.svc.cluster.local.");
  cmd->add_option("--service", options->request.service, "Service name S the API server calls")->required();
  cmd->add_option("--namespace", options->request.ns, "Namespace N of the Service")->required();
  cmd->add_option("--out", options->out_dir, "Directory to write the four files into (created if missing)")
      ->required();
  cmd->add_option("--days", options->request.days, "Validity of the CA and the serving certificate, in days")
      ->default_val(365)
      ->check(CLI::Range(1, certs::kMaxDays));
  cmd->add_option("--key-type", options->key_type, "Key type: ecdsa (P-256) or rsa (3072 bits)")
      ->capture_default_str()
      ->check(CLI::IsMember({"ecdsa", "rsa"}));
  cmd->add_flag("--force", options->force, "Replace existing files in --out");
  cmd->callback([options, &exit] { run_certs(*options, exit); });
}

}  // namespace gitgate::cli
