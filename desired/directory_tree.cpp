#include "desired/directory_tree.h"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "desired/common.h"

namespace gitgate::desired {
namespace fs = std::filesystem;

namespace {

// Paths from a build (a Kustomization's spec.path) never leave the root.
bool contained(const std::string& path) {
  return path.find("..") == std::string::npos && !path.starts_with("/");
}

void digest_into(EVP_MD_CTX* ctx, const fs::path& path, int depth) {
  std::error_code ec;
  if (depth > 64) return;
  if (fs::is_symlink(path, ec)) return;
  if (fs::is_regular_file(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    char buffer[65536];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0)
      EVP_DigestUpdate(ctx, buffer, static_cast<size_t>(in.gcount()));
    return;
  }
  std::vector<fs::path> children;
  for (const auto& e : fs::directory_iterator(path, ec)) children.push_back(e.path());
  std::sort(children.begin(), children.end());
  for (const auto& child : children) {
    std::string name = child.filename().string() + "\n";
    EVP_DigestUpdate(ctx, name.data(), name.size());
    digest_into(ctx, child, depth + 1);
  }
}

}  // namespace

std::optional<std::string> DirectoryTree::read(const std::string& path) const {
  if (path.empty() || !contained(path)) return std::nullopt;
  fs::path full = fs::path(root_) / path;
  std::error_code ec;
  if (fs::is_symlink(full, ec) || !fs::is_regular_file(full, ec) || fs::file_size(full, ec) > max_file_bytes_)
    return std::nullopt;
  std::ifstream in(full, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::vector<SourceTree::Entry> DirectoryTree::list(const std::string& directory) const {
  std::vector<Entry> out;
  if (!contained(directory)) return out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(root_) / directory, ec)) {
    if (e.is_symlink(ec)) continue;
    std::string name = e.path().filename().string();
    if (name == ".git") continue;
    if (e.is_directory(ec))
      out.push_back({name, true});
    else if (e.is_regular_file(ec))
      out.push_back({name, false});
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return out;
}

std::string DirectoryTree::id(const std::string& path) const {
  if (!contained(path)) return {};
  fs::path full = fs::path(root_) / path;
  std::error_code ec;
  if (!fs::exists(full, ec)) return {};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  digest_into(ctx, full, 0);
  unsigned char digest[32];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx, digest, &size);
  EVP_MD_CTX_free(ctx);
  return hex(digest, size);
}

gitgate::Status DirectoryTree::export_to(const std::string& directory,
                                         std::vector<gitgate::Problem>& problems) const {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root_, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (ec) return gitgate::Error{"cannot read " + root_ + ": " + ec.message()};
    std::string relative = fs::relative(it->path(), root_, ec).generic_string();
    if (it->path().filename() == ".git") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink(ec)) {
      problems.push_back({relative, 0, "symbolic link, not followed; not exported"});
      continue;
    }
    fs::path target = fs::path(directory) / relative;
    if (it->is_directory(ec)) {
      fs::create_directories(target, ec);
    } else if (it->is_regular_file(ec)) {
      fs::create_directories(target.parent_path(), ec);
      fs::copy_file(it->path(), target, fs::copy_options::overwrite_existing, ec);
      if (ec) return gitgate::Error{"cannot copy " + relative + ": " + ec.message()};
    }
  }
  return gitgate::Status::Ok();
}

}  // namespace gitgate::desired
