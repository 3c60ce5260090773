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

// The next code point of `text` at `*at` (advanced past it), or -1 for a byte that
// does not begin a valid UTF-8 sequence (advanced by one).
int32_t NextCodePoint(std::string_view text, size_t* at) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(*at);
  int length = lead < 0x80                    ? 1
               : lead >= 0xC2 && lead <= 0xDF ? 2
               : lead >= 0xE0 && lead <= 0xEF ? 3
               : lead >= 0xF0 && lead <= 0xF4 ? 4
                                              : 0;
  if (length == 0 || *at + length > text.size()) {
    ++*at;
    return -1;
  }
  int32_t cp = length == 1 ? lead : lead & (0x7F >> length);
  for (int i = 1; i < length; ++i) {
    unsigned char c = byte(*at + i);
    if ((c & 0xC0) != 0x80) {
      ++*at;
      return -1;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
  static constexpr int32_t kLeast[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kLeast[length] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
    ++*at;
    return -1;
  }
  *at += length;
  return cp;
}

bool IsUtf8(std::string_view text) {
  size_t at = 0;
  while (at < text.size())
    if (NextCodePoint(text, &at) < 0) return false;
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
