// Real chart sources on 127.0.0.1 for the desired-state tests: charts packaged with the real helm, an HTTPS
// chart repository (index.yaml + archives behind TLS) and an OCI registry (Debian's docker-registry, charts
// pushed with `helm push`). Every server stops with its object (killed by PID) or by itself.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "tests/support/support.h"

namespace gitgate::desired::testing {

using gitgate::testing::Subprocess;
using gitgate::testing::TempDir;

// The helm and kubectl binaries the project fetches (scripts/k8s-tools), or those on PATH.
std::string helm_binary();
std::string kubectl_binary();

// Packages tests/fixtures/flux/charts/<chart> as `version` into `directory`; returns the .tgz path.
std::string package_chart(const std::string& chart, const std::string& version, const std::string& directory);

class HelmRepository {
 public:
  HelmRepository();
  // Packages the fixture chart at `version` into the repository and re-indexes it.
  void add(const std::string& chart, const std::string& version);
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/"; }
  std::string ca_file() const { return (dir_ / "cert.pem").string(); }
  void stop() { process_.reset(); }

 private:
  void reindex();
  TempDir dir_;
  int port_;
  std::unique_ptr<Subprocess> process_;
};

class OciRegistry {
 public:
  OciRegistry();
  // Packages the fixture chart at `version` and pushes it to oci://127.0.0.1:port/charts; returns the
  // manifest's digest ("sha256:<hex>").
  std::string push(const std::string& chart, const std::string& version);
  std::string url() const { return "oci://127.0.0.1:" + std::to_string(port_) + "/charts"; }
  // Pushes what `flux push artifact` pushes: the files below `directory` as one tar+gzip layer
  // (application/vnd.cncf.flux.content.v1.tar+gzip) with a Flux config, at oci://127.0.0.1:port/<name>:<tag>,
  // annotated with its source and revision. Returns the manifest's digest ("sha256:<hex>").
  std::string push_artifact(const std::string& name, const std::string& tag, const std::string& directory,
                            const std::string& source, const std::string& revision);
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void stop() { process_.reset(); }

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace gitgate::desired::testing
