#include "tests/support/https_client.h"

#include <filesystem>
#include <stdexcept>

#include "tests/support/support.h"

namespace gitgate::testing {

TestCerts make_test_certs(const std::string& dir, const std::string& key_type, const std::string& name,
                          const std::string& ca_dir) {
  std::filesystem::create_directories(dir);
  TestCerts c;
  std::string cadir = ca_dir.empty() ? dir : ca_dir;
  std::filesystem::create_directories(cadir);
  c.ca = cadir + "/ca.crt";
  c.ca_key = cadir + "/ca.key";
  c.cert = dir + "/" + name + ".crt";
  c.key = dir + "/" + name + ".key";
  std::vector<std::string> keyopt = key_type == "rsa"
                                        ? std::vector<std::string>{"-newkey", "rsa:2048"}
                                        : std::vector<std::string>{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"};
  auto run = [](std::vector<std::string> argv) {
    auto r = run_command(argv, std::chrono::seconds(30));
    if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
  };
  if (!std::filesystem::exists(c.ca)) {
    std::vector<std::string> argv{"openssl", "req", "-x509", "-nodes"};
    argv.insert(argv.end(), keyopt.begin(), keyopt.end());
    argv.insert(argv.end(), {"-keyout", c.ca_key, "-out", c.ca, "-days", "2", "-subj", "/CN=gitgate-test-ca"});
    run(argv);
  }
  std::string csr = dir + "/" + name + ".csr";
  std::string ext = dir + "/" + name + ".ext";
  write_file(ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  std::vector<std::string> argv{"openssl", "req", "-nodes"};
  argv.insert(argv.end(), keyopt.begin(), keyopt.end());
  argv.insert(argv.end(), {"-keyout", c.key, "-out", csr, "-subj", "/CN=" + name});
  run(argv);
  run({"openssl", "x509", "-req", "-in", csr, "-CA", c.ca, "-CAkey", c.ca_key, "-CAcreateserial", "-out", c.cert,
       "-days", "2", "-extfile", ext});
  return c;
}

}  // namespace gitgate::testing
