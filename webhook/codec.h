// AdmissionReview v1 codec. Decoding parses the body once with simdjson's DOM parser (a tape in buffers
// the decoder reuses, no allocation per request once warm) and validates only the fields decisions use;
// the engine then walks `object`/`oldObject` on that tape. Encoding writes the response directly.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "core/admission.h"
#include "core/decision.h"
#include "core/result.h"

namespace gitgate::webhook {

constexpr size_t kMaxBodyBytes = 7 * 1024 * 1024;
constexpr size_t kMaxJsonDepth = 512;

class ReviewDecoder {
 public:
  ReviewDecoder();

  // Decodes an AdmissionReview. `body` must be followed by at least simdjson::SIMDJSON_PADDING readable
  // bytes (see PaddedBody). The returned request points into this decoder and stays valid until the next
  // call. Errors say what is wrong and where (field path), for an HTTP 400.
  Result<AdmissionRequest> decode(std::string_view body);

  // Gives back memory after an unusually large body.
  void trim();

 private:
  simdjson::dom::parser parser_;
  std::vector<size_t> key_hashes_;  // the duplicate-key scan's scratch space
  std::string widened_;             // a body whose integers beyond 64 bits were rewritten as doubles
};

// Owns a copy of a body with the padding simdjson needs (tests, CLI).
class PaddedBody {
 public:
  explicit PaddedBody(std::string_view body);
  std::string_view view() const { return {data_.data(), size_}; }

 private:
  std::string data_;
  size_t size_;
};

// Go's encoding/json writes a float64 without a fraction as an integer (1e20 as 100000000000000000000), which
// simdjson's DOM refuses. Copies `json` with ".0" after each integer literal that fits neither int64 nor
// uint64, so it reads as the double Go meant; false when there is none. The decoder does this on its own.
bool widen_big_integers(std::string_view json, std::string& out);

// The AdmissionReview response for `uid`: allowed, status on deny, warnings, auditAnnotations; never a patch.
std::string encode_response(std::string_view uid, const Decision& decision);
void encode_response(std::string& out, std::string_view uid, const Decision& decision);

}  // namespace gitgate::webhook
