// Pulling Flux OCI artifacts: from Debian's real docker-registry on 127.0.0.1 (artifacts pushed here as
// `flux push artifact` pushes them: a `{}` config, one tar+gzip layer, annotations), from the same registry
// behind TLS, and from a small fake registry that asks for a Bearer token and redirects blobs to another
// host.
#include "gitstate/oci_pull.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "tests/support/https_client.h"
#include "tests/support/support.h"

namespace gitgate::gitstate::oci {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using gitgate::testing::free_port;
using gitgate::testing::run_command;
using gitgate::testing::Subprocess;
using gitgate::testing::TempDir;
using gitgate::testing::wait_for_port;
using gitgate::testing::write_file;
using json = nlohmann::json;

constexpr const char* kFluxConfig = "application/vnd.cncf.flux.config.v1+json";
constexpr const char* kFluxLayer = "application/vnd.cncf.flux.content.v1.tar+gzip";
constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";

std::string sha256(std::string_view data) {
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), hash, &length, EVP_sha256(), nullptr);
  std::string out = "sha256:";
  char hex[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", hash[i]);
    out += hex;
  }
  return out;
}

// ---- tar.gz built here, so that a test can hold entries GNU tar would not write ----

struct Entry {
  Entry(std::string name_, std::string content_, char type_ = '0', unsigned mode_ = 0644,
        std::string link_ = "")
      : name(std::move(name_)),
        content(std::move(content_)),
        type(type_),
        mode(mode_),
        link(std::move(link_)) {}
  std::string name;
  std::string content;
  char type;
  unsigned mode;
  std::string link;  // of a symbolic or hard link
};

// `width - 1` octal digits and a NUL, as ustar numbers are written.
void put_octal(std::string& header, size_t at, size_t width, uint64_t value) {
  for (size_t i = width - 1; i-- > 0; value >>= 3) header[at + i] = static_cast<char>('0' + (value & 7));
  header[at + width - 1] = '\0';
}

