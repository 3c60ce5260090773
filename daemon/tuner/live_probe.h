// LiveProbe: one sample of a live job's service. At every sampling_interval it reads
// the target metric and every metric with a guard, whatever their source:
//   sample_script  run as the submitter, the last number it prints;
//   push           the mean of the values the service pushed since the last sample
//                  (hone push, JobManager::Push);
//   pressure       pressure stall information, /proc/pressure/<resource> or a
//                  cgroup's <resource>.pressure (through the Machine: re-rooted in
//                  tests);
//   cgroup_stat    a key of a cgroup v2 flat keyed file (cpu.stat's usage_usec),
//                  by default as its rate per second since the last sample;
//   perf           instructions or cycles per second, or instructions per cycle, of
//                  a cgroup or the whole machine (PerfCounters; most VMs have none,
//                  and Create then says so);
//   expression     the target computed from the other metrics' values of the same
//                  sample (a rate divided by a load, so that a change of the load is
//                  not taken for one of efficiency).
// A guard metric outside its limits, or one that cannot be read, is the sample's
// guard_violation (the session reverts a candidate on it). Lives on the event loop.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "common/config.h"
#include "common/space.h"
#include "daemon/jobs/job_request.h"
#include "daemon/knobs/machine.h"
#include "daemon/process/process.h"
#include "daemon/tuner/kernel_metrics.h"
#include "daemon/tuner/live_session.h"

namespace hone {

class LiveProbe {
 public:
  struct Sources {
    int64_t job = 0;
    const JobSpec* spec = nullptr;
    const JobRequest* request = nullptr;
    const SearchSpace* space = nullptr;
    ProcessRunner* runner = nullptr;
    ProcessGroups* groups = nullptr;
    Machine* machine = nullptr;  // for pressure and cgroup_stat; may be null
  };
  // Everything in `sources` must outlive the probe. Fails when a metric cannot be
  // read on this machine at all (no hardware counters for perf), saying why.
  static Status Create(const Sources& sources, std::unique_ptr<LiveProbe>* out);

  // One sample at `now` (monotonic seconds) of the service under `holding`.
  boost::asio::awaitable<LiveSample> Sample(const Config& holding, double now);
  // A value the service pushed for `metric`; NotFound when the job has no push
  // metric of that name, InvalidArgument when it is not finite. `type` as StatsD has
  // it: 'g' a gauge (a sample is the mean of those pushed since the last one; with
  // `relative`, a change of the last gauge), 'm' a timing (the mean too), 'c' a
  // counter (a sample is their sum per second since the last sample).
  Status Push(std::string_view metric, double value, char type = 'g', bool relative = false);

 private:
  struct Reader {
    const MetricSpec* spec = nullptr;
    bool rate = false;
    std::optional<double> last;  // the counter at the last read (rates)
    double last_at = 0;
    std::optional<double> last_instructions, last_cycles;
    std::unique_ptr<PerfCounters> perf;
    double pushed_sum = 0;  // gauges and timings pushed since the last read
    int64_t pushed = 0;
    double counted = 0;  // counters pushed since the last read
    int64_t counts = 0;
    std::optional<double> last_gauge;  // what a relative gauge changes
  };
  LiveProbe() = default;
  boost::asio::awaitable<Status> Read(Reader& reader, const Config& holding, double now,
                                      double* value);
  // A counter's rate per second since its last read; false on the first read.
  static bool Rate(Reader& reader, double count, double now, double* rate);

  Sources sources_;
  std::vector<Reader> readers_;  // the target first
  // An expression target: compiled over its inputs, which are the readers at these
  // indexes (by the expression's slots).
  Expression expression_;
  std::vector<size_t> inputs_;
  // phase_signature: processes.
  std::unique_ptr<ProcessSignature> signature_;
  std::string signature_error_;  // the last one logged, so that it is logged once
};

}  // namespace hone
