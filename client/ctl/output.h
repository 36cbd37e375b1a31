// How hecatectl shows API objects: one human-readable form and one JSON form
// per object, so every verb prints a session (or model, or top-k list) alike.
//
// JSON uses snake_case field names as in hecate.proto, with numbers as JSON
// numbers (pulse ids stay exact up to 2^53) and bytes as strings with invalid
// UTF-8 replaced; exact bytes are also given as integer lists where it
// matters (generated tokens).
#ifndef HECATE_CLIENT_CTL_OUTPUT_H_
#define HECATE_CLIENT_CTL_OUTPUT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_field.h"
#include "google/protobuf/timestamp.pb.h"
#include "nlohmann/json.hpp"
#include "proto/hecate/v1/hecate.pb.h"

namespace hecate {

// A byte as a quoted C literal: 'a', '\n', '\x00'. Tokens beyond 255 (never
// sent by a correct server) print as <token N>.
std::string QuoteToken(uint32_t token);

// "2026-11-23T09:36:46Z"; "-" for an unset timestamp.
std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp);

// 12345678 -> "11.8 MiB"; below 1 KiB, "123 B".
std::string HumanBytes(int64_t bytes);

// RESIDENCY_DEVICE -> "device"; FINISH_REASON_MAX_TOKENS -> "max_tokens".
std::string ResidencyName(v1::Residency residency);
std::string FinishReasonName(v1::FinishReason reason);

// Multi-line "key: value" description of a session or the model.
std::string DescribeSession(const v1::Session& session);
std::string DescribeModelInfo(const v1::ModelInfo& info);

// One row of `hecatectl list`, and its header.
std::string SessionTableHeader();
std::string SessionTableRow(const v1::Session& session);

// "' ' -0.52  'e' -1.83  ..."
std::string FormatTopK(const google::protobuf::RepeatedPtrField<v1::TokenLogProb>& top_k);

nlohmann::json SessionToJson(const v1::Session& session);
nlohmann::json ModelInfoToJson(const v1::ModelInfo& info);
nlohmann::json TopKToJson(const google::protobuf::RepeatedPtrField<v1::TokenLogProb>& top_k);

// Compact single-line JSON; never throws (invalid UTF-8 becomes U+FFFD).
std::string DumpJson(const nlohmann::json& value);

}  // namespace hecate

#endif  // HECATE_CLIENT_CTL_OUTPUT_H_