std::string tar_header(const std::string& name, char type, unsigned mode, size_t size,
                       const std::string& link) {
  std::string header(512, '\0');
  std::memcpy(header.data(), name.data(), std::min<size_t>(name.size(), 100));
  put_octal(header, 100, 8, mode);
  put_octal(header, 108, 8, 0);
  put_octal(header, 116, 8, 0);
  put_octal(header, 124, 12, size);
  put_octal(header, 136, 12, 1700000000);
  header[156] = type;
  std::memcpy(header.data() + 157, link.data(), std::min<size_t>(link.size(), 100));
  std::memcpy(header.data() + 257,
              "ustar\0"
              "00",
              8);
  std::memset(header.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (char c : header) sum += static_cast<unsigned char>(c);
  put_octal(header, 148, 7, sum);  // six digits, a NUL, and the space already there
  return header;
}

std::string padded(std::string data) {
  data.resize((data.size() + 511) / 512 * 512, '\0');
  return data;
}

// Names over 100 bytes get a GNU 'L' entry before them, as GNU tar writes.
std::string tar(const std::vector<Entry>& entries) {
  std::string out;
  for (const auto& e : entries) {
    if (e.name.size() > 100)
      out += tar_header("././@LongLink", 'L', 0644, e.name.size() + 1, "") + padded(e.name + '\0');
    out += tar_header(e.name, e.type, e.mode, e.content.size(), e.link) + padded(e.content);
  }
  return out + std::string(1024, '\0');
}

std::string gzip(std::string_view data) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string tgz(const std::vector<Entry>& entries) {
  return gzip(tar(entries));
}

// ---- The registry, and pushes with plain HTTP requests ----

struct Answer {
  int status = 0;
  std::string location, body;
};

Answer send(int port, http::verb verb, const std::string& target, const std::string& content_type = "",
            const std::string& body = "") {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  if (!content_type.empty()) request.set(http::field::content_type, content_type);
  request.body() = body;
  request.prepare_payload();
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(stream, buffer, response);
  return {static_cast<int>(response.result_int()), std::string(response[http::field::location]),
          response.body()};
}

class Registry {
 public:
  // With `tls`, the same storage is served a second time over HTTPS on another port.
  Registry() : port_(free_port()) { process_ = start(port_, ""); }

  void serve_tls() {
    certs_ = gitgate::testing::make_test_certs((dir_ / "certs").string());
    tls_port_ = free_port();
    tls_process_ =
        start(tls_port_, "  tls:\n    certificate: " + certs_.cert + "\n    key: " + certs_.key + "\n");
  }

  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  const std::string& ca() const { return certs_.ca; }
  Reference reference(const std::string& repository) const {
    return *parse_reference("oci://127.0.0.1:" + std::to_string(port_) + "/" + repository);
  }

  std::string push_blob(const std::string& repository, const std::string& bytes) {
    auto started = send(port_, http::verb::post, "/v2/" + repository + "/blobs/uploads/");
    EXPECT_EQ(started.status, 202) << started.body;
    std::string location = started.location;
    if (location.starts_with("http")) location = location.substr(location.find('/', location.find("//") + 2));
    std::string digest = sha256(bytes);
    location += (location.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + digest;
    auto put = send(port_, http::verb::put, location, "application/octet-stream", bytes);
    EXPECT_EQ(put.status, 201) << put.body;
    return digest;
  }

  std::string put_manifest(const std::string& repository, const std::string& tag, const json& manifest,
                           const std::string& media_type = kOciManifest) {
    std::string body = manifest.dump();
    auto put = send(port_, http::verb::put, "/v2/" + repository + "/manifests/" + tag, media_type, body);
    EXPECT_EQ(put.status, 201) << put.body;
    return sha256(body);
  }

  json manifest_for(const std::string& repository,
                    const std::vector<std::pair<std::string, std::string>>& layers) {
    json manifest = {
        {"schemaVersion", 2},
        {"mediaType", kOciManifest},
        {"config", {{"mediaType", kFluxConfig}, {"digest", push_blob(repository, "{}")}, {"size", 2}}},
        {"layers", json::array()},
        {"annotations",
         {{"org.opencontainers.image.source", "https://github.com/example/app"},
          {"org.opencontainers.image.revision", "main@sha1:0123456789abcdef0123456789abcdef01234567"},
          {"org.opencontainers.image.created", "2024-05-01T10:00:00Z"}}}};
    for (const auto& [media_type, bytes] : layers)
      manifest["layers"].push_back(
          {{"mediaType", media_type}, {"digest", push_blob(repository, bytes)}, {"size", bytes.size()}});
    return manifest;
  }

  // As `flux push artifact`: returns the manifest's digest.
  std::string push(const std::string& repository, const std::string& tag, const std::string& layer) {
    return put_manifest(repository, tag, manifest_for(repository, {{kFluxLayer, layer}}));
  }

 private:
  std::unique_ptr<Subprocess> start(int port, const std::string& tls) {
    fs::path config = dir_ / ("config-" + std::to_string(port) + ".yml");
    write_file(config, "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: " +
                           (dir_ / "data").string() + "\nhttp:\n  addr: 127.0.0.1:" + std::to_string(port) +
                           "\n" + tls);
    auto process =
        std::make_unique<Subprocess>(std::vector<std::string>{"docker-registry", "serve", config.string()});
    if (!wait_for_port(port)) throw std::runtime_error("docker-registry did not start: " + process->err());
    return process;
  }

  TempDir dir_;
  int port_;
  std::unique_ptr<Subprocess> process_;
  gitgate::testing::TestCerts certs_;
  int tls_port_ = 0;
  std::unique_ptr<Subprocess> tls_process_;
};

class OciPull : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { registry_ = new Registry(); }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
  }
  static Registry& registry() { return *registry_; }

  static PullRequest by_tag(const std::string& tag) {
    PullRequest request;
    request.tag = tag;
    return request;
  }

  static std::map<std::string, std::string> contents(const Pulled& pulled) {
    std::map<std::string, std::string> out;
    for (const auto& file : pulled.files) out[file.path] = file.content;
    return out;
  }

  static Registry* registry_;
};
Registry* OciPull::registry_ = nullptr;

