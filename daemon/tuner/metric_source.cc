#include "daemon/tuner/metric_source.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include <spdlog/spdlog.h>

namespace hone {

namespace asio = boost::asio;

namespace {

// How much of a failing process's stderr goes into a sample's error.
constexpr size_t kErrorTail = 400;

}  // namespace

std::string Tail(const std::string& text, size_t limit) {
  size_t end = text.find_last_not_of(" \n\t\r");
  if (end == std::string::npos) return "";
  std::string trimmed = text.substr(0, end + 1);
  if (trimmed.size() <= limit) return trimmed;
  return "..." + trimmed.substr(trimmed.size() - limit);
}

std::string WithOutput(std::string message, const std::string& err) {
  std::string tail = Tail(err, kErrorTail);
  if (!tail.empty()) message += ": " + tail;
  return message;
}

ProcessSpec BaseProcess(const JobRequest& request, const SearchSpace& space,
                        const Config& config) {
  ProcessSpec process;
  process.env = request.env;
  if (!config.empty())
    for (auto& [key, value] : space.Environment(config)) process.env[key] = value;
  process.cwd = request.cwd;
  process.user = request.user;
  return process;
}

Status WorkloadMetricSource::Create(int64_t job, const JobSpec* spec,
                                    const JobRequest* request, const SearchSpace* space,
                                    ProcessRunner* runner, ProcessGroups* groups,
                                    std::unique_ptr<WorkloadMetricSource>* out) {
  std::unique_ptr<WorkloadMetricSource> source(new WorkloadMetricSource());
  source->job_ = job;
  source->spec_ = spec;
  source->metric_ = spec->FindMetric(spec->target.metric);
  if (!source->metric_)
    return Status::InvalidArgument("no metric '" + spec->target.metric + "'");
  source->request_ = request;
  source->space_ = space;
  source->runner_ = runner;
  source->groups_ = groups;
  if (source->metric_->kind == MetricKind::kPattern) {
    Status s = Pattern::Compile(source->metric_->pattern, &source->pattern_);
    if (!s.ok()) return s.WithContext("metric '" + source->metric_->name + "'");
  }
  *out = std::move(source);
  return Status::OK();
}

namespace {

// Watches a partial pattern metric's stream line by line while the workload runs,
// and says when the value so far is worse than the cutoff. The first match is
// not trusted alone (a warm-up iteration), so it takes two.
class PartialWatch {
 public:
  PartialWatch(Pattern pattern, const MetricSpec& metric, Goal goal, double cutoff)
      : pattern_(std::move(pattern)),
        stderr_(metric.source == "stderr"),
        goal_(goal),
        cutoff_(cutoff) {}

  bool See(std::string_view piece, bool is_stderr) {
    if (is_stderr != stderr_) return false;
    pending_.append(piece);
    size_t end;
    while ((end = pending_.find('\n')) != std::string::npos) {
      std::string line = pending_.substr(0, end);
      pending_.erase(0, end + 1);
      if (auto v = pattern_.LastValue(line)) {
        value_ = v;
        ++matches_;
      }
      if (matches_ >= 2 && value_ &&
          (goal_ == Goal::kMax ? *value_ < cutoff_ : *value_ > cutoff_))
        return true;
    }
    if (pending_.size() > (1 << 20)) pending_.clear();  // no newline: not a progress line
    return false;
  }
  std::optional<double> value() const { return value_; }

