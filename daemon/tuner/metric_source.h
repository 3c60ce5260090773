// MetricSource: where the tuner gets samples. "Give me the next sample of this
// configuration": the sync runner asks once per sample, with the knobs already set.
//
// WorkloadMetricSource is today's source: run the job's workload with the
// configuration's application knobs in its environment, as the submitter, then read
// the target metric (its wall-clock time, a pattern in its output, or a
// sample_script). A live job's samples come from LiveProbe (live_probe.h) instead. Later
// sources (a live service's probes, pushed values, kernel counters) implement the same
// interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/config.h"
#include "common/scan.h"
#include "common/space.h"
#include "daemon/jobs/job_request.h"
#include "daemon/knobs/machine.h"
#include "daemon/process/process.h"
#include "daemon/tuner/kernel_metrics.h"
#include "daemon/tuner/sample.h"

namespace hone {

// What waiting for a quiet machine came to (quiet_wait).
struct QuietWait {
  double waited_s = 0;
  bool quiet = true;      // false: the wait ran out with the machine still busy
  double other_cpus = 0;  // what the last second measured (CPUs kept busy)
};

class MetricSource {
 public:
  virtual ~MetricSource() = default;
  // One sample of `config`. `cutoff`: the run may stop as soon as the metric is
  // clearly worse than this (early_stop_pct); the sample is then stopped_early.
  // The sample carries the job's other metrics and what other processes used of
  // the CPUs while it ran (SampleResult::metrics, other_cpu, interfered).
  virtual boost::asio::awaitable<SampleResult> Sample(const Config& config,
                                                      std::optional<double> cutoff) = 0;
  // Waits, a second at a time, until other processes keep at most
  // max_interference_pct of the CPUs busy, or `max_s` have passed (quiet_wait).
  virtual boost::asio::awaitable<QuietWait> WaitForQuiet(double max_s) {
    (void)max_s;
    co_return QuietWait{};
  }
};

// The machine's busy CPU time (/proc/stat under the machine's root), to tell what
// processes other than a sample's own used while it ran.
class CpuMeter {
 public:
  // `machine` may be null: nothing is measured.
  explicit CpuMeter(Machine* machine);
  std::optional<CpuTotals> Read() const;
  // The CPUs (on average) that others kept busy between `before` and `after`, over
  // `wall_s` seconds, when the run itself used `own_cpu_s` of CPU time.
  double OtherCpus(const CpuTotals& before, const CpuTotals& after, double own_cpu_s,
                   double wall_s) const;
  // Whether that is interference: above `limit_pct` of the machine's CPUs, and more
  // than kMinInterferenceCpuS in all, over a sample of kMinJudgedS at least (over
  // less, the kernel's clock ticks are too coarse to tell).
  static bool Interfered(double other_cpus, double wall_s, int cpus, double limit_pct);
  // Whether `other_cpus` is above `limit_pct` of the machine's `cpus` (ParseCpuTotals
  // gives one at least).
  static bool AboveLimit(double other_cpus, int cpus, double limit_pct);
  static constexpr double kMinInterferenceCpuS = 0.25;
  static constexpr double kMinJudgedS = 0.5;

 private:
  Machine* machine_;
  double tick_s_;
};

// How a job's processes are started: as the submitter, in its directory, with its
// environment and the configuration's application knobs.
ProcessSpec BaseProcess(const JobRequest& request, const SearchSpace& space,
                        const Config& config);

// One run of `metric`'s sample_script from `base` (the submitter, directory and
// environment): the last number it prints, or why there is none. The CPU time it
// used is added to `*cpu_s` when given.
boost::asio::awaitable<SampleResult> RunSampleScript(
    const MetricSpec& metric, const ProcessSpec& base, double timeout_s,
    ProcessRunner* runner, ProcessGroups* groups, double* cpu_s = nullptr);

// "MESSAGE: the last lines of stderr", for a process that failed.
std::string WithOutput(std::string message, const std::string& err);
// The end of `text` (at most `limit` bytes, "..." before it), trailing space trimmed.
std::string Tail(const std::string& text, size_t limit);

class WorkloadMetricSource : public MetricSource {
 public:
  // Everything must outlive the source. Fails when the target's pattern does not
  // compile (it was checked when the config was parsed).
  // `machine` (may be null) is where /proc/stat is read.
  static Status Create(int64_t job, const JobSpec* spec, const JobRequest* request,
                       const SearchSpace* space, ProcessRunner* runner,
                       ProcessGroups* groups, Machine* machine,
                       std::unique_ptr<WorkloadMetricSource>* out);

  boost::asio::awaitable<SampleResult> Sample(const Config& config,
                                              std::optional<double> cutoff) override;
  boost::asio::awaitable<QuietWait> WaitForQuiet(double max_s) override;

 private:
  WorkloadMetricSource() : cpu_(nullptr) {}
  // The workload's run and the target; `*cpu_s` gets the CPU time its processes used.
  boost::asio::awaitable<SampleResult> Measure(const Config& config,
                                               std::optional<double> cutoff,
                                               double* cpu_s);
  // One metric of a successful `run`, for the target and the others alike: its
  // duration, a pattern in its output, or its sample_script (run from `process`).
  boost::asio::awaitable<SampleResult> ReadMetric(const MetricSpec& metric,
                                                  const Pattern& pattern,
                                                  const ProcessSpec& process,
                                                  const ProcessResult& run,
                                                  double* cpu_s);
  // The other metrics of a successful run into `sample->metrics`; a guarded one that
  // cannot be read makes the sample invalid.
  boost::asio::awaitable<void> MeasureOthers(const ProcessSpec& process,
                                             const ProcessResult& run,
                                             SampleResult* sample, double* cpu_s);

  int64_t job_ = 0;
  const JobSpec* spec_ = nullptr;
  const MetricSpec* metric_ = nullptr;
  const JobRequest* request_ = nullptr;
  const SearchSpace* space_ = nullptr;
  ProcessRunner* runner_ = nullptr;
  ProcessGroups* groups_ = nullptr;
  Pattern pattern_;  // the target's, when it is a pattern metric
  // The other metrics a sync job reads with each sample, and their patterns.
  std::vector<std::pair<const MetricSpec*, Pattern>> others_;
  CpuMeter cpu_;
};

}  // namespace hone
