// Specification of the metric sources of live jobs: StatsD lines a service pushes
// (common/statsd.h), and the kernel's pressure files, cgroup v2 flat keyed files and
// hardware counters that honed samples (daemon/tuner/kernel_metrics.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/statsd.h"
#include "daemon/knobs/machine.h"
#include "daemon/tuner/kernel_metrics.h"
#include "tests/fake_machine.h"
#include "tests/test_util.h"

namespace hone {
namespace {

using test::FakeMachineTree;
using test::TempDir;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// True when every byte of `text` is printable ASCII.
bool Printable(const std::string& text) {
  for (char c : text)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

// The error of parsing `line`, which must be refused.
std::string StatsdError(const std::string& line) {
  StatsdValue value;
  Status s = ParseStatsdLine(line, &value);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << line;
  EXPECT_TRUE(Printable(s.message())) << s.message();
  return s.message();
}

// ---- StatsD lines ---------------------------------------------------------------

TEST(StatsdTest, ReadsGaugesCountersAndTimings) {
  StatsdValue v;
  ASSERT_TRUE(ParseStatsdLine("queue_depth:7|g", &v).ok());
  EXPECT_EQ(v.name, "queue_depth");
  EXPECT_EQ(v.value, 7);
  EXPECT_EQ(v.type, 'g');
  EXPECT_EQ(v.sample_rate, 1);
  EXPECT_FALSE(v.relative);

  ASSERT_TRUE(ParseStatsdLine("web.requests-total:3|c", &v).ok());
  EXPECT_EQ(v.name, "web.requests-total");
  EXPECT_EQ(v.value, 3);
  EXPECT_EQ(v.type, 'c');

  ASSERT_TRUE(ParseStatsdLine("latency_p99:12.5|ms", &v).ok());
  EXPECT_EQ(v.type, 'm');
  EXPECT_EQ(v.value, 12.5);

  ASSERT_TRUE(ParseStatsdLine("big:1.5e6|g", &v).ok());
  EXPECT_EQ(v.value, 1.5e6);
  ASSERT_TRUE(ParseStatsdLine("small:.25|ms", &v).ok());
  EXPECT_EQ(v.value, 0.25);
}

TEST(StatsdTest, SampleRateAndDogStatsdTags) {
  StatsdValue v;
  ASSERT_TRUE(ParseStatsdLine("hits:1|c|@0.25", &v).ok());
  EXPECT_EQ(v.sample_rate, 0.25);
  ASSERT_TRUE(ParseStatsdLine("hits:2|c|@0.5|#env:prod,region:eu,canary", &v).ok());
  EXPECT_EQ(v.value, 2);
  EXPECT_EQ(v.sample_rate, 0.5);
  ASSERT_TRUE(ParseStatsdLine("hits:2|c|#env:prod", &v).ok());
  EXPECT_EQ(v.sample_rate, 1);  // reset: nothing left over from the last line
  ASSERT_TRUE(ParseStatsdLine("t:4|ms|@1", &v).ok());
  EXPECT_EQ(v.sample_rate, 1);
}

TEST(StatsdTest, ASignedGaugeIsRelativeASignedCounterIsNot) {
  StatsdValue v;
  ASSERT_TRUE(ParseStatsdLine("q:+3|g", &v).ok());
  EXPECT_TRUE(v.relative);
  EXPECT_EQ(v.value, 3);
  ASSERT_TRUE(ParseStatsdLine("q:-2.5|g", &v).ok());
  EXPECT_TRUE(v.relative);
  EXPECT_EQ(v.value, -2.5);
  ASSERT_TRUE(ParseStatsdLine("q:2.5|g", &v).ok());
  EXPECT_FALSE(v.relative);
  ASSERT_TRUE(ParseStatsdLine("errors:-1|c", &v).ok());
  EXPECT_FALSE(v.relative);
  EXPECT_EQ(v.value, -1);
}

TEST(StatsdTest, TrailingLineEndsAreIgnored) {
  StatsdValue v;
  ASSERT_TRUE(ParseStatsdLine("a:1|c\n", &v).ok());
  EXPECT_EQ(v.value, 1);
  ASSERT_TRUE(ParseStatsdLine("a:2|c\r\n", &v).ok());
  EXPECT_EQ(v.value, 2);
  ASSERT_TRUE(ParseStatsdLine("a:3|ms|@0.5\r", &v).ok());
  EXPECT_EQ(v.sample_rate, 0.5);
  EXPECT_EQ(StatsdError("\r\n"), "empty statsd line");
}

TEST(StatsdTest, TheErrorQuotesTheLineAndNamesTheBadType) {
  EXPECT_EQ(StatsdError("x:1|q"), "statsd line 'x:1|q': type 'q' is not g, c or ms");
  EXPECT_TRUE(Contains(StatsdError("users:alice|s"), "type 's' is not g, c or ms"));
  EXPECT_TRUE(Contains(StatsdError("x:1|h"), "type 'h'"));
  EXPECT_TRUE(Contains(StatsdError("x:1|"), "type '' is not g, c or ms"));
  EXPECT_TRUE(Contains(StatsdError("x:1|MS"), "type 'MS'"));
}

TEST(StatsdTest, NamesAreOneTo200BytesOfLettersDigitsAndPunctuation) {
  StatsdValue v;
  std::string longest(kMaxStatsdNameBytes, 'n');
  ASSERT_TRUE(ParseStatsdLine(longest + ":1|c", &v).ok());
  EXPECT_EQ(v.name, longest);
  EXPECT_TRUE(IsStatsdName("A-z_0.9"));
  EXPECT_FALSE(IsStatsdName(""));
  EXPECT_FALSE(IsStatsdName(longest + "n"));

  std::string too_long = StatsdError(longest + "n:1|c");
  EXPECT_TRUE(Contains(too_long, "the name is 201 bytes, longer than the limit of 200"));
  EXPECT_TRUE(Contains(StatsdError(":1|c"), "the name is empty"));
  EXPECT_TRUE(Contains(StatsdError("a b:1|c"), "the name has the character ' '"));
  EXPECT_TRUE(Contains(StatsdError("a/b:1|c"), "the name has the character '/'"));
  // Unprintable bytes are shown escaped, never raw.
  std::string control = StatsdError(std::string("a\x01\xff:1|c"));
  EXPECT_TRUE(Contains(control, "the name has the character '\\x01'")) << control;
  EXPECT_TRUE(Contains(control, "'a\\x01\\xff:1|c'")) << control;
}

TEST(StatsdTest, ValuesAreFiniteDecimalNumbers) {
  EXPECT_TRUE(Contains(StatsdError("x:nan|g"), "value 'nan' is not a decimal number"));
  EXPECT_TRUE(Contains(StatsdError("x:inf|c"), "value 'inf' is not a decimal number"));
  EXPECT_TRUE(Contains(StatsdError("x:-Infinity|g"), "value '-Infinity'"));
  EXPECT_TRUE(Contains(StatsdError("x:0x10|g"), "value '0x10' is not a decimal number"));
  EXPECT_TRUE(Contains(StatsdError("x:1.2.3|g"), "value '1.2.3'"));
  EXPECT_TRUE(Contains(StatsdError("x: 1|g"), "value ' 1'"));
  EXPECT_TRUE(Contains(StatsdError("x:1e999|c"), "value '1e999' is out of range"));
  EXPECT_TRUE(Contains(StatsdError("x:|c"), "the value is empty"));
  EXPECT_TRUE(Contains(StatsdError("x:-3|ms"), "a timing cannot be negative"));
  // A long value is quoted cut short.
  std::string digits = StatsdError("x:" + std::string(500, '9') + "|c");
  EXPECT_TRUE(Contains(digits, "is out of range"));
  EXPECT_LT(digits.size(), 300u);
}

TEST(StatsdTest, StructureErrorsSayWhatIsMissing) {
  EXPECT_TRUE(Contains(StatsdError("x"), "no ':' between the name and the value"));
  EXPECT_TRUE(Contains(StatsdError("x|c"), "no ':' between the name and the value"));
  EXPECT_TRUE(Contains(StatsdError("x:1"), "no '|' between the value and the type"));
  EXPECT_TRUE(Contains(StatsdError("x:1|c|"), "an empty section after '|'"));
  EXPECT_TRUE(Contains(StatsdError("x:1|c|T1700000000"),
                       "section 'T1700000000' is neither a sample rate"));
  EXPECT_TRUE(Contains(StatsdError("x:1|c|@0.5|@0.5"), "more than one sample rate"));
  EXPECT_TRUE(Contains(StatsdError("x:1|c|#a|#b"), "more than one set of tags"));
  for (const char* rate : {"0", "2", "-0.5", "nan", "", "1e999"})
    EXPECT_TRUE(
        Contains(StatsdError(std::string("x:1|c|@") + rate),
                 "sample rate '" + std::string(rate) + "' is not a number in (0, 1]"))
        << rate;
}

TEST(StatsdTest, LinesAreAtMost1024Bytes) {
  StatsdValue v;
  std::string name(kMaxStatsdNameBytes, 'n');
  std::string prefix = name + ":";  // then 1 with leading zeros
  std::string line =
      prefix + std::string(kMaxStatsdLineBytes - prefix.size() - 3, '0') + "1|c";
  ASSERT_EQ(line.size(), kMaxStatsdLineBytes);
  ASSERT_TRUE(ParseStatsdLine(line + "\r\n", &v).ok());
  EXPECT_EQ(v.value, 1);
  std::string error = StatsdError("0" + line);
  EXPECT_TRUE(Contains(error, "is longer than the limit of 1024 bytes")) << error;
  EXPECT_TRUE(Contains(error, "(1025 bytes)")) << error;
  EXPECT_LT(error.size(), 200u);
}

TEST(StatsdTest, HostileBytesAreQuotedShortAndPrintable) {
  std::string garbage;
  for (int i = 0; i < 900; ++i) garbage += static_cast<char>(i * 37 % 256);
  StatsdError(garbage);  // checks code and printability
  std::string error = StatsdError("x\x1b[31m:1|c");
  EXPECT_TRUE(Contains(error, "\\x1b[31m")) << error;
  EXPECT_LT(StatsdError(std::string(1000, '\x80')).size(), 400u);
}

// ---- StatsD packets -------------------------------------------------------------

TEST(StatsdPacketTest, ReadsEveryLineAndSkipsEmptyOnes) {
  std::vector<StatsdValue> values = {StatsdValue()};  // appended to
  std::vector<std::string> errors;
  ASSERT_TRUE(
      ParseStatsdPacket("a:1|c\nb:2|g\n\n\r\nc:3|ms|@0.5\r\n", &values, &errors).ok());
  ASSERT_EQ(values.size(), 4u);
  EXPECT_EQ(values[1].name, "a");
  EXPECT_EQ(values[2].type, 'g');
  EXPECT_EQ(values[3].sample_rate, 0.5);
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(ParseStatsdPacket("", &values, &errors).ok());
  EXPECT_EQ(values.size(), 4u);
}

TEST(StatsdPacketTest, BadLinesAreErrorsThatNameTheirLineTheRestIsRead) {
  std::vector<StatsdValue> values;
  std::vector<std::string> errors;
  Status s = ParseStatsdPacket("a:1|c\nx:1|q\n\nb:nan|g\nc:2|c", &values, &errors);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(),
                       "statsd packet: 2 errors; the first: line 2: "
                       "statsd line 'x:1|q': type 'q'"))
      << s.message();
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0].name, "a");
  EXPECT_EQ(values[1].name, "c");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_TRUE(Contains(errors[0], "line 2: ")) << errors[0];
  EXPECT_TRUE(Contains(errors[1], "line 4: ")) << errors[1];
  EXPECT_TRUE(Contains(errors[1], "value 'nan'")) << errors[1];

  values.clear();
  s = ParseStatsdPacket("a:1|c\nbad", &values, nullptr);  // errors may be null
  EXPECT_TRUE(Contains(s.message(), "1 error; the first: line 2")) << s.message();
  EXPECT_EQ(values.size(), 1u);
}