const std::vector<Entry> kApp = {{"deploy.yaml", "kind: Deployment\n"},
                                 {"config/map.yaml", "kind: ConfigMap\n"}};

TEST_F(OciPull, PullsByTagAndReturnsTheFilesWithTheManifestDigest) {
  std::string digest = registry().push("flux/by-tag", "1.0.0", tgz(kApp));
  auto pulled = pull(registry().reference("flux/by-tag"), by_tag("1.0.0"));
  ASSERT_TRUE(pulled.ok()) << pulled.error();
  EXPECT_EQ(pulled->tag, "1.0.0");
  EXPECT_EQ(pulled->digest, digest);
  EXPECT_FALSE(pulled->unchanged);
  EXPECT_EQ(contents(*pulled),
            (std::map<std::string, std::string>{{"deploy.yaml", "kind: Deployment\n"},
                                                {"config/map.yaml", "kind: ConfigMap\n"}}));
  EXPECT_EQ(pulled->annotations["org.opencontainers.image.source"], "https://github.com/example/app");
  EXPECT_EQ(pulled->annotations["org.opencontainers.image.revision"],
            "main@sha1:0123456789abcdef0123456789abcdef01234567");
  EXPECT_TRUE(pulled->skipped.empty());
}

TEST_F(OciPull, ReadsWhatGnuTarWritesWithExecutableBitsAndLongPaxNames) {
  TempDir source;
  std::string long_dir = std::string(120, 'd');
  fs::create_directories(source / "scripts");
  fs::create_directories(source / long_dir);
  write_file(source / "deploy.yaml", "kind: Deployment\n");
  write_file(source / "scripts/run.sh", "#!/bin/sh\n");
  fs::permissions(source / "scripts/run.sh",
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::others_read);
  write_file(source / long_dir / "x.yaml", "kind: Service\n");
  TempDir out;
  std::string archive = (out / "a.tgz").string();
  auto made = run_command({"tar", "--format=pax", "-czf", archive, "-C", source.path().string(), "."});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::ifstream in(archive, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  registry().push("flux/gnu-tar", "v1", bytes);

  auto pulled = pull(registry().reference("flux/gnu-tar"), by_tag("v1"));
  ASSERT_TRUE(pulled.ok()) << pulled.error();
  auto files = contents(*pulled);
  EXPECT_EQ(files.size(), 3u);
  EXPECT_EQ(files[long_dir + "/x.yaml"], "kind: Service\n");
  for (const auto& file : pulled->files)
    EXPECT_EQ(file.executable, file.path == "scripts/run.sh") << file.path;
}

TEST_F(OciPull, SemverPicksTheHighestAllowedTag) {
  for (std::string tag : {"1.0.0", "1.2.0", "1.10.0-rc.1", "2.0.0", "latest"})
    registry().push("flux/semver", tag, tgz({{"version.txt", tag}}));
  PullRequest request;
  request.semver = ">=1.0.0 <2.0.0";
  auto pulled = pull(registry().reference("flux/semver"), request);
  ASSERT_TRUE(pulled.ok()) << pulled.error();
  EXPECT_EQ(pulled->tag, "1.2.0");
  EXPECT_EQ(contents(*pulled)["version.txt"], "1.2.0");

  request.semver = ">=3.0.0";
  auto none = pull(registry().reference("flux/semver"), request);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("no tag matches (5 tags"), std::string::npos) << none.error();
}

