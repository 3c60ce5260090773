// Fuzz target: the metric parsers (common/scan.h), which read what workloads and
// scripts print: honed runs them as root on any output.
//
// The input's first line is a `pattern` (RE2), the rest a workload's output. The
// pattern is compiled (it may be refused); when it compiles, the last value of its
// last match is read from the output, line by line as a partial metric does, and
// whole. LastNumber reads the whole input. Properties: every number found is finite,
// and a number MatchNumber finds is one IsNumber accepts.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/scan.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto value = hone::LastNumber(input)) FUZZ_CHECK(std::isfinite(*value));
  for (size_t pos = 0; pos < input.size() && pos < 64; ++pos)
    if (size_t length = hone::MatchNumber(input, pos))
      FUZZ_CHECK(hone::IsNumber(input.substr(pos, length)));
  size_t newline = input.find('\n');
  if (newline == std::string_view::npos) return 0;
  hone::Pattern pattern;
  if (!hone::Pattern::Compile(input.substr(0, newline), &pattern).ok()) return 0;
  std::string_view output = input.substr(newline + 1);
  if (auto value = pattern.LastValue(output)) FUZZ_CHECK(std::isfinite(*value));
  for (size_t start = 0; start < output.size();) {
    size_t end = output.find('\n', start);
    if (end == std::string_view::npos) end = output.size();
    if (auto value = pattern.LastValue(output.substr(start, end - start)))
      FUZZ_CHECK(std::isfinite(*value));
    start = end + 1;
  }
  pattern.FullMatch(output);
  return 0;
}
