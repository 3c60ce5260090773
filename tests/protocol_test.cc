// Specification of honed's wire format (common/protocol.h): one JSON object per
// line, versioned, with a client-chosen id.
#include "common/protocol.h"

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

namespace hone {
namespace {

using nlohmann::json;

// An encoded line without its trailing newline, as the decoders take it.
std::string Chomp(const std::string& line) {
  return line.empty() || line.back() != '\n' ? line : line.substr(0, line.size() - 1);
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---------------------------------------------------------------------------
// Round trips.

TEST(ProtocolTest, RequestRoundTrips) {
  Request request;
  request.id = 7;
  request.cmd = "status";
  request.args = {{"job", 3}, {"verbose", true}};
  Request decoded;
  Status s = DecodeRequest(Chomp(EncodeRequest(request)), &decoded);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(decoded.id, 7);
  EXPECT_EQ(decoded.cmd, "status");
  EXPECT_EQ(decoded.args, request.args);
}

TEST(ProtocolTest, EncodedRequestCarriesVersionOne) {
  Request request;
  request.id = 1;
  request.cmd = "list";
  json object = json::parse(EncodeRequest(request));
  EXPECT_EQ(object["v"], 1);
  EXPECT_EQ(object["id"], 1);
  EXPECT_EQ(object["cmd"], "list");
  EXPECT_EQ(object["args"], json::object());
}

TEST(ProtocolTest, RequestWithoutArgsDecodesToEmptyArgs) {
  Request decoded;
  Status s = DecodeRequest(R"({"v":1,"id":4,"cmd":"list"})", &decoded);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(decoded.id, 4);
  EXPECT_TRUE(decoded.args.is_object());
  EXPECT_TRUE(decoded.args.empty());
}

TEST(ProtocolTest, RequestWithLargeIdRoundTrips) {
  Request request;
  request.id = int64_t{1} << 53;
  request.cmd = "x";
  Request decoded;
  ASSERT_TRUE(DecodeRequest(Chomp(EncodeRequest(request)), &decoded).ok());
  EXPECT_EQ(decoded.id, int64_t{1} << 53);
}

TEST(ProtocolTest, ResultRoundTrips) {
  json result = {{"jobs", json::array({1, 2})}, {"state", "running"}};
  Message message;
  Status s = DecodeMessage(Chomp(EncodeResult(12, result)), &message);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(message.kind, Message::Kind::kResult);
  EXPECT_EQ(message.id, 12);
  EXPECT_EQ(message.body, result);
  EXPECT_TRUE(message.error.ok());
}

TEST(ProtocolTest, EncodedResultHasOkTrue) {
  json object = json::parse(EncodeResult(5, {{"a", 1}}));
  EXPECT_EQ(object["v"], 1);
  EXPECT_EQ(object["id"], 5);
  EXPECT_EQ(object["ok"], true);
  EXPECT_EQ(object["result"], json({{"a", 1}}));
}

// A result serialized once (EncodeResultText) is the very line that serializing
// the reply object whole would give, for any result, invalid UTF-8 included.
TEST(ProtocolTest, ResultTextGivesTheSameLineAsTheWholeReplyObject) {
  const json results[] = {
      json::object(),
      {{"job", 3}, {"state", "running"}, {"progress", {{"elapsed_s", 1.5}}}},
      json::array({1, "two", nullptr, 2.5e300}),
      "\xff not UTF-8 \xc3",
      nullptr};
  for (const json& result : results) {
    for (int64_t id : {int64_t{0}, int64_t{7}, INT64_MAX}) {
      json whole = {{"v", 1}, {"id", id}, {"ok", true}, {"result", result}};
      std::string expected =
          whole.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
      EXPECT_EQ(EncodeResult(id, result), expected);
      EXPECT_EQ(EncodeResultText(id, DumpResult(result)), expected);
    }
  }
}

TEST(ProtocolTest, ErrorRoundTripsWithItsCodeAndMessage) {
  Message message;
  Status s = DecodeMessage(Chomp(EncodeError(9, Status::NotFound("no job 3"))), &message);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(message.kind, Message::Kind::kError);
  EXPECT_EQ(message.id, 9);
  EXPECT_EQ(std::string(message.error.CodeName()), "not_found");
  EXPECT_EQ(message.error.message(), "no job 3");
}

TEST(ProtocolTest, EncodedErrorNamesItsCodeOnTheWire) {
  json object = json::parse(EncodeError(9, Status::PermissionDenied("not yours")));
  EXPECT_EQ(object["ok"], false);
  EXPECT_EQ(object["error"]["code"], "permission_denied");
  EXPECT_EQ(object["error"]["message"], "not yours");
}

TEST(ProtocolTest, EveryErrorCodeSurvivesTheRoundTrip) {
  const Status errors[] = {Status::InvalidArgument("a"),  Status::NotFound("b"),
                           Status::PermissionDenied("c"), Status::FailedPrecondition("d"),
                           Status::Unavailable("e"),      Status::IOError("f"),
                           Status::Internal("g")};
  for (const Status& error : errors) {
    Message message;
    ASSERT_TRUE(DecodeMessage(Chomp(EncodeError(1, error)), &message).ok());
    EXPECT_EQ(message.error.code(), error.code()) << error.CodeName();
    EXPECT_EQ(message.error.message(), error.message());
  }
}

TEST(ProtocolTest, ErrorWithUnknownCodeDecodesAsInternal) {
  Message message;
  Status s = DecodeMessage(
      R"({"v":1,"id":2,"ok":false,"error":{"code":"exploded","message":"boom"}})",
      &message);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(message.kind, Message::Kind::kError);
  EXPECT_EQ(std::string(message.error.CodeName()), "internal");
  EXPECT_EQ(message.error.message(), "boom");
}

TEST(ProtocolTest, ErrorReplyWithoutDetailsIsStillAnError) {
  Message message;
  Status s = DecodeMessage(R"({"v":1,"id":2,"ok":false})", &message);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(message.kind, Message::Kind::kError);
  EXPECT_FALSE(message.error.ok());
}

TEST(ProtocolTest, EventRoundTrips) {
  json event = {{"type", "progress"}, {"configs_explored", 4}, {"best", 12.5}};
  Message message;
  Status s = DecodeMessage(Chomp(EncodeEvent(3, event)), &message);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(message.kind, Message::Kind::kEvent);
  EXPECT_EQ(message.id, 3);
  EXPECT_EQ(message.body, event);
}

TEST(ProtocolTest, DecodingResetsThePreviousMessage) {
  Message message;
  ASSERT_TRUE(DecodeMessage(Chomp(EncodeError(1, Status::NotFound("x"))), &message).ok());
  ASSERT_TRUE(DecodeMessage(Chomp(EncodeResult(2, {{"a", 1}})), &message).ok());
  EXPECT_EQ(message.kind, Message::Kind::kResult);
  EXPECT_TRUE(message.error.ok());
}

// ---------------------------------------------------------------------------
// Line framing.

TEST(ProtocolTest, EveryEncodedLineEndsWithExactlyOneNewline) {
  Request request;
  request.id = 1;
  request.cmd = "status";
  const std::string lines[] = {EncodeRequest(request), EncodeResult(1, {{"a", 1}}),
                               EncodeError(1, Status::Internal("x")),
                               EncodeEvent(1, {{"type", "done"}})};
  for (const std::string& line : lines) {
    ASSERT_FALSE(line.empty());
    EXPECT_EQ(line.back(), '\n') << line;
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
  }
}

TEST(ProtocolTest, NewlinesInsideStringsAreEscaped) {
  Request request;
  request.id = 1;
  request.cmd = "run\n";
  request.args = {{"command", "echo a\necho b\r\n"}};
  const std::string lines[] = {EncodeRequest(request),
                               EncodeResult(1, {{"output", "line 1\nline 2\n"}}),
                               EncodeError(1, Status::InvalidArgument("bad\nconfig")),
                               EncodeEvent(1, {{"stderr", "\n\n"}})};
  for (const std::string& line : lines) {
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  }
}

TEST(ProtocolTest, NewlinesInsideStringsSurviveTheRoundTrip) {
  Message message;
  ASSERT_TRUE(DecodeMessage(Chomp(EncodeResult(1, {{"output", "a\nb"}})), &message).ok());
  EXPECT_EQ(message.body["output"], "a\nb");
}

TEST(ProtocolTest, InvalidUtf8InResultDoesNotThrow) {
  const json result = {{"output", std::string("ok \xff\xfe bytes")}};
  std::string line;
  EXPECT_NO_THROW(line = EncodeResult(1, result));
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  // The bad bytes are replaced; the line is still valid JSON and decodes.
  Message message;
  Status s = DecodeMessage(Chomp(line), &message);
  ASSERT_TRUE(s.ok()) << s.message();
  const std::string output = message.body["output"].get<std::string>();
  EXPECT_EQ(output.rfind("ok ", 0), 0u) << output;
  EXPECT_TRUE(Contains(output, " bytes")) << output;
  EXPECT_TRUE(Contains(output, "\xEF\xBF\xBD")) << "expected U+FFFD in " << output;
}

TEST(ProtocolTest, InvalidUtf8InEventAndErrorDoesNotThrow) {
  EXPECT_NO_THROW(EncodeEvent(1, {{"line", std::string("\xc3")}}));
  EXPECT_NO_THROW(EncodeError(1, Status::IOError(std::string("bad \x80 path"))));
}

// ---------------------------------------------------------------------------
// Malformed requests.

TEST(ProtocolTest, RequestThatIsNotJsonIsInvalid) {
  Request request;
  Status s = DecodeRequest("status please", &request);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "not valid JSON")) << s.message();
  EXPECT_EQ(request.id, 0);
}

TEST(ProtocolTest, EmptyLineIsInvalid) {
  Request request;
  Status s = DecodeRequest("", &request);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
}

TEST(ProtocolTest, RequestThatIsNotAnObjectIsInvalid) {
  Request request;
  Status s = DecodeRequest(R"([1, "status"])", &request);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "not a JSON object")) << s.message();
}