TEST(StatsdPacketTest, AtMost1000LinesTheRestIsOneError) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "m" + std::to_string(i) + ":1|c\n";
  std::vector<StatsdValue> values;
  std::vector<std::string> errors;
  ASSERT_TRUE(ParseStatsdPacket(text, &values, &errors).ok());
  EXPECT_EQ(values.size(), 1000u);

  values.clear();
  Status s = ParseStatsdPacket(text + "\nover:1|c\nover:2|c\n", &values, &errors);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(values.size(), 1000u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(Contains(errors[0], "line 1002: the packet has more than 1000 lines"))
      << errors[0];
  EXPECT_TRUE(Contains(errors[0], "the last 18 bytes were not read")) << errors[0];
}

TEST(StatsdPacketTest, AMillionEmptyLinesCostALinearScan) {
  std::vector<StatsdValue> values;
  std::vector<std::string> errors;
  std::string text(1 << 20, '\n');
  EXPECT_TRUE(ParseStatsdPacket(text + "a:1|g", &values, &errors).ok());
  EXPECT_EQ(values.size(), 1u);
}

// ---- Pressure -------------------------------------------------------------------

constexpr const char* kPressure =
    "some avg10=1.50 avg60=2.25 avg300=0.75 total=123456789\n"
    "full avg10=0.10 avg60=0.20 avg300=0.30 total=4242\n";

