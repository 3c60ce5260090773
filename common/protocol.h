// Protocol: the codec for honed's socket, newline-delimited JSON (docs/protocol.md).
//
// Every line is one JSON object carrying the protocol version "v" and a request id
// chosen by the client:
//   request  {"v":1,"id":7,"cmd":"status","args":{"job":3}}
//   result   {"v":1,"id":7,"ok":true,"result":{...}}
//   error    {"v":1,"id":7,"ok":false,"error":{"code":"not_found","message":"..."}}
//   event    {"v":1,"id":7,"event":{"type":"progress",...}}   (after `watch`)
// Lines are capped at kMaxLineBytes and their nesting at limits::kMaxJsonDepth,
// checked before a line is parsed, so no line can exhaust the stack or the memory
// of the decoder. Request ids are integers from 0 to 2^63-1. This file only encodes
// and decodes; it does no I/O, so both ends and the tests share it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/limits.h"
#include "common/status.h"

namespace hone {

constexpr int kProtocolVersion = 1;
constexpr size_t kMaxLineBytes = limits::kMaxLineBytes;

struct Request {
  int64_t id = 0;
  std::string cmd;
  nlohmann::json args = nlohmann::json::object();
};

struct Message {
  enum class Kind { kResult, kError, kEvent };
  Kind kind = Kind::kResult;
  int64_t id = 0;
  nlohmann::json body;  // result or event object
  Status error;         // kError only
};

// Encoders return one line, newline included.
std::string EncodeRequest(const Request& request);
std::string EncodeResult(int64_t id, const nlohmann::json& result);
// The same line for a result already serialized by DumpResult: a reply that many
// clients ask for is serialized once.
std::string EncodeResultText(int64_t id, std::string_view result);
std::string DumpResult(const nlohmann::json& result);
std::string EncodeError(int64_t id, const Status& error);
std::string EncodeEvent(int64_t id, const nlohmann::json& event);

// Decoders take one line without its newline. On failure `request->id` holds the
// request's id when it could be read (so the error can be addressed), else 0.
Status DecodeRequest(std::string_view line, Request* request);
Status DecodeMessage(std::string_view line, Message* message);

}  // namespace hone
