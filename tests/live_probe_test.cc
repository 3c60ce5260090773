// LiveProbe: a live job's sample from each kind of source, read through a re-rooted
// tree or from pushed values, and its guards.
#include "daemon/tuner/live_probe.h"

#include <gtest/gtest.h>

#include "tests/await.h"
#include "tests/fake_machine.h"
#include "tests/test_util.h"

namespace hone {
namespace {

using test::Await;
using test::FakeMachineTree;
using test::TempDir;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class LiveProbeTest : public ::testing::Test {
 protected:
  // Parses a live config with these metrics and target, and makes its probe.
  // `more`: more of the config (global_settings).
  Status Make(const std::string& metrics, const std::string& target,
              const std::string& more = "") {
    std::string text =
        "workload: {kind: live}\n"
        "domain:\n  common:\n    knobs:\n      k: {options: [1, 2]}\n"
        "    metrics:\n" +
        metrics + "    target: " + target + "\n" + more;
    Status s = ParseConfig(text, "live.yaml", &spec_);
    if (s.ok()) s = CompleteSpec({}, &spec_);
    if (!s.ok()) return s;
    std::vector<Knob> knobs(1);
    knobs[0].name = "k";
    knobs[0].values = {1, 2};
    s = SearchSpace::Create(knobs, &space_);
    if (!s.ok()) return s;
    request_.cwd = dir_.path();
    request_.env = {{"PATH", "/usr/bin:/bin"}};
    request_.user.uid = getuid();
    request_.user.gid = getgid();
    return LiveProbe::Create({1, &spec_, &request_, &space_, ProcessRunner::System(),
                              &groups_, machine_.get()},
                             &probe_);
  }
  LiveSample Sample(double now) { return Await(probe_->Sample(space_.Default(), now)); }

  TempDir dir_;
  FakeMachineTree tree_{dir_.path()};
  std::unique_ptr<Machine> machine_ = MakeMachine(dir_.path());
  JobSpec spec_;
  SearchSpace space_;
  JobRequest request_;
  ProcessGroups groups_;
  std::unique_ptr<LiveProbe> probe_;
};

TEST_F(LiveProbeTest, PressureIsReadFromProcOrACgroup) {
  tree_.Write("proc/pressure/cpu",
              "some avg10=12.50 avg60=3.00 avg300=1.00 total=5000\n"
              "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  ASSERT_TRUE(Make("      stall:\n        pressure: cpu\n", "stall:min").ok());
  LiveSample s = Sample(1);
  ASSERT_TRUE(s.valid) << s.error;
  EXPECT_DOUBLE_EQ(s.value, 12.5);

  tree_.Write("sys/fs/cgroup/web.service/io.pressure",
              "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000\n"
              "full avg10=1.00 avg60=0.00 avg300=0.00 total=400\n");
  ASSERT_TRUE(
      Make("      io:\n        pressure: io\n        line: full\n        field: total\n"
           "        cgroup: /sys/fs/cgroup/web.service\n",
           "io:min")
          .ok());
  s = Sample(10);
  EXPECT_FALSE(s.valid) << "a total is a counter: its first reading gives no rate";
  EXPECT_TRUE(Contains(s.error, "a rate needs two readings")) << s.error;
  tree_.Write("sys/fs/cgroup/web.service/io.pressure",
              "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000\n"
              "full avg10=1.00 avg60=0.00 avg300=0.00 total=900\n");
  s = Sample(12);
  ASSERT_TRUE(s.valid) << s.error;
  EXPECT_DOUBLE_EQ(s.value, 250);  // 500 microseconds stalled over 2 s
}

TEST_F(LiveProbeTest, EachSampleCarriesTheProgramsThatUsedTheCpuWhenAsked) {
  tree_.Write("proc/pressure/cpu", "some avg10=1.00 avg60=1.00 avg300=1.00 total=5\n");
  tree_.Write("proc/100/stat", "100 (redis-server) S 1 1 1 0 -1 0 0 0 0 0 10 5 0 0\n");
  tree_.Write("proc/200/stat", "200 (redis-benchmark) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0\n");
  ASSERT_TRUE(Make("      stall:\n        pressure: cpu\n", "stall:min",
                   "global_settings: {phase_signature: processes}\n")
                  .ok());
  tree_.Write("proc/100/stat", "100 (redis-server) S 1 1 1 0 -1 0 0 0 0 0 50 25 0 0\n");
  tree_.Write("proc/200/stat", "200 (redis-benchmark) S 1 1 1 0 -1 0 0 0 0 0 21 1 0 0\n");
  LiveSample s = Sample(1);
  ASSERT_TRUE(s.valid) << s.error;
  EXPECT_EQ(s.signature, "redis-benchmark,redis-server");
  tree_.Write("proc/100/stat", "100 (redis-server) S 1 1 1 0 -1 0 0 0 0 0 90 45 0 0\n");
  s = Sample(2);
  EXPECT_EQ(s.signature, "redis-server");

  // Without phase_signature, none.
  ASSERT_TRUE(Make("      stall:\n        pressure: cpu\n", "stall:min").ok());
  EXPECT_EQ(Sample(3).signature, "");
}

TEST_F(LiveProbeTest, CgroupCpuStatIsARatePerSecond) {
  tree_.Write("sys/fs/cgroup/db/cpu.stat", "usage_usec 1000000\nuser_usec 900000\n");
  ASSERT_TRUE(Make("      cpu:\n        cgroup_stat: cpu.stat\n        key: usage_usec\n"
                   "        cgroup: /sys/fs/cgroup/db\n",
                   "cpu:min")
                  .ok());
  EXPECT_FALSE(Sample(100).valid);
  tree_.Write("sys/fs/cgroup/db/cpu.stat", "usage_usec 4000000\nuser_usec 900000\n");
  LiveSample s = Sample(102);
  ASSERT_TRUE(s.valid) << s.error;
  EXPECT_DOUBLE_EQ(s.value, 1.5e6);  // 1.5 CPU seconds a second, in microseconds
  tree_.Write("sys/fs/cgroup/db/cpu.stat", "garbage\n");
  s = Sample(104);
  EXPECT_FALSE(s.valid);
  EXPECT_TRUE(Contains(s.error, "metric 'cpu'")) << s.error;
  EXPECT_TRUE(Contains(s.error, "usage_usec")) << s.error;
}

TEST_F(LiveProbeTest, PushedValuesAreAveragedPerSampleAndMissingOnesSaySo) {
  ASSERT_TRUE(Make("      requests:\n        push: true\n", "requests:max").ok());
  LiveSample s = Sample(1);
  EXPECT_FALSE(s.valid);
  EXPECT_TRUE(Contains(s.error, "no value was pushed since the last sample")) << s.error;
  ASSERT_TRUE(probe_->Push("requests", 10).ok());
  ASSERT_TRUE(probe_->Push("requests", 20).ok());
  s = Sample(2);
  ASSERT_TRUE(s.valid) << s.error;
  EXPECT_DOUBLE_EQ(s.value, 15);
  EXPECT_FALSE(Sample(3).valid) << "each value counts once";
  Status bad = probe_->Push("latency", 1);
  EXPECT_EQ(bad.code(), Status::Code::kNotFound);
  EXPECT_TRUE(Contains(bad.message(), "its push metrics: requests")) << bad.message();
  EXPECT_FALSE(probe_->Push("requests", NAN).ok());
}

TEST_F(LiveProbeTest, CountersAreRatesAndRelativeGaugesMoveTheLastOne) {
  ASSERT_TRUE(Make("      hits: {push: true}\n      queue: {push: true, guard: {max: 100}}\n",
                   "hits:max")
                  .ok());
  ASSERT_TRUE(probe_->Push("hits", 5, 'c').ok());
  ASSERT_TRUE(probe_->Push("queue", 10, 'g').ok());
  LiveSample s = Sample(10);
  EXPECT_FALSE(s.valid);
  EXPECT_TRUE(Contains(s.error, "a counter's rate needs two samples")) << s.error;
  ASSERT_TRUE(probe_->Push("hits", 30, 'c').ok());
  ASSERT_TRUE(probe_->Push("hits", 10, 'c').ok());
  EXPECT_FALSE(probe_->Push("nope", 1, 'g', /*relative=*/true).ok());
  ASSERT_TRUE(probe_->Push("queue", 95, 'g', /*relative=*/true).ok());  // 10 + 95
  s = Sample(12);
  ASSERT_TRUE(s.valid) << s.error;
  EXPECT_DOUBLE_EQ(s.value, 20);  // 40 hits in 2 s
  EXPECT_EQ(s.guard_violation, "queue 105 > 100 (its guard.max)");
}

TEST_F(LiveProbeTest, AGuardMetricPastItsLimitOrUnreadableIsAViolation) {
  std::string latency = dir_.Write("latency", "12\n");
  ASSERT_TRUE(Make("      rate:\n        push: true\n"
                   "      p99:\n        sample_script: cat " +
                       latency +
                       "\n"
                       "        guard: {max: 50}\n",
                   "rate:max")
                  .ok());
  ASSERT_TRUE(probe_->Push("rate", 100).ok());
  LiveSample s = Sample(1);
  EXPECT_TRUE(s.valid);
  EXPECT_EQ(s.guard_violation, "");
  dir_.Write("latency", "61.2\n");
  ASSERT_TRUE(probe_->Push("rate", 100).ok());
  s = Sample(2);
  EXPECT_TRUE(s.valid);
  EXPECT_EQ(s.guard_violation, "p99 61.2 > 50 (its guard.max)");
  dir_.Write("latency", "no number\n");
  ASSERT_TRUE(probe_->Push("rate", 100).ok());
  s = Sample(3);
  EXPECT_TRUE(Contains(s.guard_violation, "guard metric 'p99' could not be read"))
      << s.guard_violation;
}

TEST_F(LiveProbeTest, AnExpressionTargetDividesARateByALoadOfTheSameSample) {
  ASSERT_TRUE(Make("      requests: {push: true}\n      cpu_seconds: {push: true}\n",
                   "{expression: requests / cpu_seconds, goal: max}")
                  .ok());
  ASSERT_TRUE(probe_->Push("requests", 1000).ok());
  ASSERT_TRUE(probe_->Push("cpu_seconds", 4).ok());
  LiveSample s = Sample(1);
  ASSERT_TRUE(s.valid) << s.error;
  EXPECT_DOUBLE_EQ(s.value, 250);
  // An input missing makes the sample invalid with that input's reason.
  ASSERT_TRUE(probe_->Push("requests", 1000).ok());
  s = Sample(2);
  EXPECT_FALSE(s.valid);
  EXPECT_TRUE(Contains(s.error, "metric 'cpu_seconds': no value was pushed")) << s.error;
  ASSERT_TRUE(probe_->Push("requests", 1000).ok());
  ASSERT_TRUE(probe_->Push("cpu_seconds", 0).ok());
  s = Sample(3);
  EXPECT_FALSE(s.valid);
  EXPECT_TRUE(Contains(s.error, "gave no finite number (a division by zero?)"))
      << s.error;
}

TEST_F(LiveProbeTest, HardwareCountersThatAreMissingAreNamedAtCreate) {
  Status s = Make("      ipc:\n        perf: ipc\n", "ipc:max");
  if (s.ok()) {
    // A machine with counters: two samples give instructions per cycle.
    Sample(1);
    LiveSample second = Sample(2);
    EXPECT_TRUE(!second.valid || second.value >= 0);
    return;
  }
  EXPECT_TRUE(Contains(s.message(), "metric 'ipc'")) << s.message();
  EXPECT_TRUE(Contains(s.message(), "hardware counters")) << s.message();
}

}  // namespace
}  // namespace hone
