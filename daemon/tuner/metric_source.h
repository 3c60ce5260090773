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

#include <boost/asio/awaitable.hpp>

#include "common/config.h"
#include "common/scan.h"
#include "common/space.h"
#include "daemon/jobs/job_request.h"
#include "daemon/process/process.h"
#include "daemon/tuner/sample.h"

namespace hone {

class MetricSource {
 public:
  virtual ~MetricSource() = default;
  // One sample of `config`. `cutoff`: the run may stop as soon as the metric is
  // clearly worse than this (early_stop_pct); the sample is then stopped_early.
  virtual boost::asio::awaitable<SampleResult> Sample(const Config& config,
                                                      std::optional<double> cutoff) = 0;
};

// How a job's processes are started: as the submitter, in its directory, with its
// environment and the configuration's application knobs.
ProcessSpec BaseProcess(const JobRequest& request, const SearchSpace& space,
                        const Config& config);

// One run of `metric`'s sample_script from `base` (the submitter, directory and
// environment): the last number it prints, or why there is none.
boost::asio::awaitable<SampleResult> RunSampleScript(const MetricSpec& metric,
                                                     const ProcessSpec& base,
                                                     double timeout_s,
                                                     ProcessRunner* runner,
                                                     ProcessGroups* groups);

// "MESSAGE: the last lines of stderr", for a process that failed.
std::string WithOutput(std::string message, const std::string& err);
// The end of `text` (at most `limit` bytes, "..." before it), trailing space trimmed.
std::string Tail(const std::string& text, size_t limit);

class WorkloadMetricSource : public MetricSource {
 public:
  // Everything must outlive the source. Fails when the target's pattern does not
  // compile (it was checked when the config was parsed).
  static Status Create(int64_t job, const JobSpec* spec, const JobRequest* request,
                       const SearchSpace* space, ProcessRunner* runner,
                       ProcessGroups* groups, std::unique_ptr<WorkloadMetricSource>* out);

  boost::asio::awaitable<SampleResult> Sample(const Config& config,
                                              std::optional<double> cutoff) override;

 private:
  WorkloadMetricSource() = default;
  boost::asio::awaitable<SampleResult> MeasureScript(const ProcessSpec& base);

  int64_t job_ = 0;
  const JobSpec* spec_ = nullptr;
  const MetricSpec* metric_ = nullptr;
  const JobRequest* request_ = nullptr;
  const SearchSpace* space_ = nullptr;
  ProcessRunner* runner_ = nullptr;
  ProcessGroups* groups_ = nullptr;
  Pattern pattern_;  // the target's, when it is a pattern metric
};

}  // namespace hone