TEST_F(OciPull, PullsByDigestAndRefusesAWrongDigest) {
  std::string digest = registry().push("flux/by-digest", "1.0.0", tgz(kApp));
  PullRequest request;
  request.digest = digest;
  auto pulled = pull(registry().reference("flux/by-digest"), request);
  ASSERT_TRUE(pulled.ok()) << pulled.error();
  EXPECT_EQ(pulled->digest, digest);
  EXPECT_EQ(pulled->tag, "");
  EXPECT_EQ(pulled->files.size(), 2u);

  request.digest = "sha256:" + std::string(64, '0');
  auto unknown = pull(registry().reference("flux/by-digest"), request);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("digest sha256:000"), std::string::npos) << unknown.error();
  EXPECT_NE(unknown.error().find("HTTP 404"), std::string::npos) << unknown.error();

  request.digest = "sha256:abc";
  auto malformed = pull(registry().reference("flux/by-digest"), request);
  ASSERT_FALSE(malformed.ok());
  EXPECT_NE(malformed.error().find("sha256:<64"), std::string::npos) << malformed.error();
}

TEST_F(OciPull, KnownDigestIsUnchangedWithoutDownloadingTheLayer) {
  std::string digest = registry().push("flux/known", "1.0.0", tgz(kApp));
  PullRequest request = by_tag("1.0.0");
  request.known_digest = digest;
  request.max_blob_bytes = 1;  // a layer download would be refused
  auto pulled = pull(registry().reference("flux/known"), request);
  ASSERT_TRUE(pulled.ok()) << pulled.error();
  EXPECT_TRUE(pulled->unchanged);
  EXPECT_EQ(pulled->digest, digest);
  EXPECT_TRUE(pulled->files.empty());
  EXPECT_EQ(pulled->annotations["org.opencontainers.image.source"], "https://github.com/example/app");
}

TEST_F(OciPull, RefusesATarEntryThatClimbsOut) {
  registry().push("flux/climb", "1", tgz({{"ok.yaml", "a"}, {"../x", "evil"}}));
  auto pulled = pull(registry().reference("flux/climb"), by_tag("1"));
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.error().find("'../x' climbs out with '..'"), std::string::npos) << pulled.error();

  registry().push("flux/climb", "2", tgz({{"a/../../x", "evil", '2', 0777, "/etc/passwd"}}));
  EXPECT_FALSE(pull(registry().reference("flux/climb"), by_tag("2")).ok());
}

TEST_F(OciPull, SkipsAndListsSymlinksHardLinksAndDevices) {
  registry().push("flux/links", "1",
                  tgz({{"real.yaml", "kind: A\n"},
                       {"link.yaml", "", '2', 0777, "/etc/passwd"},
                       {"hard.yaml", "", '1', 0644, "real.yaml"},
                       {"dev", "", '3', 0644, ""},
                       {"dir/", "", '5', 0755, ""}}));
  auto pulled = pull(registry().reference("flux/links"), by_tag("1"));
  ASSERT_TRUE(pulled.ok()) << pulled.error();
  EXPECT_EQ(contents(*pulled), (std::map<std::string, std::string>{{"real.yaml", "kind: A\n"}}));
  EXPECT_EQ(pulled->skipped, (std::vector<std::string>{"link.yaml: symbolic link, not extracted",
                                                       "hard.yaml: hard link, not extracted",
                                                       "dev: character device, not extracted"}));
}

TEST_F(OciPull, NormalisesNamesAndALaterEntryReplacesTheEarlier) {
  std::string long_name = "deep/" + std::string(150, 'n') + ".yaml";
  registry().push("flux/names", "1",
                  tgz({{"./a.yaml", "first", '0', 0755},
                       {"/b//./c.yaml", "c"},
                       {long_name, "long"},
                       {"a.yaml", "second", '0', 0644}}));
  auto pulled = pull(registry().reference("flux/names"), by_tag("1"));
  ASSERT_TRUE(pulled.ok()) << pulled.error();
  ASSERT_EQ(pulled->files.size(), 3u);
  EXPECT_EQ(pulled->files[0].path, "a.yaml");
  EXPECT_EQ(pulled->files[0].content, "second");
  EXPECT_FALSE(pulled->files[0].executable);
  EXPECT_EQ(pulled->files[1].path, "b/c.yaml");
  EXPECT_EQ(pulled->files[2].path, long_name);
  EXPECT_EQ(pulled->files[2].content, "long");
}