double Pressure(const std::string& text, const char* line, const char* field) {
  double value = -1;
  Status s = ParsePressure(text, line, field, &value);
  EXPECT_TRUE(s.ok()) << s.message();
  return value;
}

std::string PressureError(const std::string& text, const char* line, const char* field) {
  double value = 0;
  Status s = ParsePressure(text, line, field, &value);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << text;
  EXPECT_TRUE(Printable(s.message())) << s.message();
  return s.message();
}

TEST(PressureTest, ReadsEachFieldOfEachLine) {
  EXPECT_EQ(Pressure(kPressure, "some", "avg10"), 1.5);
  EXPECT_EQ(Pressure(kPressure, "some", "avg60"), 2.25);
  EXPECT_EQ(Pressure(kPressure, "some", "avg300"), 0.75);
  EXPECT_EQ(Pressure(kPressure, "some", "total"), 123456789);
  EXPECT_EQ(Pressure(kPressure, "full", "avg10"), 0.1);
  EXPECT_EQ(Pressure(kPressure, "full", "total"), 4242);
  // No trailing newline; the largest total a u64 holds.
  EXPECT_EQ(Pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=18446744073709551615",
                     "some", "total"),
            18446744073709551615.0);
}

TEST(PressureTest, AMissingLineOrFieldIsNamed) {
  // /proc/pressure/cpu before Linux 5.13 has no "full" line.
  std::string error =
      PressureError("some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n", "full", "avg10");
  EXPECT_TRUE(Contains(error, "no pressure 'full' line in 'some avg10=")) << error;
  EXPECT_TRUE(Contains(PressureError("", "some", "avg10"), "no pressure 'some' line"));
  error = PressureError("some avg10=0.00 avg60=0.00\n", "some", "total");
  EXPECT_EQ(error, "pressure 'some' line has no total=value");
  // A truncated line.
  EXPECT_TRUE(Contains(PressureError("some avg10=0.00 avg6", "some", "avg60"),
                       "has no avg60=value"));
  EXPECT_TRUE(
      Contains(PressureError("some avg10=", "some", "avg10"), "has no avg10=value"));
  // A field's name is whole: avg10 is not avg1, total is not totalx.
  EXPECT_TRUE(Contains(PressureError("some avg100=1 totalx=2", "some", "avg10"),
                       "has no avg10=value"));
  // "full" is not found inside another word.
  EXPECT_TRUE(Contains(PressureError("fuller avg10=1", "full", "avg10"),
                       "no pressure 'full' line"));
}

