// Fuzz target: the decoders of honed's socket protocol (common/protocol.h).
//
// The input is one line as it arrives, without its newline: honed decodes every
// line a client sends with DecodeRequest (as root, from any member of the socket's
// group), and hone decodes honed's replies with DecodeMessage. Both must refuse
// bad lines with a Status and nothing worse. What decodes must also survive the
// matching encoder: decode(encode(x)) gives x back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/protocol.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// An encoded line without its trailing newline, as the decoders take it.
std::string_view Chomp(const std::string& line) {
  std::string_view view(line);
  if (!view.empty() && view.back() == '\n') view.remove_suffix(1);
  return view;
}

void FuzzRequest(std::string_view line) {
  hone::Request request;
  if (!hone::DecodeRequest(line, &request).ok()) return;
  const std::string encoded = hone::EncodeRequest(request);
  hone::Request again;
  FUZZ_CHECK(hone::DecodeRequest(Chomp(encoded), &again).ok());
  FUZZ_CHECK(again.id == request.id);
  FUZZ_CHECK(again.cmd == request.cmd);
  FUZZ_CHECK(again.args == request.args);
}

std::string Encode(const hone::Message& message) {
  switch (message.kind) {
    case hone::Message::Kind::kResult:
      return hone::EncodeResult(message.id, message.body);
    case hone::Message::Kind::kError:
      return hone::EncodeError(message.id, message.error);
    case hone::Message::Kind::kEvent:
      return hone::EncodeEvent(message.id, message.body);
  }
  return "";
}

void FuzzMessage(std::string_view line) {
  hone::Message message;
  if (!hone::DecodeMessage(line, &message).ok()) return;
  const std::string encoded = Encode(message);
  hone::Message again;
  FUZZ_CHECK(hone::DecodeMessage(Chomp(encoded), &again).ok());
  FUZZ_CHECK(again.kind == message.kind);
  FUZZ_CHECK(again.id == message.id);
  if (message.kind == hone::Message::Kind::kError) {
    FUZZ_CHECK(!again.error.ok());
    FUZZ_CHECK(again.error.code() == message.error.code());
    FUZZ_CHECK(again.error.message() == message.error.message());
  } else {
    FUZZ_CHECK(again.body == message.body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  FuzzRequest(line);
  FuzzMessage(line);
  return 0;
}
