#include "daemon/tuner/metric_source.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include <spdlog/spdlog.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace hone {

namespace asio = boost::asio;

namespace {

// How much of a failing process's stderr goes into a sample's error.
constexpr size_t kErrorTail = 400;

}  // namespace

CpuMeter::CpuMeter(Machine* machine) : machine_(machine) {
  long ticks = sysconf(_SC_CLK_TCK);
  tick_s_ = ticks > 0 ? 1.0 / static_cast<double>(ticks) : 0.01;
}

std::optional<CpuTotals> CpuMeter::Read() const {
  if (!machine_) return std::nullopt;
  std::string text;
  CpuTotals totals;
  if (!machine_->ReadFile("/proc/stat", &text).ok() ||
      !ParseCpuTotals(text, &totals).ok())
    return std::nullopt;
  return totals;
}

double CpuMeter::OtherCpus(const CpuTotals& before, const CpuTotals& after,
                           double own_cpu_s, double wall_s) const {
  if (after.busy_ticks < before.busy_ticks || wall_s <= 0) return 0;
  double busy_s = static_cast<double>(after.busy_ticks - before.busy_ticks) * tick_s_;
  return std::max(0.0, busy_s - own_cpu_s) / wall_s;
}

bool CpuMeter::AboveLimit(double other_cpus, int cpus, double limit_pct) {
  return other_cpus > limit_pct / 100 * cpus;
}

bool CpuMeter::Interfered(double other_cpus, double wall_s, int cpus, double limit_pct) {
  if (limit_pct <= 0 || wall_s < kMinJudgedS) return false;
  return AboveLimit(other_cpus, cpus, limit_pct) &&
         other_cpus * wall_s > kMinInterferenceCpuS;
}

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
                                    Machine* machine,
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
  for (const MetricSpec& other : spec->metrics) {
    if (&other == source->metric_) continue;
    if (other.kind != MetricKind::kDuration && other.kind != MetricKind::kPattern &&
        other.kind != MetricKind::kScript)
      continue;  // live jobs only (CompleteSpec refuses them in a sync job)
    Pattern pattern;
    if (other.kind == MetricKind::kPattern) {
      Status s = Pattern::Compile(other.pattern, &pattern);
      if (!s.ok()) return s.WithContext("metric '" + other.name + "'");
    }
    source->others_.emplace_back(&other, std::move(pattern));
  }
  source->cpu_ = CpuMeter(machine);
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
  std::optional<CpuTotals> before = cpu_.Read();
  auto started = std::chrono::steady_clock::now();
  double own_cpu_s = 0;
  SampleResult sample = co_await Measure(config, cutoff, &own_cpu_s);
  std::optional<CpuTotals> after = cpu_.Read();
  double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (before && after && wall_s > 0) {
    sample.other_cpu = cpu_.OtherCpus(*before, *after, own_cpu_s, wall_s);
    sample.interfered = CpuMeter::Interfered(*sample.other_cpu, wall_s, after->cpus,
                                             spec_->settings.max_interference_pct);
  }
  co_return sample;
}

asio::awaitable<QuietWait> WorkloadMetricSource::WaitForQuiet(double max_s) {
  QuietWait wait;
  std::optional<CpuTotals> before = cpu_.Read();
  if (!before || max_s <= 0) co_return wait;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto started = std::chrono::steady_clock::now();
  for (;;) {
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(asio::use_awaitable);
    std::optional<CpuTotals> after = cpu_.Read();
    auto now = std::chrono::steady_clock::now();
    wait.waited_s = std::chrono::duration<double>(now - started).count();
    if (!after) co_return wait;
    wait.other_cpus = cpu_.OtherCpus(*before, *after, 0, 1.0);
    // Over one second, judged by the share alone: the floor is for short samples.
    wait.quiet = !CpuMeter::AboveLimit(wait.other_cpus, after->cpus,
                                       spec_->settings.max_interference_pct);
    if (wait.quiet || wait.waited_s >= max_s) co_return wait;
    before = after;
  }
}

asio::awaitable<SampleResult> WorkloadMetricSource::Measure(const Config& config,
                                                            std::optional<double> cutoff,
                                                            double* cpu_s) {
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
  *cpu_s += run.cpu_s;
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
  SampleResult read = co_await ReadMetric(metric, pattern, process, run, cpu_s);
  read.duration_s = run.elapsed_s;
  if (read.valid) co_await MeasureOthers(process, run, &read, cpu_s);
  co_return read;
}

asio::awaitable<SampleResult> WorkloadMetricSource::ReadMetric(const MetricSpec& metric,
                                                               const Pattern& pattern,
                                                               const ProcessSpec& process,
                                                               const ProcessResult& run,
                                                               double* cpu_s) {
  SampleResult read;
  switch (metric.kind) {
    case MetricKind::kDuration:
      read.valid = true;
      read.value = run.elapsed_s;
      co_return read;
    case MetricKind::kPattern: {
      const std::string& text = metric.source == "stderr" ? run.err : run.out;
      std::optional<double> value = pattern.LastValue(text);
      if (!value) {
        read.error = "metric '" + metric.name + "': pattern /" + metric.pattern +
                     "/ found no number in the workload's " + metric.source;
        co_return read;
      }
      read.valid = true;
      read.value = *value;
      co_return read;
    }
    case MetricKind::kScript:
      co_return co_await RunSampleScript(
          metric, process, spec_->settings.script_timeout_s, runner_, groups_, cpu_s);
    case MetricKind::kPush:
    case MetricKind::kPressure:
    case MetricKind::kCgroupStat:
    case MetricKind::kPerf:
    case MetricKind::kExpression:
      break;  // live jobs only (CompleteSpec refuses them in a sync job)
  }
  read.error = "metric '" + metric.name + "' is read by live jobs only";
  co_return read;
}

asio::awaitable<void> WorkloadMetricSource::MeasureOthers(const ProcessSpec& process,
                                                          const ProcessResult& run,
                                                          SampleResult* sample,
                                                          double* cpu_s) {
  for (const auto& [metric, pattern] : others_) {
    SampleResult read = co_await ReadMetric(*metric, pattern, process, run, cpu_s);
    if (read.valid && std::isfinite(read.value)) {
      sample->metrics[metric->name] = read.value;
    } else if (metric->guarded()) {
      // A guard that cannot be checked cannot let the configuration through.
      sample->valid = false;
      sample->error = "guarded " +
                      (read.valid ? "metric '" + metric->name + "' is not a finite number"
                                  : read.error);
      co_return;
    } else {
      spdlog::warn("job {}: not recorded: {}", job_, read.error);
    }
  }
}

asio::awaitable<SampleResult> RunSampleScript(const MetricSpec& metric,
                                              const ProcessSpec& base, double timeout_s,
                                              ProcessRunner* runner,
                                              ProcessGroups* groups, double* cpu_s) {
  ProcessSpec process = base;
  process.argv = ShellArgv(metric.script);
  process.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  ProcessResult result = co_await runner->Run(process, groups);
  if (cpu_s) *cpu_s += result.cpu_s;
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