TEST_F(OciPull, RefusesATarHeaderWithAWrongChecksum) {
  std::string archive = tar({{"a.yaml", "a"}});
  archive[0] = 'b';  // the name changes, the checksum does not
  registry().push("flux/checksum", "1", gzip(archive));
  auto pulled = pull(registry().reference("flux/checksum"), by_tag("1"));
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.error().find("wrong header checksum"), std::string::npos) << pulled.error();
}

TEST_F(OciPull, RefusesLayersPastTheSizeAndCountLimits) {
  registry().push("flux/limits", "1",
                  tgz({{"zeros", std::string(size_t{2} << 20, '\0')}, {"b", "b"}, {"c", "c"}}));
  auto ref = registry().reference("flux/limits");

  PullRequest request = by_tag("1");
  request.max_blob_bytes = 1000;
  auto blob = pull(ref, request);
  ASSERT_FALSE(blob.ok());
  EXPECT_NE(blob.error().find("max_blob_bytes"), std::string::npos) << blob.error();

  request = by_tag("1");
  request.max_unpacked_bytes = size_t{1} << 20;
  auto unpacked = pull(ref, request);
  ASSERT_FALSE(unpacked.ok());
  EXPECT_NE(unpacked.error().find("inflates to more than 1048576 bytes"), std::string::npos) << unpacked.error();

  request = by_tag("1");
  request.max_files = 2;
  auto files = pull(ref, request);
  ASSERT_FALSE(files.ok());
  EXPECT_NE(files.error().find("more than 2 entries"), std::string::npos) << files.error();
}

TEST_F(OciPull, AMissingTagIsAnErrorNamingTheRepositoryAndTag) {
  registry().push("flux/missing", "1.0.0", tgz(kApp));
  auto pulled = pull(registry().reference("flux/missing"), by_tag("nope"));
  ASSERT_FALSE(pulled.ok());
  std::string repository = "oci://127.0.0.1:" + std::to_string(registry().port()) + "/flux/missing";
  EXPECT_NE(pulled.error().find(repository), std::string::npos) << pulled.error();
  EXPECT_NE(pulled.error().find("tag 'nope'"), std::string::npos) << pulled.error();
  EXPECT_NE(pulled.error().find("HTTP 404 (MANIFEST_UNKNOWN"), std::string::npos) << pulled.error();
}

TEST_F(OciPull, ChoosesTheLayerByMediaTypeAndNamesThosePresentWhenNoneMatches) {
  json manifest = registry().manifest_for("flux/media", {{"application/vnd.example.other", "not a tarball"},
                                                         {kFluxLayer, tgz({{"x.yaml", "x"}})}});
  registry().put_manifest("flux/media", "1", manifest);
  PullRequest request = by_tag("1");
  request.media_type = kFluxLayer;
  auto pulled = pull(registry().reference("flux/media"), request);
  ASSERT_TRUE(pulled.ok()) << pulled.error();
  EXPECT_EQ(contents(*pulled)["x.yaml"], "x");

  request.media_type = "application/vnd.example.absent";
  auto absent = pull(registry().reference("flux/media"), request);
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.error().find("application/vnd.example.other, " + std::string(kFluxLayer)),
            std::string::npos)
      << absent.error();

  // Flux's default is the first layer: here not a tarball.
  auto first = pull(registry().reference("flux/media"), by_tag("1"));
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.error().find("not a tar+gzip"), std::string::npos) << first.error();
  EXPECT_NE(first.error().find("operation: copy"), std::string::npos) << first.error();
}

TEST_F(OciPull, RefusesAnImageIndex) {
  json manifest = registry().manifest_for("flux/index", {{kFluxLayer, tgz(kApp)}});
  std::string digest = registry().put_manifest("flux/index", "1", manifest);
  json index = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.index.v1+json"},
      {"manifests", {{{"mediaType", kOciManifest}, {"digest", digest}, {"size", manifest.dump().size()}}}}};
  registry().put_manifest("flux/index", "multi", index, "application/vnd.oci.image.index.v1+json");
  auto pulled = pull(registry().reference("flux/index"), by_tag("multi"));
  ASSERT_FALSE(pulled.ok());
  EXPECT_NE(pulled.error().find("Flux artifacts are single manifests"), std::string::npos) << pulled.error();
}

