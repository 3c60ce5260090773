#include "common/protocol.h"

#include <algorithm>

namespace hone {

using nlohmann::json;

namespace {

std::string Line(const json& object) {
  // Invalid UTF-8 (a workload's odd output) is replaced, never fatal.
  return DumpResult(object) + "\n";
}

// The deepest nesting of arrays and objects in `line`, counted without parsing it
// (brackets inside strings do not count); stops counting past `limit`.
int NestingDepth(std::string_view line, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// Parses one line into a JSON object.
Status ParseObject(std::string_view line, json* object) {
  if (line.size() > kMaxLineBytes)
    return Status::InvalidArgument("message of " + std::to_string(line.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(kMaxLineBytes));
  if (NestingDepth(line, limits::kMaxJsonDepth) > limits::kMaxJsonDepth)
    return Status::InvalidArgument("message nests arrays and objects deeper than the "
                                   "limit of " +
                                   std::to_string(limits::kMaxJsonDepth) + " levels");
  *object = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (object->is_discarded()) return Status::InvalidArgument("message is not valid JSON");
  if (!object->is_object())
    return Status::InvalidArgument("message is not a JSON object");
  return Status::OK();
}

// Ids are integers that fit an int64_t and are not negative: an unsigned 2^64-1
// must not come back as -1.
bool IsId(const json& id) {
  if (id.is_number_unsigned())
    return id.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
  return id.is_number_integer() && id.get<int64_t>() >= 0;
}

// An absent "v" means the current version.
Status CheckVersion(const json& object) {
  auto v = object.find("v");
  if (v != object.end() &&
      (!v->is_number_integer() || v->get<int64_t>() != kProtocolVersion))
    return Status::InvalidArgument("unsupported protocol version " + v->dump() +
                                   "; this end speaks version " +
                                   std::to_string(kProtocolVersion));
  return Status::OK();
}

}  // namespace

std::string EncodeRequest(const Request& request) {
  return Line({{"v", kProtocolVersion},
               {"id", request.id},
               {"cmd", request.cmd},
               {"args", request.args}});
}

std::string DumpResult(const json& result) {
  return result.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string EncodeResult(int64_t id, const json& result) {
  return EncodeResultText(id, DumpResult(result));
}

std::string EncodeResultText(int64_t id, std::string_view result) {
  // What Line() makes of {"v", "id", "ok", "result"}: its keys in sorted order,
  // without copying the result into a new object.
  std::string line = "{\"id\":" + std::to_string(id) + ",\"ok\":true,\"result\":";
  line.reserve(line.size() + result.size() + 16);
  line.append(result);
  line += ",\"v\":" + std::to_string(kProtocolVersion) + "}\n";
  return line;
}

std::string EncodeError(int64_t id, const Status& error) {
  return Line({{"v", kProtocolVersion},
               {"id", id},
               {"ok", false},
               {"error", {{"code", error.CodeName()}, {"message", error.message()}}}});
}

std::string EncodeEvent(int64_t id, const json& event) {
  return Line({{"v", kProtocolVersion}, {"id", id}, {"event", event}});
}

Status DecodeRequest(std::string_view line, Request* request) {
  *request = Request();
  json object;
  Status s = ParseObject(line, &object);
  if (!s.ok()) return s;
  auto id = object.find("id");
  bool id_ok = id != object.end() && IsId(*id);
  if (id_ok) request->id = id->get<int64_t>();
  s = CheckVersion(object);
  if (!s.ok()) return s;
  if (id == object.end() || !id->is_number_integer())
    return Status::InvalidArgument("request lacks an integer \"id\"");
  if (!id_ok)
    return Status::InvalidArgument("request id " + id->dump() +
                                   " is out of range (0 to 9223372036854775807)");
  auto cmd = object.find("cmd");
  if (cmd == object.end() || !cmd->is_string())
    return Status::InvalidArgument("request lacks a string \"cmd\"");
  request->cmd = cmd->get<std::string>();
  auto args = object.find("args");
  if (args != object.end()) {
    if (!args->is_object())
      return Status::InvalidArgument("request \"args\" must be an object");
    request->args = *args;
  }
  return Status::OK();
}

Status DecodeMessage(std::string_view line, Message* message) {
  *message = Message();
  json object;
  Status s = ParseObject(line, &object);
  if (s.ok()) s = CheckVersion(object);
  if (!s.ok()) return s;
  auto id = object.find("id");
  if (id == object.end() || !IsId(*id))
    return Status::InvalidArgument("message lacks an integer \"id\" from 0 to 2^63-1");
  message->id = id->get<int64_t>();
  if (auto event = object.find("event"); event != object.end()) {
    message->kind = Message::Kind::kEvent;
    message->body = *event;
    return Status::OK();
  }
  auto ok = object.find("ok");
  if (ok == object.end() || !ok->is_boolean())
    return Status::InvalidArgument("message is neither an event nor a reply");
  if (ok->get<bool>()) {
    message->kind = Message::Kind::kResult;
    auto result = object.find("result");
    message->body = result != object.end() ? *result : json::object();
    return Status::OK();
  }
  message->kind = Message::Kind::kError;
  auto it = object.find("error");
  const json error = it != object.end() && it->is_object() ? *it : json::object();
  auto text_of = [&error](const char* key, const char* otherwise) {
    auto field = error.find(key);
    return field != error.end() && field->is_string() ? field->get<std::string>()
                                                     : std::string(otherwise);
  };
  std::string code = text_of("code", "internal");
  std::string text = text_of("message", "unknown error");
  message->error = Status::FromCode(Status::CodeFromName(code), text);
  return Status::OK();
}

}  // namespace hone