TEST(PressureTest, HostileValuesAreRefused) {
  EXPECT_TRUE(Contains(PressureError("some avg10=nan", "some", "avg10"),
                       "pressure 'some' line: avg10 'nan' is not a number"));
  EXPECT_TRUE(
      Contains(PressureError("some avg10=inf", "some", "avg10"), "is not a number"));
  EXPECT_TRUE(
      Contains(PressureError("some total=0x10", "some", "total"), "is not a number"));
  EXPECT_TRUE(Contains(PressureError("some avg10=-1.0", "some", "avg10"), "is negative"));
  std::string huge = "some total=" + std::string(100000, '9') + "\n";
  std::string error = PressureError(huge, "some", "total");
  EXPECT_TRUE(Contains(error, "is out of range")) << error.substr(0, 200);
  EXPECT_LT(error.size(), 300u);
  error = PressureError(std::string("some avg10=\x01\xfe"), "some", "avg10");
  EXPECT_TRUE(Contains(error, "'\\x01\\xfe' is not a number")) << error;
}

TEST(PressureTest, TheLineAndFieldMustBeKnownNames) {
  EXPECT_EQ(PressureError(kPressure, "most", "avg10"),
            "pressure line 'most' is not some or full");
  EXPECT_EQ(PressureError(kPressure, "some", "avg5"),
            "pressure field 'avg5' is not avg10, avg60, avg300 or total");
}

