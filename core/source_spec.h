// Where a policy's desired state lives in Git and how to read it (the policy's `spec.source`).
// Shared by the policy loader, which fills it, and the Git module, which follows it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gitgate {

enum class Render { Plain, Kustomize };

// Flux as the agent that builds the desired state (SPEC §3a): gitgate follows Flux's Kustomizations and
// HelmReleases from the directory Flux's bootstrap Kustomization points at.
struct FluxSpec {
  std::string path;                // repository path of the bootstrap Kustomization ("clusters/production")
  std::string ns = "flux-system";  // where Flux runs: its controllers' service accounts, the bootstrap objects
  std::string ca_file;             // CA bundle for https:// chart repositories with a private CA
};

// How Argo CD ties a live object to its Application (its `application.resourceTrackingMethod`).
enum class ArgoTracking { Label, Annotation, AnnotationAndLabel };

// Argo CD as the agent that builds the desired state (SPEC §3a): gitgate follows the Applications and
// ApplicationSets found below `path`, as the repo-server renders them.
struct ArgoSpec {
  std::string path;           // repository path of the root Application(s) ("argocd/apps")
  std::string ns = "argocd";  // where Argo CD runs: the application-controller's service account
  ArgoTracking tracking = ArgoTracking::Label;
  std::string ca_file;  // CA bundle for https:// chart repositories with a private CA
  // OCI registries ("host:port") Argo CD reaches over plain HTTP (insecureOCIForceHttp in its repository
  // settings, which live in the cluster's Secrets, not in Git).
  std::vector<std::string> plain_http_registries;
  // How Applications name the cluster gitgate guards (destination.server or destination.name). Applications
  // sent elsewhere apply to another cluster: what they build is not declared here.
  std::vector<std::string> destinations{"https://kubernetes.default.svc", "in-cluster"};
  // When `path` is a chart or a kustomization, the Application created outside Git that syncs it: its name
  // is the Helm release name and the tracking its objects carry. "" = the path's last segment for the
  // release, and no tracking declared.
  std::string root_application;
};

// Another Git repository the agent's objects build from (a Flux GitRepository, an Argo CD Application's
// repoURL): fetched like the policy's own, into its own cache repository, at one branch, tag, range or
// commit. Or an OCI artifact (oci://, a Flux OCIRepository), at one tag, range or digest: its files are kept
// in the same kind of cache repository, one commit per artifact digest.
struct OtherRepository {
  std::string url;
  std::string branch = "main";  // what HEAD and an unset revision mean, and the only one fetched
  std::string tag;              // when set, this tag is fetched instead of the branch
  std::string semver;           // when set, the highest tag this range allows (Flux's ref.semver) instead
  std::string commit;           // when set, this commit (40 hex digits: Flux's ref.commit, an Argo CD SHA) instead
  std::string digest;           // OCI only: when set, the artifact with this manifest digest ("sha256:<hex>")
  std::string credentials;      // directory, as SourceSpec::credentials

  bool oci() const { return url.starts_with("oci://"); }
  // What is fetched: "refs/heads/<branch>", "refs/tags/<tag>", "semver:<range>", "commit:<id>" or
  // "digest:sha256:<hex>".
  std::string ref() const {
    if (!digest.empty()) return "digest:" + digest;
    if (!commit.empty()) return "commit:" + commit;
    return !semver.empty() ? "semver:" + semver : tag.empty() ? "refs/heads/" + branch : "refs/tags/" + tag;
  }
  // The ref in a few characters, for citing files when one URL is listed at more than one ref: "main",
  // "v1.2.0", "semver:>=1.0.0", a commit's first 12 digits, "sha256:" and a digest's first 12.
  std::string short_ref() const {
    if (!digest.empty()) return digest.substr(0, 19);
    if (!commit.empty()) return commit.substr(0, 12);
    if (!semver.empty()) return "semver:" + semver;
    return tag.empty() ? branch : tag;
  }
  // "branch main", "tag v1.2.0", "semver '>=1.0.0'" ("tag v1.4.2 (semver '>=1.0.0')" once a fetch has
  // resolved the range and `tag` holds what it resolved to): how messages name it.
  std::string describe() const {
    if (!digest.empty()) return "digest " + digest.substr(0, 19);
    if (!commit.empty()) return "commit " + commit.substr(0, 12);
    if (!semver.empty()) return tag.empty() ? "semver '" + semver + "'" : "tag " + tag + " (semver '" + semver + "')";
    return tag.empty() ? "branch " + branch : "tag " + tag;
  }
};

struct SourceSpec {
  std::string url;  // file://, https://, ssh:// (and git:// for tests)
  // Other URLs of the same repository, as Flux GitRepositories and Argo CD Applications name it when gitgate
  // reads it from elsewhere (a mirror, a file:// clone). Never fetched: only compared.
  std::vector<std::string> known_as;
  // Other repositories that Flux GitRepositories and Argo CD Applications name: only these are fetched.
  std::vector<OtherRepository> repositories;
  std::string branch = "main";
  std::vector<std::string> paths{"."};  // directories (or files) inside the repository
  std::chrono::microseconds interval = std::chrono::seconds(30);
  std::chrono::microseconds fetch_timeout = std::chrono::seconds(60);  // wall clock, per fetch
  std::chrono::microseconds max_staleness = std::chrono::minutes(15);  // /readyz fails beyond; 0 = never
  Render render = Render::Plain;
  std::vector<std::string> kustomize_command{"kubectl", "kustomize"};  // argv; the directory is appended
  std::chrono::microseconds render_timeout = std::chrono::seconds(30);
  std::string default_namespace = "default";
  std::string credentials;      // directory: token | username+password | identity+known_hosts | ca.crt
  std::string allowed_signers;  // OpenSSH allowed_signers file
  bool require_signed_commits = false;
  int window = 5;  // snapshots kept, the current one included
  uint64_t max_file_bytes = 1024 * 1024;
  std::map<std::string, std::string> substitute;  // Flux postBuild values for ${var} placeholders
  // Link to a declared line in the host's web UI, with {commit}, {path} and {line} (core/web_url.h): the
  // policy's webURL, else derived from `url` for known hosts; empty: no links.
  std::string web_url;
  std::optional<FluxSpec> flux;                       // follow Flux's object graph instead of plain `paths`
  std::optional<ArgoSpec> argocd;                     // follow Argo CD's Applications instead of plain `paths`
  std::vector<std::string> helm_command{"helm"};     // argv of the helm binary (Flux and Argo CD sources)
  // What the cluster serves, which helm-controller and Argo CD's repo-server read from the live cluster and
  // charts test with .Capabilities (Flux and Argo CD sources): `helm template --kube-version` and extra
  // `--api-versions` ("monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"). Empty: helm's
  // defaults (its own Kubernetes version, the built-in API versions only).
  std::string kube_version;
  std::vector<std::string> api_versions;
};

}  // namespace gitgate