TEST(ProtocolTest, RequestWithoutIdIsInvalid) {
  Request request;
  Status s = DecodeRequest(R"({"v":1,"cmd":"status"})", &request);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "\"id\"")) << s.message();
  EXPECT_EQ(request.id, 0);
}

TEST(ProtocolTest, RequestWithNonIntegerIdIsInvalid) {
  Request request;
  Status s = DecodeRequest(R"({"v":1,"id":"7","cmd":"status"})", &request);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "integer \"id\"")) << s.message();
}

TEST(ProtocolTest, RequestWithoutCmdIsInvalidButKeepsItsId) {
  Request request;
  Status s = DecodeRequest(R"({"v":1,"id":5})", &request);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "\"cmd\"")) << s.message();
  EXPECT_EQ(request.id, 5);
}

TEST(ProtocolTest, RequestWithNonStringCmdIsInvalid) {
  Request request;
  Status s = DecodeRequest(R"({"v":1,"id":5,"cmd":42})", &request);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "string \"cmd\"")) << s.message();
  EXPECT_EQ(request.id, 5);
}

TEST(ProtocolTest, RequestWhoseArgsAreNotAnObjectIsInvalidButKeepsItsId) {
  Request request;
  Status s = DecodeRequest(R"({"v":1,"id":6,"cmd":"status","args":[3]})", &request);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "\"args\" must be an object")) << s.message();
  EXPECT_EQ(request.id, 6);
}