// ---- cgroup v2 flat keyed files ---------------------------------------------------

constexpr const char* kCpuStat =
    "usage_usec 8014591\n"
    "user_usec 5250000\n"
    "system_usec 2764591\n"
    "nr_periods 0\n"
    "nr_throttled 0\n"
    "throttled_usec 0\n"
    "nr_bursts 0\n"
    "burst_usec 0\n";

std::string FlatKeyedError(const std::string& text, const std::string& key) {
  double value = 0;
  Status s = ParseFlatKeyed(text, key, &value);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << text;
  EXPECT_TRUE(Printable(s.message())) << s.message();
  return s.message();
}

TEST(FlatKeyedTest, ReadsTheValueOfAKey) {
  double value = -1;
  ASSERT_TRUE(ParseFlatKeyed(kCpuStat, "usage_usec", &value).ok());
  EXPECT_EQ(value, 8014591);
  ASSERT_TRUE(ParseFlatKeyed(kCpuStat, "system_usec", &value).ok());
  EXPECT_EQ(value, 2764591);
  ASSERT_TRUE(ParseFlatKeyed(kCpuStat, "burst_usec", &value).ok());
  EXPECT_EQ(value, 0);
  ASSERT_TRUE(ParseFlatKeyed("a\t 12.5 \nb 1", "a", &value).ok());
  EXPECT_EQ(value, 12.5);
  ASSERT_TRUE(ParseFlatKeyed("k 1\nk 2\n", "k", &value).ok());  // the first line
  EXPECT_EQ(value, 1);
}

TEST(FlatKeyedTest, KeysAreWholeWords) {
  EXPECT_TRUE(
      Contains(FlatKeyedError(kCpuStat, "usage"), "no key 'usage' in 'usage_usec"));
  EXPECT_TRUE(Contains(FlatKeyedError("nr_throttled_x 1\n", "nr_throttled"), "no key"));
  EXPECT_TRUE(Contains(FlatKeyedError("", "usage_usec"), "no key 'usage_usec'"));
  EXPECT_TRUE(Contains(FlatKeyedError(kCpuStat, ""), "key '' is not one word"));
  EXPECT_TRUE(Contains(FlatKeyedError(kCpuStat, "usage usec"), "is not one word"));
}

TEST(FlatKeyedTest, TheLineMustBeKeyAndOneNumber) {
  EXPECT_EQ(FlatKeyedError("usage_usec\n", "usage_usec"),
            "key 'usage_usec' has 0 values, not one");
  EXPECT_EQ(FlatKeyedError("usage_usec 1 2\n", "usage_usec"),
            "key 'usage_usec' has 2 values, not one");
  EXPECT_EQ(FlatKeyedError("usage_usec nan\n", "usage_usec"),
            "key 'usage_usec': value 'nan' is not a number");
  EXPECT_TRUE(Contains(FlatKeyedError("usage_usec max\n", "usage_usec"), "not a number"));
  EXPECT_TRUE(Contains(FlatKeyedError("usage_usec 1e400\n", "usage_usec"),
                       "value '1e400' is out of range"));
  std::string error =
      FlatKeyedError("usage_usec " + std::string(50000, '7') + "\n", "usage_usec");
  EXPECT_TRUE(Contains(error, "is out of range"));
  EXPECT_LT(error.size(), 300u);
  // Truncated in the middle of a word: the key is not there.
  EXPECT_TRUE(Contains(FlatKeyedError("usage_us", "usage_usec"), "no key"));
}

// ---- Through a Machine ------------------------------------------------------------

class KernelMetricsTest : public ::testing::Test {
 protected:
  TempDir dir_;
  FakeMachineTree tree_{dir_.path()};
  std::unique_ptr<Machine> machine_ = MakeMachine(dir_.path());
};