TEST_F(OciPull, VerifiesTheRegistryCertificateAgainstTheCaFile) {
  registry().push("flux/tls", "1", tgz(kApp));
  registry().serve_tls();
  Reference ref{"127.0.0.1", registry().tls_port(), "flux/tls", false};
  auto untrusted = pull(ref, by_tag("1"));
  ASSERT_FALSE(untrusted.ok());
  EXPECT_NE(untrusted.error().find("is not trusted"), std::string::npos) << untrusted.error();

  PullRequest request = by_tag("1");
  request.credentials.ca_file = registry().ca();
  auto pulled = pull(ref, request);
  ASSERT_TRUE(pulled.ok()) << pulled.error();
  EXPECT_EQ(pulled->files.size(), 2u);
}

// A registry that wants a Bearer token from its realm (Basic auth alice:s3cret), pages its tag list and
// redirects blobs to a storage host (another port), which logs the Authorization header it receives.
constexpr const char* kFakeRegistry = R"PY(
import base64, json, sys, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, storage_port = int(sys.argv[1]), int(sys.argv[2])
manifest, blob = open(sys.argv[3], 'rb').read(), open(sys.argv[4], 'rb').read()
log = sys.argv[5]
basic = 'Basic ' + base64.b64encode(b'alice:s3cret').decode()
class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def reply(self, status, body=b'', headers={}):
        self.send_response(status)
        for k, v in headers.items(): self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        auth = self.headers.get('Authorization', '')
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        if self.server.server_port == storage_port:
            with open(log, 'a') as f: f.write('storage:' + auth + '\n')
            return self.reply(200, blob)
        if url.path == '/token':
            if auth != basic or query.get('service') != ['fake registry'] or query.get('scope') != ['repository:flux/app:pull']:
                return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
            return self.reply(200, json.dumps({'access_token': 'tok-123'}).encode())
        if auth != 'Bearer tok-123':
            realm = 'Bearer realm="http://127.0.0.1:%d/token",service="fake registry",scope="repository:flux/app:pull"' % port
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                              {'WWW-Authenticate': realm})
        if url.path == '/v2/flux/app/tags/list':
            if 'last' not in query:
                return self.reply(200, b'{"tags":["1.0.0"]}', {'Link': '</v2/flux/app/tags/list?last=1.0.0&n=1>; rel="next"'})
            return self.reply(200, b'{"tags":["1.1.0","0.9.0"]}')
        if url.path == '/v2/flux/app/manifests/1.1.0':
            return self.reply(200, manifest, {'Content-Type': 'application/vnd.oci.image.manifest.v1+json'})
        if url.path.startswith('/v2/flux/app/blobs/'):
            return self.reply(307, b'', {'Location': 'http://127.0.0.1:%d/blob?signature=x' % storage_port})
        self.reply(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}')
servers = [ThreadingHTTPServer(('127.0.0.1', p), Handler) for p in (port, storage_port)]
threading.Thread(target=servers[1].serve_forever, daemon=True).start()
servers[0].serve_forever()
)PY";