 private:
  Pattern pattern_;
  bool stderr_;
  Goal goal_;
  double cutoff_;
  std::string pending_;
  std::optional<double> value_;
  int matches_ = 0;
};

}  // namespace

asio::awaitable<SampleResult> WorkloadMetricSource::Sample(const Config& config,
                                                          std::optional<double> cutoff) {
  const WorkloadSpec& workload = spec_->workload;
  const MetricSpec& metric = *metric_;
  ProcessSpec process = BaseProcess(*request_, *space_, config);
  process.argv = workload.argv.empty() ? ShellArgv(workload.shell) : workload.argv;
  process.timeout =
      std::chrono::milliseconds(static_cast<int64_t>(workload.timeout_s * 1000));
  std::shared_ptr<PartialWatch> partial;
  const Pattern& pattern = pattern_;
  if (cutoff && metric.kind == MetricKind::kDuration && spec_->target.goal == Goal::kMin) {
    process.stop_at =
        std::chrono::milliseconds(static_cast<int64_t>(std::ceil(*cutoff * 1000)));
  } else if (cutoff && metric.kind == MetricKind::kPattern && metric.partial) {
    partial =
        std::make_shared<PartialWatch>(pattern, metric, spec_->target.goal, *cutoff);
    process.watch = [partial](std::string_view piece, bool is_stderr) {
      return partial->See(piece, is_stderr);
    };
  }
  ProcessResult run = co_await runner_->Run(process, groups_);
  SampleResult sample;
  sample.duration_s = run.elapsed_s;
  if (run.stopped_early) {
    // Clearly worse than the best: what it reached is its (flattering) value.
    sample.valid = true;
    sample.stopped_early = true;
    sample.value = partial && partial->value() ? *partial->value() : run.elapsed_s;
    spdlog::info("job {}: {} stopped early at {} (cutoff {})", job_,
                 space_->ToJson(config).dump(), sample.value, *cutoff);
    co_return sample;
  }
  if (!run.Succeeded()) {
    sample.error = WithOutput("workload " + run.Describe(), run.err);
    co_return sample;
  }
  switch (metric.kind) {
    case MetricKind::kDuration:
      sample.valid = true;
      sample.value = run.elapsed_s;
      co_return sample;
    case MetricKind::kPattern: {
      const std::string& text = metric.source == "stderr" ? run.err : run.out;
      std::optional<double> value = pattern.LastValue(text);
      if (!value) {
        sample.error = "metric '" + metric.name + "': pattern /" + metric.pattern +
                       "/ found no number in the workload's " + metric.source;
        co_return sample;
      }
      sample.valid = true;
      sample.value = *value;
      co_return sample;
    }
    case MetricKind::kScript: {
      SampleResult measured = co_await MeasureScript(process);
      measured.duration_s = run.elapsed_s;
      co_return measured;
    }
    case MetricKind::kPush:
    case MetricKind::kPressure:
    case MetricKind::kCgroupStat:
    case MetricKind::kPerf:
    case MetricKind::kExpression:
      break;  // live jobs only (CompleteSpec refuses them in a sync job)
  }
  sample.error = "metric '" + metric.name + "' is read by live jobs only";
  co_return sample;
}

asio::awaitable<SampleResult> WorkloadMetricSource::MeasureScript(
    const ProcessSpec& base) {
  SampleResult sample = co_await RunSampleScript(
      *metric_, base, spec_->settings.script_timeout_s, runner_, groups_);
  co_return sample;
}

asio::awaitable<SampleResult> RunSampleScript(const MetricSpec& metric,
                                              const ProcessSpec& base, double timeout_s,
                                              ProcessRunner* runner,
                                              ProcessGroups* groups) {
  ProcessSpec process = base;
  process.argv = ShellArgv(metric.script);
  process.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  ProcessResult result = co_await runner->Run(process, groups);
  SampleResult sample;
  std::string where = "metric '" + metric.name + "': sample_script";
  if (!result.Succeeded()) {
    sample.error = WithOutput(where + " " + result.Describe(), result.err);
    co_return sample;
  }
  std::optional<double> value = LastNumber(result.out);
  if (!value) {
    std::string shown = Tail(result.out, 80);
    sample.error =
        where + " printed no number" +
        (shown.empty() ? std::string(" (no output)") : " (output: '" + shown + "')");
    co_return sample;
  }
  sample.valid = true;
  sample.value = *value;
  co_return sample;
}

}  // namespace hone
