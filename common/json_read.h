// Tolerant readers of JSON from honed or a file (reports, trial histories): a
// field that is missing or of another type reads as the default, and numbers are
// clamped to what the type holds (no exception, no overflow). For formatters that
// show whatever they are given.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace hone::json_read {

using nlohmann::json;

inline json Field(const json& object, const char* key, const json& otherwise = json()) {
  if (!object.is_object()) return otherwise;
  auto it = object.find(key);
  return it == object.end() ? otherwise : *it;
}

// Counts within +-2^53, so that a sum of a few of them cannot overflow.
inline int64_t Int(const json& object, const char* key) {
  constexpr int64_t kLimit = int64_t{1} << 53;
  json value = Field(object, key);
  if (value.is_number_unsigned())
    return static_cast<int64_t>(std::min<uint64_t>(value.get<uint64_t>(), kLimit));
  if (value.is_number_integer())
    return std::clamp<int64_t>(value.get<int64_t>(), -kLimit, kLimit);
  if (value.is_number_float()) {
    double v = value.get<double>();
    if (!std::isfinite(v)) return 0;
    return static_cast<int64_t>(std::clamp(v, -9007199254740992.0, 9007199254740992.0));
  }
  return 0;
}

// Sizes of spaces, which may be up to 2^64-1.
inline uint64_t Size(const json& object, const char* key) {
  json value = Field(object, key);
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer())
    return static_cast<uint64_t>(std::max<int64_t>(0, value.get<int64_t>()));
  return 0;
}

inline double Real(const json& object, const char* key) {
  json value = Field(object, key);
  return value.is_number() ? value.get<double>() : 0.0;
}

inline std::string Text(const json& object, const char* key,
                        const std::string& otherwise = "") {
  json value = Field(object, key);
  return value.is_string() ? value.get<std::string>() : otherwise;
}

inline bool Flag(const json& object, const char* key) {
  json value = Field(object, key);
  return value.is_boolean() && value.get<bool>();
}

}  // namespace hone::json_read