TEST(ProtocolTest, RequestOfAnotherVersionIsInvalid) {
  Request request;
  Status s = DecodeRequest(R"({"v":2,"id":8,"cmd":"status"})", &request);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "unsupported protocol version 2")) << s.message();
  EXPECT_TRUE(Contains(s.message(), "version 1")) << s.message();
}

// Regression (fixed): the version is checked before the id is read, so a request of
// another version cannot be answered at its id although the id is readable (protocol.h:
// "On failure request->id holds the request's id when it could be read").
TEST(ProtocolTest, RequestOfAnotherVersionKeepsItsId) {
  Request request;
  Status s = DecodeRequest(R"({"v":2,"id":8,"cmd":"status"})", &request);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(request.id, 8);
}

TEST(ProtocolTest, NonIntegerVersionIsInvalid) {
  Request request;
  EXPECT_FALSE(DecodeRequest(R"({"v":"1","id":8,"cmd":"status"})", &request).ok());
  EXPECT_FALSE(DecodeRequest(R"({"v":1.5,"id":8,"cmd":"status"})", &request).ok());
}

// Regression (fixed): the version is compared after conversion to int, so 2^32 + 1 passes
// as 1.
TEST(ProtocolTest, VersionThatOnlyTruncatesToOneIsInvalid) {
  Request request;
  Status s = DecodeRequest(R"({"v":4294967297,"id":8,"cmd":"status"})", &request);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
}

TEST(ProtocolTest, OversizeLineIsRejectedBeforeParsing) {
  // A well-formed request one byte over the limit.
  const std::string head = R"({"v":1,"id":3,"cmd":"x","args":{"pad":")";
  const std::string tail = R"("}})";
  std::string line =
      head + std::string(kMaxLineBytes + 1 - head.size() - tail.size(), 'a') + tail;
  ASSERT_EQ(line.size(), kMaxLineBytes + 1);
  Request request;
  Status s = DecodeRequest(line, &request);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(
      Contains(s.message(), "exceeds the limit of " + std::to_string(kMaxLineBytes)))
      << s.message().substr(0, 200);
}

TEST(ProtocolTest, LineOfExactlyTheLimitIsAccepted) {
  const std::string head = R"({"v":1,"id":3,"cmd":"x","args":{"pad":")";
  const std::string tail = R"("}})";
  std::string line =
      head + std::string(kMaxLineBytes - head.size() - tail.size(), 'a') + tail;
  ASSERT_EQ(line.size(), kMaxLineBytes);
  Request request;
  Status s = DecodeRequest(line, &request);
  ASSERT_TRUE(s.ok()) << s.message().substr(0, 200);
  EXPECT_EQ(request.id, 3);
}

