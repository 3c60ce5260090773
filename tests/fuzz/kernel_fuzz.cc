// Fuzz target: the kernel metric parsers (daemon/tuner/kernel_metrics.h), which read
// pressure stall files, cgroup v2 flat keyed files (cpu.stat, memory.stat) and
// /proc/PID/stat (phase_signature) every sampling interval of a live job, and
// /proc/stat around every sample of a sync job (interference). Processes
// name themselves, and under honed --root the files are anyone's.
//
// The input's first byte picks the pressure line and field; the rest is the file.
// A flat keyed key is the file's first word. Properties: a value read is finite (and
// >= 0 for pressure); every error is InvalidArgument with a short, printable message;
// the first matching line wins, so a good line put in front of the text is the one
// read, and a key's value written out again reads back as itself.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "daemon/tuner/kernel_metrics.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void CheckError(const hone::Status& s) {
  FUZZ_CHECK(s.code() == hone::Status::Code::kInvalidArgument);
  FUZZ_CHECK(!s.message().empty() && s.message().size() < 1024);
  for (char c : s.message()) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
}

std::string Number(double v) {
  char text[64];
  std::snprintf(text, sizeof text, "%.17g", v);
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  constexpr const char* kFields[] = {"avg10", "avg60", "avg300", "total"};
  const std::string_view line = (data[0] & 1) ? "full" : "some";
  const std::string_view field = kFields[(data[0] >> 1) & 3];
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  double value = -1;
  hone::Status s = hone::ParsePressure(text, line, field, &value);
  if (s.ok()) {
    FUZZ_CHECK(std::isfinite(value) && value >= 0);
  } else {
    CheckError(s);
  }
  // A good line in front is the one read, whatever follows.
  std::string good = std::string(line) + " avg10=1.5 avg60=2.5 avg300=3.5 total=42\n";
  FUZZ_CHECK(hone::ParsePressure(good + std::string(text), line, field, &value).ok());
  FUZZ_CHECK(value == (field == "avg10"    ? 1.5
                       : field == "avg60"  ? 2.5
                       : field == "avg300" ? 3.5
                                           : 42));
  // A line name that is not some or full is refused, whatever the text.
  std::string_view other = text.substr(0, 4);
  if (other != "some" && other != "full")
    CheckError(hone::ParsePressure(text, other, field, &value));

  // Flat keyed: the first word of the text as the key.
  size_t start = text.find_first_not_of(" \t");
  if (start == std::string_view::npos) start = text.size();
  size_t end = text.find_first_of(" \t\n", start);
  if (end == std::string_view::npos) end = text.size();
  std::string_view key = text.substr(start, end - start);
  s = hone::ParseFlatKeyed(text, key, &value);
  if (s.ok()) {
    FUZZ_CHECK(std::isfinite(value));
    double again = 0;
    FUZZ_CHECK(
        hone::ParseFlatKeyed(std::string(key) + " " + Number(value) + "\n", key, &again)
            .ok());
    FUZZ_CHECK(again == value);
  } else {
    CheckError(s);
  }
  if (!key.empty()) {
    FUZZ_CHECK(
        hone::ParseFlatKeyed(std::string(key) + " 7\n" + std::string(text), key, &value)
            .ok());
    FUZZ_CHECK(value == 7);
  }
  // /proc/PID/stat: the command runs to the last ')'; the CPU time is a sum of two
  // whole numbers of at most 18 digits each, so it cannot wrap.
  std::string comm;
  uint64_t ticks = 0;
  s = hone::ParseProcStat(text, &comm, &ticks);
  if (s.ok()) {
    FUZZ_CHECK(comm.size() <= 4 * 32 + 64);  // Printable: \xNN per byte, then a length
    for (char c : comm) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
    FUZZ_CHECK(ticks < 2000000000000000000u);
  } else {
    CheckError(s);
  }
  // /proc/stat (measurement hygiene, every sample of a sync job): six whole numbers
  // of at most 18 digits each cannot wrap, and there is at least one CPU. A good
  // "cpu" line in front is the one read.
  hone::CpuTotals totals;
  s = hone::ParseCpuTotals(text, &totals);
  if (s.ok()) {
    FUZZ_CHECK(totals.cpus >= 1 && totals.busy_ticks < 6000000000000000000u);
  } else {
    CheckError(s);
  }
  s = hone::ParseCpuTotals(
      "cpu 1 2 3 4 5 6 7 8\ncpu0 1 2 3 4 5 6 7 8\n" + std::string(text), &totals);
  FUZZ_CHECK(s.ok() && totals.busy_ticks == 1 + 2 + 3 + 6 + 7 + 8 && totals.cpus >= 1);
  return 0;
}