TEST_F(KernelMetricsTest, ReadsThePressureAndCgroupFilesOfTheFakeTree) {
  tree_.Write("proc/pressure/io", kPressure);
  tree_.Write("sys/fs/cgroup/web.service/cpu.pressure", kPressure);
  tree_.Write("sys/fs/cgroup/web.service/cpu.stat", kCpuStat);
  double value = 0;
  ASSERT_TRUE(ReadPressure(*machine_, "/proc/pressure/io", "full", "total", &value).ok());
  EXPECT_EQ(value, 4242);
  ASSERT_TRUE(ReadPressure(*machine_, "/sys/fs/cgroup/web.service/cpu.pressure", "some",
                           "avg60", &value)
                  .ok());
  EXPECT_EQ(value, 2.25);
  ASSERT_TRUE(
      ReadFlatKeyed(*machine_, "/sys/fs/cgroup/web.service/cpu.stat", "user_usec", &value)
          .ok());
  EXPECT_EQ(value, 5250000);
}

TEST_F(KernelMetricsTest, AMissingFileIsNotFoundAndSaysWhy) {
  double value = 0;
  Status s = ReadPressure(*machine_, "/proc/pressure/cpu", "some", "avg10", &value);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_TRUE(Contains(s.message(), "/proc/pressure/cpu")) << s.message();
  EXPECT_TRUE(Contains(s.message(), "CONFIG_PSI")) << s.message();
  s = ReadFlatKeyed(*machine_, "/sys/fs/cgroup/gone.service/cpu.stat", "usage_usec",
                    &value);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_TRUE(Contains(s.message(), "/sys/fs/cgroup/gone.service/cpu.stat"));
}

TEST_F(KernelMetricsTest, AParseErrorNamesTheFile) {
  tree_.Write("proc/pressure/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n");
  tree_.Write("sys/fs/cgroup/cpu.stat", "usage_usec lots\n");
  double value = 0;
  Status s = ReadPressure(*machine_, "/proc/pressure/memory", "full", "avg10", &value);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(s.message().starts_with("/proc/pressure/memory: no pressure 'full' line"))
      << s.message();
  s = ReadFlatKeyed(*machine_, "/sys/fs/cgroup/cpu.stat", "usage_usec", &value);
  EXPECT_EQ(s.message(),
            "/sys/fs/cgroup/cpu.stat: key 'usage_usec': value 'lots' is not a "
            "number");
}

// ---- Hardware counters ------------------------------------------------------------

// Work the counters can see.
uint64_t Spin() {
  volatile uint64_t x = 0;
  for (int i = 0; i < 2'000'000; ++i) x = x + static_cast<uint64_t>(i);
  return x;
}

// Either the counters open and count without going back, or the error says plainly
// that this machine has none or honed may not use them (most VMs, containers).
void ExpectCountsOrAPlainRefusal(const std::string& cgroup_dir) {
  std::unique_ptr<PerfCounters> counters;
  Status s = PerfCounters::Open(cgroup_dir, &counters);
  if (s.ok()) {
    ASSERT_NE(counters.get(), nullptr);
    EXPECT_FALSE(counters->cpus().empty());
    uint64_t instructions[2], cycles[2];
    ASSERT_TRUE(counters->Read(&instructions[0], &cycles[0]).ok());
    Spin();
    ASSERT_TRUE(counters->Read(&instructions[1], &cycles[1]).ok());
    EXPECT_GE(instructions[1], instructions[0]);
    EXPECT_GE(cycles[1], cycles[0]);
    if (cgroup_dir.empty()) {
      EXPECT_GT(instructions[1], 0u);  // we ran
    }
    return;
  }
  EXPECT_EQ(s.code(), Status::Code::kUnavailable) << s.message();
  EXPECT_TRUE(Contains(s.message(), "hardware counters are not available"))
      << s.message();
  EXPECT_TRUE(Contains(s.message(), "perf_event_open instructions on CPU"))
      << s.message();
  EXPECT_EQ(counters.get(), nullptr);
}

TEST(PerfCountersTest, TheWholeMachineCountsOrSaysWhyNot) {
  ExpectCountsOrAPlainRefusal("");
}