// ---------------------------------------------------------------------------
// Malformed replies.

TEST(ProtocolTest, MessageThatIsNotJsonIsInvalid) {
  Message message;
  Status s = DecodeMessage("{\"v\":1,", &message);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "not valid JSON")) << s.message();
}

TEST(ProtocolTest, MessageThatIsNotAnObjectIsInvalid) {
  Message message;
  Status s = DecodeMessage("42", &message);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "not a JSON object")) << s.message();
}

TEST(ProtocolTest, MessageWithoutIdIsInvalid) {
  Message message;
  Status s = DecodeMessage(R"({"v":1,"ok":true,"result":{}})", &message);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "\"id\"")) << s.message();
}

TEST(ProtocolTest, MessageThatIsNeitherReplyNorEventIsInvalid) {
  Message message;
  Status s = DecodeMessage(R"({"v":1,"id":4,"result":{}})", &message);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "neither an event nor a reply")) << s.message();
  EXPECT_EQ(message.id, 4);
}

TEST(ProtocolTest, MessageOfAnotherVersionIsInvalid) {
  Message message;
  Status s = DecodeMessage(R"({"v":2,"id":4,"ok":true,"result":{}})", &message);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "unsupported protocol version 2")) << s.message();
}

TEST(ProtocolTest, OversizeMessageIsRejected) {
  Message message;
  Status s = DecodeMessage(std::string(kMaxLineBytes + 1, ' '), &message);
  EXPECT_EQ(std::string(s.CodeName()), "invalid_argument");
  EXPECT_TRUE(Contains(s.message(), "exceeds the limit")) << s.message().substr(0, 200);
}

}  // namespace
// ---------------------------------------------------------------------------
// Hostile input (issue 14).

TEST(ProtocolTest, Issue14SixtyThousandNestedLevelsAreRefusedNotACrash) {
  // 132 KB: a ping whose args nest 60,000 levels deep.
  std::string line = "{\"v\":1,\"id\":3,\"cmd\":\"ping\",\"args\":{\"x\":" +
                     std::string(60000, '[') + std::string(60000, ']') + "}}";
  Request request;
  Status s = DecodeRequest(line, &request);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "deeper than the limit of 64 levels")) << s.message();
  Message message;
  EXPECT_FALSE(DecodeMessage("{\"v\":1,\"id\":3,\"ok\":true,\"result\":" +
                                 std::string(100000, '{') + "}",
                             &message)
                   .ok());
}

TEST(ProtocolTest, BracketsInsideStringsDoNotCountAsNesting) {
  std::string text = std::string(1000, '[') + "\\\"{{{";
  Request request;
  json line = {{"v", 1}, {"id", 1}, {"cmd", "ping"}, {"args", {{"x", text}}}};
  Status s = DecodeRequest(line.dump(), &request);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(request.args["x"], text);
  // 64 levels are allowed, 65 are not.
  json deep = json::array();
  for (int i = 0; i < 61; ++i) deep = json::array({deep});
  line["args"] = {{"x", deep}};  // 1 + 1 + 62 levels
  EXPECT_TRUE(DecodeRequest(line.dump(), &request).ok());
  line["args"] = {{"x", json::array({deep})}};
  EXPECT_FALSE(DecodeRequest(line.dump(), &request).ok());
}

TEST(ProtocolTest, Issue14RequestId2To64Minus1IsRefusedNotTurnedIntoMinus1) {
  Request request;
  Status s = DecodeRequest(R"({"v":1,"id":18446744073709551615,"cmd":"ping"})", &request);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "out of range")) << s.message();
  EXPECT_EQ(request.id, 0);  // the error is addressed to id 0, not -1
  EXPECT_FALSE(DecodeRequest(R"({"v":1,"id":-5,"cmd":"ping"})", &request).ok());
  s = DecodeRequest(R"({"v":1,"id":9223372036854775807,"cmd":"ping"})", &request);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(request.id, INT64_MAX);
}

TEST(ProtocolTest, Issue14AnErrorReplyOfTheWrongShapeIsAStatusNotAnException) {
  // Found by the protocol fuzz target: hone died on this reply.
  Message message;
  Status s = DecodeMessage(R"({"id":0,"ok":false,"error":{"message":0,"code":[]}})", &message);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(message.kind, Message::Kind::kError);
  EXPECT_EQ(message.error.message(), "unknown error");
  EXPECT_TRUE(DecodeMessage(R"({"id":1,"ok":false,"error":7})", &message).ok());
  EXPECT_TRUE(DecodeMessage(R"({"id":1,"ok":true,"result":[1]})", &message).ok());
}

}  // namespace hone
