// The typed view of an admission.k8s.io/v1 AdmissionReview request that the decision engine reads.
// Strings and JSON values point into the parsed document owned by the decoder: a request is valid only
// while the decoder that produced it is alive and has not parsed another body.
#pragma once

#include <optional>
#include <string_view>

#include <simdjson.h>

namespace gitgate {

enum class Operation { Create, Update, Delete, Connect };

std::string_view to_string(Operation op);

struct GroupVersionKind {
  std::string_view group;
  std::string_view version;
  std::string_view kind;
};

struct GroupVersionResource {
  std::string_view group;
  std::string_view version;
  std::string_view resource;
};

struct UserInfo {
  std::string_view username;
  std::string_view uid;
  std::optional<simdjson::dom::array> groups;   // strings
  std::optional<simdjson::dom::object> extra;   // string -> [string]; kept only for the audit log

  bool in_group(std::string_view group) const;
};

struct AdmissionRequest {
  std::string_view uid;
  GroupVersionKind kind;
  GroupVersionResource resource;
  std::string_view sub_resource;
  GroupVersionKind request_kind;
  GroupVersionResource request_resource;
  std::string_view request_sub_resource;
  std::string_view name;
  std::string_view ns;
  Operation operation = Operation::Create;
  UserInfo user;
  // JSON objects (the decoder guarantees the type); elements, so they can be walked and compared.
  std::optional<simdjson::dom::element> object;      // absent or null on DELETE
  std::optional<simdjson::dom::element> old_object;  // absent or null on CREATE
  bool dry_run = false;
  std::optional<simdjson::dom::element> options;
  // Who sent the review over TLS, set by the server (not read from the body): "address:port", and the
  // client certificate's subject when one was presented (mTLS). Kept for the audit log.
  std::string_view peer_address;
  std::string_view peer_subject;
};

}  // namespace gitgate
