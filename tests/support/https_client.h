// The HTTPS client the tests use, and throwaway certificates made with the openssl command line.
#pragma once

#include <string>

#include "webhook/client.h"

namespace gitgate::testing {

using webhook::HttpReply;
using webhook::HttpsClient;
using webhook::HttpsClientOptions;

// A throwaway ECDSA (or RSA) CA and a serving certificate for localhost / 127.0.0.1, made with openssl.
// With `ca_dir`, the CA there is reused (made on first use).
struct TestCerts {
  std::string ca;
  std::string ca_key;
  std::string cert;
  std::string key;
};
TestCerts make_test_certs(const std::string& dir, const std::string& key_type = "ec", const std::string& name = "server",
                          const std::string& ca_dir = {});

}  // namespace gitgate::testing
