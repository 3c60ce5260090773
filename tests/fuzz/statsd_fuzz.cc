// Fuzz target: the StatsD parser (common/statsd.h), which reads the values a live
// service pushes to honed: any process that can reach the socket sends such bytes.
//
// The input is read as one line (ParseStatsdLine) and as a packet
// (ParseStatsdPacket). Properties: a parsed value has a valid name, a finite value, a
// known type, a sample rate in (0, 1], a sign only on a relative gauge and no
// negative timing, and reads back as itself when written out again; every error is
// InvalidArgument with a short, printable message; the packet parser agrees with the
// line parser on every line.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "common/statsd.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void CheckError(const hone::Status& s) {
  FUZZ_CHECK(s.code() == hone::Status::Code::kInvalidArgument);
  FUZZ_CHECK(!s.message().empty() && s.message().size() < 1024);
  for (char c : s.message()) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
}

// The line that says `v` again.
std::string Format(const hone::StatsdValue& v) {
  char number[64];
  bool plus = v.relative && !std::signbit(v.value);
  std::snprintf(number, sizeof number, plus ? "+%.17g" : "%.17g", v.value);
  char rate[64];
  std::snprintf(rate, sizeof rate, "%.17g", v.sample_rate);
  std::string type = v.type == 'm' ? "ms" : std::string(1, v.type);
  return v.name + ":" + number + "|" + type + "|@" + rate + "|#fuzz:1";
}

void CheckValue(const hone::StatsdValue& v) {
  FUZZ_CHECK(hone::IsStatsdName(v.name));
  FUZZ_CHECK(std::isfinite(v.value));
  FUZZ_CHECK(v.type == 'g' || v.type == 'c' || v.type == 'm');
  FUZZ_CHECK(v.sample_rate > 0 && v.sample_rate <= 1);
  FUZZ_CHECK(!v.relative || v.type == 'g');
  FUZZ_CHECK(v.relative || v.type != 'g' || !std::signbit(v.value));
  FUZZ_CHECK(v.type != 'm' || v.value >= 0);
  hone::StatsdValue again;
  FUZZ_CHECK(hone::ParseStatsdLine(Format(v), &again).ok());
  FUZZ_CHECK(again.name == v.name && again.value == v.value && again.type == v.type &&
             again.sample_rate == v.sample_rate && again.relative == v.relative);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);

  hone::StatsdValue value;
  hone::Status s = hone::ParseStatsdLine(input, &value);
  if (s.ok()) {
    CheckValue(value);
    FUZZ_CHECK(input.substr(0, value.name.size()) == value.name);
  } else {
    CheckError(s);
  }

  std::vector<hone::StatsdValue> values;
  std::vector<std::string> errors;
  s = hone::ParseStatsdPacket(input, &values, &errors);
  FUZZ_CHECK(s.ok() == errors.empty());
  if (!s.ok()) CheckError(s);
  for (const auto& v : values) CheckValue(v);
  for (const auto& e : errors) CheckError(hone::Status::InvalidArgument(e));

  // The same lines, one at a time.
  size_t lines = 0, good = 0;
  bool over = false;
  for (size_t start = 0; start < input.size();) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    std::string_view line = input.substr(start, end - start);
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = end + 1;
    if (line.empty()) continue;
    if (++lines > hone::kMaxStatsdPacketLines) {
      over = true;
      break;
    }
    hone::StatsdValue one;
    if (hone::ParseStatsdLine(line, &one).ok()) {
      FUZZ_CHECK(good < values.size() && values[good].name == one.name &&
                 values[good].value == one.value);
      ++good;
    }
  }
  size_t read = over ? lines - 1 : lines;
  FUZZ_CHECK(good == values.size());
  FUZZ_CHECK(errors.size() == read - good + (over ? 1 : 0));
  return 0;
}