TEST(PerfCountersTest, OurOwnCgroupCountsOrSaysWhyNot) {
  // The cgroup v2 directory of this process, when the unified hierarchy is mounted at
  // /sys/fs/cgroup.
  std::string self = test::ReadFile("/proc/self/cgroup");
  size_t at = self.find("0::");
  if (at == std::string::npos ||
      !MakeMachine("/")->Exists("/sys/fs/cgroup/cgroup.controllers"))
    GTEST_SKIP() << "no cgroup v2 hierarchy at /sys/fs/cgroup";
  std::string path = self.substr(at + 3, self.find('\n', at) - at - 3);
  ExpectCountsOrAPlainRefusal("/sys/fs/cgroup" + (path == "/" ? "" : path));
}

TEST(PerfCountersTest, AMissingCgroupIsNotFound) {
  std::unique_ptr<PerfCounters> counters;
  Status s = PerfCounters::Open("/sys/fs/cgroup/no-such-service.service", &counters);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "no cgroup directory /sys/fs/cgroup/no-such-service.service");
  EXPECT_EQ(counters.get(), nullptr);
}

TEST(PerfCountersTest, ADirectoryThatIsNoCgroupIsRefused) {
  TempDir dir;
  std::unique_ptr<PerfCounters> counters;
  Status s = PerfCounters::Open(dir.path(), &counters);
  EXPECT_FALSE(s.ok());
  // The kernel checks the PMU or the caller's rights before the directory.
  if (s.code() == Status::Code::kInvalidArgument) {
    EXPECT_TRUE(Contains(s.message(), "is not a cgroup directory")) << s.message();
  } else {
    EXPECT_TRUE(Contains(s.message(), "hardware counters are not available"))
        << s.message();
  }
  EXPECT_EQ(counters.get(), nullptr);
}

// ---- Which programs use the CPU (phase_signature: processes) ----------------------

// A /proc/PID/stat line of `comm` with utime `user` and stime `system`.
std::string ProcStat(int pid, const std::string& comm, uint64_t user, uint64_t system) {
  return std::to_string(pid) + " (" + comm + ") S 1 1 1 0 -1 4194560 100 0 0 0 " +
         std::to_string(user) + " " + std::to_string(system) +
         " 0 0 20 0 1 0 100 1000000 200 18446744073709551615\n";
}

TEST(ProcStatTest, ReadsTheCommandAndItsCpuTimeEvenWithSpacesAndParentheses) {
  std::string comm;
  uint64_t ticks = 0;
  ASSERT_TRUE(ParseProcStat(ProcStat(7, "postgres", 120, 30), &comm, &ticks).ok());
  EXPECT_EQ(comm, "postgres");
  EXPECT_EQ(ticks, 150u);
  // A process may name itself anything: the command runs to the last ')'.
  ASSERT_TRUE(ParseProcStat(ProcStat(8, "a) S 1 2 (b", 5, 6), &comm, &ticks).ok());
  EXPECT_EQ(comm, "a) S 1 2 (b");
  EXPECT_EQ(ticks, 11u);
}

TEST(ProcStatTest, BrokenLinesAreRefusedWithAReason) {
  std::string comm;
  uint64_t ticks = 0;
  Status s = ParseProcStat("7 postgres S 1", &comm, &ticks);
  EXPECT_TRUE(Contains(s.message(), "no (command)")) << s.message();
  s = ParseProcStat("7 (postgres) S 1 1 1", &comm, &ticks);
  EXPECT_TRUE(Contains(s.message(), "too few fields")) << s.message();
  s = ParseProcStat("7 (x) S 1 1 1 0 -1 4194560 100 0 0 0 -5 3 0", &comm, &ticks);
  EXPECT_TRUE(Contains(s.message(), "CPU time '-5' is not a whole number"))
      << s.message();
  s = ParseProcStat(
      "7 (x) S 1 1 1 0 -1 4194560 100 0 0 0 " + std::string(40, '9') + " 3 0", &comm,
      &ticks);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_LT(s.message().size(), 300u);
  ASSERT_TRUE(
      ParseProcStat(ProcStat(9, std::string("\x01\xff", 2), 1, 1), &comm, &ticks).ok());
  for (char c : comm) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << comm;
}

