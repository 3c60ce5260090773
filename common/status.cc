#include "common/status.h"

#include <array>

namespace hone {

namespace {
constexpr std::array<std::pair<Status::Code, std::string_view>, 8> kCodeNames = {{
    {Status::Code::kOk, "ok"},
    {Status::Code::kInvalidArgument, "invalid_argument"},
    {Status::Code::kNotFound, "not_found"},
    {Status::Code::kPermissionDenied, "permission_denied"},
    {Status::Code::kFailedPrecondition, "failed_precondition"},
    {Status::Code::kUnavailable, "unavailable"},
    {Status::Code::kIOError, "io_error"},
    {Status::Code::kInternal, "internal"},
}};
}  // namespace

std::string_view Status::NameOf(Code code) {
  for (const auto& [c, name] : kCodeNames)
    if (c == code) return name;
  return "internal";
}

Status::Code Status::CodeFromName(std::string_view name) {
  for (const auto& [c, n] : kCodeNames)
    if (n == name) return c;
  return Code::kInternal;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

}  // namespace hone
