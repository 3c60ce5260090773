// Scanning untrusted text: the numbers that scripts and workloads print, and the
// regular expressions of `pattern` metrics and `include_knobs`/`exclude_knobs`.
//
// Everything here takes time linear in the input and stack space independent of
// it: numbers are scanned by hand, patterns are RE2 (linear-time matching, no
// backreferences or lookaround; its memory is capped per pattern). std::regex is
// never used on input: it recurses once per character and a long enough input
// overflows the stack.
//
// Thread-safe: a compiled Pattern is immutable and may be shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace re2 {
class RE2;
}

namespace hone {

// The length of the decimal number that starts at text[pos]:
// [+-]? ( [0-9]+ \.? [0-9]* | \. [0-9]+ ) ( [eE] [+-]? [0-9]+ )?, longest match;
// 0 when none starts there.
size_t MatchNumber(std::string_view text, size_t pos);

// True when the whole of `text` is one such number.
bool IsNumber(std::string_view text);
// True when the whole of `text` is [+-]?[0-9]+.
bool IsInteger(std::string_view text);

// True when `text` is valid UTF-8 (no overlong forms, no surrogates, at most
// U+10FFFF). Values honed stores and sends as JSON must be.
bool IsUtf8(std::string_view text);
// The code point of `text` at `*at` (which must be inside it), advancing `*at` past
// it; -1, advancing by one byte, for a byte that does not begin a valid UTF-8
// sequence (a bad lead or continuation, cut short, overlong, a surrogate, past
// U+10FFFF).
int32_t NextCodePoint(std::string_view text, size_t* at);

// The last finite number in `text`, as a metric script prints it: numbers are
// found left to right, each scan resuming after the previous number.
std::optional<double> LastNumber(std::string_view text);

// `text` for a message about untrusted input: at most `limit` bytes of it, each byte
// outside printable ASCII (and the backslash) written as \xNN, then its length when
// it was cut.
std::string Printable(std::string_view text, size_t limit);

// A compiled regular expression in RE2's syntax.
class Pattern {
 public:
  // Patterns longer than this are refused (RE2 also refuses ones whose compiled
  // program exceeds its memory budget).
  static constexpr size_t kMaxLength = 4096;

  Pattern();
  ~Pattern();
  Pattern(const Pattern&);
  Pattern& operator=(const Pattern&);

  // Compiles `text`; the error says what is wrong with it.
  static Status Compile(std::string_view text, Pattern* pattern);

  // True when the whole of `text` matches.
  bool FullMatch(std::string_view text) const;
  // The last number in capture group 1 (else in the whole match) of the last match
  // in `text` that holds a number.
  std::optional<double> LastValue(std::string_view text) const;

  const std::string& text() const { return text_; }
  bool empty() const { return !re_; }

 private:
  std::string text_;
  std::shared_ptr<const re2::RE2> re_;
};

}  // namespace hone