TEST_F(OciPull, FollowsTheTokenFlowAndKeepsAuthorizationFromTheBlobHost) {
  TempDir dir;
  std::string layer = tgz(kApp);
  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", kOciManifest},
      {"config", {{"mediaType", kFluxConfig}, {"digest", sha256("{}")}, {"size", 2}}},
      {"layers", {{{"mediaType", kFluxLayer}, {"digest", sha256(layer)}, {"size", layer.size()}}}}};
  write_file(dir / "fake.py", kFakeRegistry);
  write_file(dir / "manifest.json", manifest.dump());
  write_file(dir / "layer.tgz", layer);
  int port = free_port(), storage_port = free_port();
  Subprocess fake({"python3", (dir / "fake.py").string(), std::to_string(port), std::to_string(storage_port),
                   (dir / "manifest.json").string(), (dir / "layer.tgz").string(), (dir / "log").string()});
  ASSERT_TRUE(wait_for_port(port) && wait_for_port(storage_port)) << fake.err();
  Reference ref{"127.0.0.1", port, "flux/app", true};

  PullRequest request;
  request.semver = "1.x";
  request.credentials.username = "alice";
  request.credentials.password = "s3cret";
  auto pulled = pull(ref, request);
  ASSERT_TRUE(pulled.ok()) << pulled.error();
  EXPECT_EQ(pulled->tag, "1.1.0");
  EXPECT_EQ(pulled->digest, sha256(manifest.dump()));
  EXPECT_EQ(pulled->files.size(), 2u);
  EXPECT_EQ(gitgate::testing::read_file(dir / "log"), "storage:\n");

  request.credentials.password = "wrong-password";
  auto refused = pull(ref, request);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("HTTP 401 (UNAUTHORIZED: bad credentials)"), std::string::npos)
      << refused.error();
  EXPECT_EQ(refused.error().find("wrong-password"), std::string::npos) << refused.error();
}

TEST(OciReference, LoopbackHostsUsePlainHttp) {
  for (const char* url :
       {"oci://localhost:5000/a", "oci://127.0.0.1:5000/a", "oci://127.1.2.3/a", "oci://[::1]:5000/a"}) {
    auto ref = parse_reference(url);
    ASSERT_TRUE(ref.ok()) << ref.error();
    EXPECT_TRUE(ref->plain_http) << url;
  }
  auto remote = parse_reference("oci://ghcr.io/example/manifests/app");
  ASSERT_TRUE(remote.ok()) << remote.error();
  EXPECT_FALSE(remote->plain_http);
  EXPECT_EQ(remote->host, "ghcr.io");
  EXPECT_EQ(remote->port, 443);
  EXPECT_EQ(remote->repository, "example/manifests/app");
}

TEST(OciReference, KeepsAGivenPortElseTheSchemesDefault) {
  auto given = parse_reference("oci://Registry.Example.com:5000/team/app-config_v2");
  ASSERT_TRUE(given.ok()) << given.error();
  EXPECT_EQ(given->host, "registry.example.com");
  EXPECT_EQ(given->port, 5000);
  EXPECT_EQ(given->repository, "team/app-config_v2");
  EXPECT_EQ(parse_reference("oci://localhost/a")->port, 80);
  auto v6 = parse_reference("oci://[::1]:5000/a");
  ASSERT_TRUE(v6.ok()) << v6.error();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 5000);
}

TEST(OciReference, RefusesBadUrlsNamingThem) {
  for (const char* url :
       {"https://ghcr.io/a", "oci://ghcr.io", "oci://ghcr.io/", "oci:///a", "oci://ghcr.io/Org/App",
        "oci://ghcr.io/a:1.0.0", "oci://ghcr.io/a@sha256:abc", "oci://ghcr.io:0/a", "oci://ghcr.io:99999/a",
        "oci://ghcr.io:x/a", "oci://ghcr.io/a//b", "oci://ghcr.io/a/", "oci://ghcr.io/a/../b",
        "oci://ghcr.io/-a", "oci://ghcr.io/a?x=1", "oci://gh_cr.io/a", "oci://[::1/a"}) {
    auto ref = parse_reference(url);
    ASSERT_FALSE(ref.ok()) << url;
    EXPECT_NE(ref.error().find(std::string("'") + url + "'"), std::string::npos) << ref.error();
  }
  EXPECT_NE(parse_reference("oci://ghcr.io/a:1.0.0").error().find("ref.tag"), std::string::npos);
}

TEST(OciReference, RefusesCredentialsInTheUrlWithoutPrintingThem) {
  auto ref = parse_reference("oci://user:hunter2@ghcr.io/a");
  ASSERT_FALSE(ref.ok());
  EXPECT_EQ(ref.error().find("hunter2"), std::string::npos) << ref.error();
  EXPECT_NE(ref.error().find("oci://***@ghcr.io/a"), std::string::npos) << ref.error();
}

}  // namespace
}  // namespace gitgate::gitstate::oci
