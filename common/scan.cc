#include "common/scan.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <re2/re2.h>

namespace hone {

namespace {

bool Digit(char c) { return c >= '0' && c <= '9'; }

size_t Digits(std::string_view text, size_t pos) {
  size_t end = pos;
  while (end < text.size() && Digit(text[end])) ++end;
  return end - pos;
}

// strtod needs a terminated string; numbers are short, except in hostile input,
// where a long one is still parsed once.
double ToDouble(std::string_view number) {
  std::string copy(number);
  return std::strtod(copy.c_str(), nullptr);
}

}  // namespace

size_t MatchNumber(std::string_view text, size_t pos) {
  size_t at = pos;
  if (at < text.size() && (text[at] == '+' || text[at] == '-')) ++at;
  size_t whole = Digits(text, at);
  if (whole > 0) {
    at += whole;
    if (at < text.size() && text[at] == '.') at += 1 + Digits(text, at + 1);
  } else if (at + 1 < text.size() && text[at] == '.' && Digit(text[at + 1])) {
    at += 1 + Digits(text, at + 1);
  } else {
    return 0;
  }
  if (at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
    size_t exp = at + 1;
    if (exp < text.size() && (text[exp] == '+' || text[exp] == '-')) ++exp;
    size_t exp_digits = Digits(text, exp);
    if (exp_digits > 0) at = exp + exp_digits;
  }
  return at - pos;
}

bool IsNumber(std::string_view text) {
  return !text.empty() && MatchNumber(text, 0) == text.size();
}

bool IsInteger(std::string_view text) {
  size_t at = !text.empty() && (text[0] == '+' || text[0] == '-') ? 1 : 0;
  return at < text.size() && Digits(text, at) == text.size() - at;
}

bool IsUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                    : c >= 0xf0 && c <= 0xf4                ? 4
                                                            : 0;
    if (length == 0 || i + length > text.size()) return false;
    unsigned char second = static_cast<unsigned char>(text[i + 1]);
    // The second byte's range excludes overlong forms, surrogates and > U+10FFFF.
    unsigned char low = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned char high = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (second < low || second > high) return false;
    for (size_t k = 2; k < length; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) return false;
    i += length;
  }
  return true;
}

std::optional<double> LastNumber(std::string_view text) {
  std::optional<double> last;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t length = MatchNumber(text, pos);
    if (length == 0) {
      ++pos;
      continue;
    }
    double value = ToDouble(text.substr(pos, length));
    if (std::isfinite(value)) last = value;
    pos += length;
  }
  return last;
}

Pattern::Pattern() = default;
Pattern::~Pattern() = default;
Pattern::Pattern(const Pattern&) = default;
Pattern& Pattern::operator=(const Pattern&) = default;

Status Pattern::Compile(std::string_view text, Pattern* pattern) {
  if (text.size() > kMaxLength)
    return Status::InvalidArgument("regular expression of " + std::to_string(text.size()) +
                                   " characters is longer than the limit of " +
                                   std::to_string(kMaxLength));
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(re2::StringPiece(text.data(), text.size()),
                                        options);
  if (!re->ok())
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not a valid regular expression: " + re->error());
  pattern->text_ = std::string(text);
  pattern->re_ = std::move(re);
  return Status::OK();
}

bool Pattern::FullMatch(std::string_view text) const {
  return re_ && RE2::FullMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

std::optional<double> Pattern::LastValue(std::string_view text) const {
  if (!re_) return std::nullopt;
  re2::StringPiece input(text.data(), text.size());
  re2::StringPiece groups[2];
  int count = re_->NumberOfCapturingGroups() >= 1 ? 2 : 1;
  std::optional<double> value;
  size_t pos = 0;
  while (pos <= text.size() &&
         re_->Match(input, pos, text.size(), RE2::UNANCHORED, groups, count)) {
    const re2::StringPiece& whole = groups[0];
    bool group = count == 2 && groups[1].data() != nullptr;
    const re2::StringPiece& picked = group ? groups[1] : whole;
    if (auto number = LastNumber(std::string_view(picked.data(), picked.size())))
      value = number;
    size_t end = static_cast<size_t>(whole.data() - text.data()) + whole.size();
    pos = whole.empty() ? end + 1 : end;
  }
  return value;
}

std::string Printable(std::string_view text, size_t limit) {
  std::string out;
  size_t shown = text.size() <= limit ? text.size() : limit;
  for (size_t i = 0; i < shown; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (shown < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

}  // namespace hone