TEST_F(KernelMetricsTest, TheSignatureIsTheProgramsThatUsedATenthOfTheCpuSinceLastTime) {
  tree_.Write("proc/10/stat", ProcStat(10, "postgres", 100, 0));
  tree_.Write("proc/11/stat", ProcStat(11, "postgres", 100, 0));
  tree_.Write("proc/20/stat", ProcStat(20, "nginx", 500, 0));
  tree_.Write("proc/30/stat", ProcStat(30, "cron", 1000, 0));
  tree_.Write("proc/self/stat", ProcStat(1, "not a pid", 0, 0));
  tree_.Write("proc/pressure/io", kPressure);
  ProcessSignature signature(machine_.get());
  std::string text = "unset";
  ASSERT_TRUE(signature.Sample(&text).ok());
  EXPECT_EQ(text, "") << "the first sample has nothing to compare with";
  // Since then: postgres 2 x 40 ticks, nginx 15, cron 5 (5% of 100: left out).
  tree_.Write("proc/10/stat", ProcStat(10, "postgres", 130, 10));
  tree_.Write("proc/11/stat", ProcStat(11, "postgres", 140, 0));
  tree_.Write("proc/20/stat", ProcStat(20, "nginx", 515, 0));
  tree_.Write("proc/30/stat", ProcStat(30, "cron", 1005, 0));
  ASSERT_TRUE(signature.Sample(&text).ok());
  EXPECT_EQ(text, "nginx,postgres");
  // postgres ended; a new process counts only from the next sample on; pid 20 is now
  // another program (its count restarted).
  tree_.Remove("proc/10");
  tree_.Remove("proc/11");
  tree_.Write("proc/40/stat", ProcStat(40, "backup", 100000, 0));
  tree_.Write("proc/20/stat", ProcStat(20, "pg_dump", 600, 0));
  tree_.Write("proc/30/stat", ProcStat(30, "cron", 1025, 0));
  ASSERT_TRUE(signature.Sample(&text).ok());
  EXPECT_EQ(text, "cron");
  tree_.Write("proc/40/stat", ProcStat(40, "backup", 100090, 0));
  tree_.Write("proc/20/stat", ProcStat(20, "pg_dump", 610, 0));
  ASSERT_TRUE(signature.Sample(&text).ok());
  EXPECT_EQ(text, "backup,pg_dump");
  // Nothing ran: no signature.
  ASSERT_TRUE(signature.Sample(&text).ok());
  EXPECT_EQ(text, "");
  // A broken stat file is skipped, not an error.
  tree_.Write("proc/20/stat", "garbage");
  tree_.Write("proc/40/stat", ProcStat(40, "backup", 100100, 0));
  ASSERT_TRUE(signature.Sample(&text).ok());
  EXPECT_EQ(text, "backup");
}

TEST_F(KernelMetricsTest, NoProcIsAnErrorThatSaysWhatItWasFor) {
  tree_.Remove("proc");
  ProcessSignature signature(machine_.get());
  std::string text;
  Status s = signature.Sample(&text);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "which programs use the CPU")) << s.message();
}

TEST(ProcStatTest, GivesTheMachinesBusyTimeAndItsCpus) {
  CpuTotals totals;
  ASSERT_TRUE(ParseCpuTotals("cpu  100 5 50 9000 30 1 2 3 7 0\n"
                             "cpu0 50 2 25 4500 15 1 1 2 3 0\n"
                             "cpu1 50 3 25 4500 15 0 1 1 4 0\n"
                             "intr 12345 0 0\nctxt 99\n",
                             &totals)
                  .ok());
  // user + nice + system + irq + softirq + steal; idle, iowait and guest are not.
  EXPECT_EQ(totals.busy_ticks, 100u + 5 + 50 + 1 + 2 + 3);
  EXPECT_EQ(totals.cpus, 2);
  for (const char* bad :
       {"", "intr 1\n", "cpu 1 2 3\ncpu0 1 2 3 4 5 6 7 8\n",
        "cpu 1 2 x 4 5 6 7 8\ncpu0 1 2 3 4 5 6 7 8\n", "cpu 1 2 3 4 5 6 7 8\n"}) {
    Status s = ParseCpuTotals(bad, &totals);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace hone
