// Status: the result of an operation that the machine or the user can refuse.
//
// Modelled on leveldb's Status: errors are values, chained as
//   Status s = First(); if (s.ok()) s = Second();
// A Status carries a code, for callers that branch on the kind of failure (and for
// the protocol's error codes), and a message written for the person who must fix
// the problem. Cheap to copy; safe to use from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace hone {

class Status {
 public:
  enum class Code {
    kOk,
    kInvalidArgument,     // bad input: config, request, value out of domain
    kNotFound,            // no such job, file, knob
    kPermissionDenied,    // the peer may not do this
    kFailedPrecondition,  // the request is valid but not now (job already ended)
    kUnavailable,         // a resource or service is missing or unreachable
    kIOError,             // the machine said no: a syscall or the database failed
    kInternal,            // a bug or an unexpected state
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {Code::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) {
    return {Code::kPermissionDenied, std::move(msg)};
  }
  static Status FailedPrecondition(std::string msg) {
    return {Code::kFailedPrecondition, std::move(msg)};
  }
  static Status Unavailable(std::string msg) {
    return {Code::kUnavailable, std::move(msg)};
  }
  static Status IOError(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }
  // For decoders: a Status of any code but kOk (which yields kInternal).
  static Status FromCode(Code code, std::string msg) {
    return {code == Code::kOk ? Code::kInternal : code, std::move(msg)};
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // The code's stable name, as used on the wire ("invalid_argument", ...).
  std::string_view CodeName() const { return NameOf(code_); }
  static std::string_view NameOf(Code code);
  // Inverse of NameOf; unknown names map to kInternal.
  static Code CodeFromName(std::string_view name);

  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(std::string_view context) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace hone
