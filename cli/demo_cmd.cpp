// gitgate demo: the product in one story, on a local Git repository made from the embedded examples, over
// real HTTPS, with no cluster. Flux applies what Git declares; people who edit, scale or delete it are sent
// to Git; break-glass is allowed and recorded; a new (signed) commit is picked up on the miss; the audit log
// is summarised, verified, tampered with and caught, and ends as an HTML report that outlives the demo.
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <simdjson.h>

#include "certs/certs.h"
#include "cli/commands.h"
#include "cli/embedded.h"
#include "cli/gate_app.h"
#include "core/log.h"
#include "core/subprocess.h"
#include "webhook/client.h"
#include "webhook/server.h"

namespace gitgate::cli {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class DemoError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

void write_file(const fs::path& path, std::string_view content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw DemoError("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string_view embedded(std::string_view path) {
  for (const auto& f : embedded_examples())
    if (f.path == path) return f.content;
  throw DemoError("the binary lacks the embedded example " + std::string(path));
}

// Runs a program (argv, no shell) and returns its output; throws when it fails.
std::string run(const std::vector<std::string>& argv, const fs::path& cwd = {}, bool may_fail = false,
                int* exit_code = nullptr) {
  ProcessOptions options;
  options.argv = argv;
  options.working_directory = cwd.string();
  options.timeout = std::chrono::seconds(30);
  auto result = run_process(options);
  if (exit_code != nullptr) *exit_code = result.exit_code;
  if (!may_fail && !result.succeeded())
    throw DemoError(argv[0] + " " + (argv.size() > 1 ? argv[1] : "") + " failed: " + result.outcome(options.timeout) +
                    " " + result.err);
  return result.out + result.err;
}

std::string indent(const std::string& text, const std::string& prefix = "     ") {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out += prefix + line + "\n";
  return out;
}

bool have(const std::string& program) {
  ProcessOptions options;
  options.argv = {program, "-V"};
  options.timeout = std::chrono::seconds(5);
  return run_process(options).started;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gitgate-demo-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw DemoError("cannot create a temporary directory");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct Demo {
  TempDir dir;
  fs::path repo = dir.path() / "fleet";
  fs::path audit_log = dir.path() / "audit.log";
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::unique_ptr<GateApp> app;
  std::unique_ptr<webhook::Server> server;
  std::thread server_thread;
  std::unique_ptr<webhook::HttpsClient> client;
  bool signing = false;
  fs::path signing_key;
  int step = 0;

  ~Demo() { stop(); }

  std::vector<std::string> git(std::vector<std::string> args) const {
    std::vector<std::string> argv{"git", "-c", "user.name=Alice Example", "-c", "user.email=alice@example.com",
                                  "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"};
    if (signing) {
      argv.insert(argv.end(), {"-c", "gpg.format=ssh", "-c", "user.signingkey=" + signing_key.string()});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  std::string commit(const std::string& message, bool sign) {
    run(git({"add", "-A"}), repo);
    std::vector<std::string> args{"commit", "-q", "-m", message};
    if (sign) args.push_back("-S");
    run(git(args), repo);
    return run(git({"rev-parse", "--short", "HEAD"}), repo).substr(0, 7);
  }

  void make_repository() {
    for (const auto& f : embedded_examples())
      if (f.path.starts_with("fleet/")) write_file(repo / f.path.substr(6), f.content);
    run(git({"init", "-q"}), repo);
    std::string sha = commit("shop: web 1.4.2 with 3 replicas", false);
    std::cout << "  Git repository   " << repo.string() << "\n";
    std::cout << "    " << sha << "  shop: web 1.4.2 with 3 replicas (Alice Example, unsigned)\n";
    if (have("ssh-keygen")) {
      signing_key = dir.path() / "alice_ed25519";
      run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@example.com", "-f", signing_key.string()});
      std::string pub = read_file(signing_key.string() + ".pub");
      write_file(dir.path() / "allowed_signers", "alice@example.com namespaces=\"git\" " + pub);
      signing = true;
    }
  }

  void start_server() {
    certs::CertRequest request{"gitgate", "demo", 1, certs::KeyType::Ecdsa};
    auto pair = certs::generate_pair(request, {{"localhost"}, {"127.0.0.1"}});
    if (!pair) throw DemoError(pair.error());
    write_file(dir.path() / "certs/ca.crt", pair->ca.cert_pem);
    write_file(dir.path() / "certs/tls.crt", pair->serving.cert_pem);
    write_file(dir.path() / "certs/tls.key", pair->serving.key_pem);

    std::string policy(embedded("policies/shop.yaml"));
    std::string url = "url: https://git.example.com/platform/fleet.git  # the demo points this at its local repository";
    std::string replacement = "url: file://" + repo.string();
    if (signing) replacement += "\n    allowedSigners: " + (dir.path() / "allowed_signers").string();
    policy.replace(policy.find(url), url.size(), replacement);
    write_file(dir.path() / "policies/shop.yaml", policy);

    GateOptions gate;
    gate.policies_path = (dir.path() / "policies").string();
    gate.cache_dir = (dir.path() / "cache").string();
    gate.fetch_program = self;
    gate.sync_rate_limit = std::chrono::milliseconds(0);  // one client, no storm to guard the remote against
    gate.audit_enabled = true;
    gate.audit.file = audit_log.string();
    auto created = GateApp::create(gate);
    if (!created) throw DemoError(created.error());
    app = std::move(*created);

    webhook::ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "127.0.0.1:0";
    options.threads = 1;
    options.shutdown_delay = 0ms;
    options.tls = {(dir.path() / "certs/tls.crt").string(), (dir.path() / "certs/tls.key").string(), ""};
    auto s = webhook::Server::create(options, *app);
    if (!s) throw DemoError(s.error());
    server = std::move(*s);
    app->start();
    server_thread = std::thread([this] { server->run(); });
    std::string why;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!app->ready(why)) {
      if (std::chrono::steady_clock::now() > deadline) throw DemoError("the server did not become ready: " + why);
      std::this_thread::sleep_for(20ms);
    }
    webhook::HttpsClientOptions client_options;
    client_options.port = server->port();
    client_options.ca_file = (dir.path() / "certs/ca.crt").string();
    client = std::make_unique<webhook::HttpsClient>(client_options);
    std::cout << "  gitgate server   https://localhost:" << server->port()
              << "/validate (TLS 1.3, certificate from a CA made just now)\n";
    std::cout << "  policy           shop: enforce; agent flux = kustomize-controller; break-glass group "
                 "gitgate:break-glass\n\n";
  }

  void stop() {
    if (server) {
      server->shutdown();
      server_thread.join();
      server.reset();
    }
    if (app) app->stop();
  }

  // Sends an embedded AdmissionReview and prints the answer as the person would see it.
  void send(const std::string& title, const std::string& command, const std::string& request) {
    std::cout << ++step << ". " << title << "\n";
    std::cout << "   $ " << command << "\n";
    webhook::HttpReply reply;
    std::string err = client->post("/validate?timeout=10s", std::string(embedded("requests/" + request + ".json")), reply);
    if (!err.empty()) throw DemoError("request failed: " + err);
    if (reply.status != 200) throw DemoError("HTTP " + std::to_string(reply.status) + ": " + reply.body);
    simdjson::dom::parser parser;
    simdjson::dom::element response;
    if (parser.parse(reply.body).get(response) || response["response"].get(response))
      throw DemoError("not an AdmissionReview response: " + reply.body);
    bool allowed = false;
    std::string_view reason, message;
    if (response["allowed"].get(allowed) || response["auditAnnotations"]["reason"].get(reason))
      throw DemoError("response without allowed/reason: " + reply.body);
    if (!allowed && response["status"]["message"].get(message)) throw DemoError("deny without a message");
    std::cout << "   " << (allowed ? "ALLOWED" : "DENIED") << " (" << reason << ")\n";
    if (!allowed)
      std::cout << "   Error from server (Forbidden): admission webhook \"validate.gitgate.dev\" denied the request: "
                << message << "\n";
    simdjson::dom::array warnings;
    if (!response["warnings"].get(warnings))
      for (auto w : warnings) std::cout << "   Warning: " << std::string_view(w) << "\n";
    std::cout << "\n";
  }

  void story() {
    send("Flux applies the Deployment shop/web exactly as Git declares it",
         "flux reconcile kustomization apps   # kustomize-controller, server-side apply", "flux-apply-web");
    send("Jane edits the replica count by hand", "kubectl edit deployment/web -n shop   # replicas: 3 -> 5",
         "edit-web-replicas");
    send("Jane tries kubectl scale instead", "kubectl scale deployment/web -n shop --replicas=5", "scale-web");
    send("Jane deletes a ConfigMap that Git declares", "kubectl delete configmap/cfg -n shop", "delete-cfg");
    send("Alice, on call, uses break-glass during an incident",
         "kubectl --as-group=gitgate:break-glass edit deployment/web -n shop", "break-glass-edit-web-replicas");

    std::string web = read_file(repo / "clusters/prod/shop/web.yaml");
    web.replace(web.find("web:1.4.2"), 9, "web:1.5.0");
    write_file(repo / "clusters/prod/shop/web.yaml", web);
    std::string sha = commit("shop: web 1.5.0", signing);
    std::cout << "   Meanwhile Alice merges a change in Git:\n     " << sha << "  shop: web 1.5.0 (Alice Example, "
              << (signing ? "SSH-signed" : "unsigned: ssh-keygen not found") << ")\n\n";
    send("Flux applies the new commit before gitgate's next poll: the miss triggers an immediate fetch",
         "flux reconcile kustomization apps   # image web:1.5.0", "flux-apply-web-1.5.0");
    send("Something writes as Flux an image no commit declares", "(a compromised or misconfigured agent)",
         "flux-apply-web-unknown");
  }

  void audit() {
    stop();  // drains the audit log
    std::cout << step + 1 << ". The audit log: one hash-chained record per decision, tied to its commit\n";
    std::cout << "   $ gitgate audit summary audit.log\n" << indent(run({self, "audit", "summary", audit_log.string()}));
    std::cout << "   $ gitgate audit verify audit.log\n" << indent(run({self, "audit", "verify", audit_log.string()}));
    fs::path tampered = dir.path() / "audit-tampered.log";
    std::string log = read_file(audit_log);
    auto deny = log.find("\"decision\":\"deny\"");
    if (deny == std::string::npos) throw DemoError("no deny record in the audit log");
    log.replace(deny, 17, "\"decision\":\"allow\"");
    write_file(tampered, log);
    std::cout << "\n   Someone turns a deny into an allow in a copy of the log, and verify catches it:\n";
    int code = 0;
    std::string out = run({self, "audit", "verify", tampered.string()}, {}, true, &code);
    std::cout << "   $ gitgate audit verify audit-tampered.log   # exit " << code << "\n" << indent(out);
    if (code == 0) throw DemoError("verify did not catch the tampering");
  }

  // The report is written outside the demo's temporary directory, so it can be opened afterwards.
  fs::path report(const fs::path& out) {
    std::cout << "\n"
              << step + 2 << ". The audit log as a page for people: chain, timeline, denials, break-glass\n";
    std::cout << "   $ gitgate audit report audit.log --out " << out.filename().string() << "\n"
              << indent(run({self, "audit", "report", audit_log.string(), "--out", out.string()}));
    std::error_code ec;
    fs::path absolute = fs::absolute(out, ec);
    return ec ? out : absolute;
  }
};

int demo(const std::string& report_path) {
  log::set_level(log::Level::Warn);
  std::cout << "gitgate demo: Git is the only way to change what Git declares.\n\n";
  try {
    Demo d;
    d.make_repository();
    d.start_server();
    d.story();
    d.audit();
    fs::path report = d.report(report_path);
    std::cout << "\nDone: every change outside Git was refused at the door, with the place in Git to change it.\n";
    std::cout << "Audit report (open it in a browser; it works offline): " << report.string() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "gitgate demo: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

void add_demo_command(CLI::App& app, ExitCode& exit) {
  auto* cmd = app.add_subcommand(
      "demo", "Run the self-contained demo: a local Git repo, the server over HTTPS, the story, the audit log");
  auto report = std::make_shared<std::string>("gitgate-demo-report.html");
  cmd->add_option("--report", *report,
                  "Where to write the audit report at the end (default gitgate-demo-report.html)");
  cmd->callback([report, &exit] { exit.value = demo(*report); });
}

}  // namespace gitgate::cli
