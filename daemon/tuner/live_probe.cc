#include "daemon/tuner/live_probe.h"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "common/report.h"
#include "daemon/tuner/metric_source.h"

namespace hone {

namespace asio = boost::asio;

namespace {

// An expression target from its inputs of the same sample (read, values: by reader).
Status EvaluateTarget(const Expression& expression, const std::vector<size_t>& inputs,
                      const std::vector<Status>& read, std::vector<double>* values) {
  std::vector<double> variables;
  for (size_t input : inputs) {
    if (!read[input].ok()) return read[input];
    variables.push_back((*values)[input]);
  }
  std::optional<double> number = expression.EvaluateNumber(variables);
  if (!number)
    return Status::Unavailable("the target's expression '" + expression.text() +
                               "' gave no finite number (a division by zero?)");
  (*values)[0] = *number;
  return Status::OK();
}

}  // namespace

Status LiveProbe::Create(const Sources& sources, std::unique_ptr<LiveProbe>* out) {
  std::unique_ptr<LiveProbe> probe(new LiveProbe());
  probe->sources_ = sources;
  const JobSpec& spec = *sources.spec;
  std::vector<const MetricSpec*> wanted;
  const MetricSpec* target = spec.FindMetric(spec.target.metric);
  if (!target) return Status::InvalidArgument("no metric '" + spec.target.metric + "'");
  wanted.push_back(target);
  auto want = [&](const MetricSpec* m) {
    for (size_t i = 0; i < wanted.size(); ++i)
      if (wanted[i] == m) return i;
    wanted.push_back(m);
    return wanted.size() - 1;
  };
  if (target->kind == MetricKind::kExpression) {
    Status s = Expression::Compile(
        target->expression,
        [&](std::string_view name) {
          Expression::Variable v;
          const MetricSpec* input = spec.FindMetric(name);
          if (!input || input->kind == MetricKind::kExpression) return v;
          v.found = true;
          v.slot = probe->inputs_.size();
          probe->inputs_.push_back(want(input));
          return v;
        },
        &probe->expression_, "metric");
    if (!s.ok()) return s.WithContext("target.expression");
  }
  for (const MetricSpec& m : spec.metrics)
    if (m.guard_min || m.guard_max) want(&m);
  for (const MetricSpec* m : wanted) {
    Reader reader;
    reader.spec = m;
    bool counter = m->kind == MetricKind::kCgroupStat ||
                   (m->kind == MetricKind::kPerf && m->resource != "ipc") ||
                   (m->kind == MetricKind::kPressure && m->field == "total");
    reader.rate = m->rate.value_or(counter);
    if ((m->kind == MetricKind::kPressure || m->kind == MetricKind::kCgroupStat) &&
        !sources.machine)
      return Status::FailedPrecondition("metric '" + m->name +
                                        "': this honed reads no kernel files");
    if (m->kind == MetricKind::kPerf) {
      Status s = PerfCounters::Open(m->cgroup, &reader.perf);
      if (!s.ok()) return s.WithContext("metric '" + m->name + "'");
    }
    probe->readers_.push_back(std::move(reader));
  }
  if (spec.settings.phase_signature == "processes") {
    if (!sources.machine)
      return Status::FailedPrecondition(
          "phase_signature: processes: this honed reads no kernel files");
    probe->signature_ = std::make_unique<ProcessSignature>(sources.machine);
    std::string first;
    Status s = probe->signature_->Sample(&first);
    if (!s.ok()) return s.WithContext("phase_signature: processes");
  }
  *out = std::move(probe);
  return Status::OK();
}

bool LiveProbe::Rate(Reader& reader, double count, double now, double* rate) {
  std::optional<double> last = reader.last;
  double last_at = reader.last_at;
  reader.last = count;
  reader.last_at = now;
  if (!last || !(now > last_at)) return false;
  *rate = (count - *last) / (now - last_at);
  return true;
}

Status LiveProbe::Push(std::string_view metric, double value, char type, bool relative) {
  if (!std::isfinite(value))
    return Status::InvalidArgument("a pushed value must be a finite number");
  for (Reader& reader : readers_)
    if (reader.spec->name == metric && reader.spec->kind == MetricKind::kPush) {
      if (type == 'c') {
        reader.counted += value;
        ++reader.counts;
        return Status::OK();
      }
      if (type == 'g' && relative) {
        if (!reader.last_gauge)
          return Status::FailedPrecondition("metric '" + std::string(metric) +
                                            "': a relative gauge needs a value first");
        value += *reader.last_gauge;
      }
      if (type == 'g') reader.last_gauge = value;
      reader.pushed_sum += value;
      ++reader.pushed;
      return Status::OK();
    }
  std::string known;
  for (const Reader& reader : readers_)
    if (reader.spec->kind == MetricKind::kPush)
      known += (known.empty() ? "" : ", ") + reader.spec->name;
  return Status::NotFound("the job has no push metric '" + std::string(metric) + "'" +
                          (known.empty() ? std::string(" (it has none)")
                                         : " (its push metrics: " + known + ")"));
}

asio::awaitable<Status> LiveProbe::Read(Reader& reader, const Config& holding, double now,
                                        double* value) {
  const MetricSpec& m = *reader.spec;
  const std::string what = "metric '" + m.name + "'";
  switch (m.kind) {
    case MetricKind::kScript: {
      const Settings& settings = sources_.spec->settings;
      double timeout = std::min(settings.script_timeout_s,
                                std::max(1.0, 5 * settings.sampling_interval_s));
      SampleResult sample = co_await RunSampleScript(
          m, BaseProcess(*sources_.request, *sources_.space, holding), timeout,
          sources_.runner, sources_.groups);
      if (!sample.valid) co_return Status::Unavailable(sample.error);
      *value = sample.value;
      co_return Status::OK();
    }
    case MetricKind::kPush: {
      double since = reader.last_at;
      reader.last_at = now;
      if (reader.pushed > 0) {
        *value = reader.pushed_sum / static_cast<double>(reader.pushed);
      } else if (reader.counts > 0 && since > 0 && now > since) {
        *value = reader.counted / (now - since);
      } else if (reader.counts > 0) {
        reader.counted = 0;
        reader.counts = 0;
        co_return Status::Unavailable(what + ": a counter's rate needs two samples; this "
                                             "is the first");
      } else {
        co_return Status::Unavailable(what + ": no value was pushed since the last sample");
      }
      reader.pushed_sum = reader.counted = 0;
      reader.pushed = reader.counts = 0;
      co_return Status::OK();
    }
    case MetricKind::kPressure:
    case MetricKind::kCgroupStat: {
      double read = 0;
      Status s;
      if (m.kind == MetricKind::kPressure) {
        std::string path = m.cgroup.empty() ? "/proc/pressure/" + m.resource
                                            : m.cgroup + "/" + m.resource + ".pressure";
        s = ReadPressure(*sources_.machine, path, m.line, m.field, &read);
      } else {
        s = ReadFlatKeyed(*sources_.machine, m.cgroup + "/" + m.resource, m.key, &read);
      }
      if (!s.ok()) co_return s.WithContext(what);
      if (!reader.rate) {
        *value = read;
        co_return Status::OK();
      }
      if (!Rate(reader, read, now, value))
        co_return Status::Unavailable(what +
                                      ": a rate needs two readings; this is the first");
      co_return Status::OK();
    }
    case MetricKind::kPerf: {
      uint64_t instructions = 0, cycles = 0;
      Status s = reader.perf->Read(&instructions, &cycles);
      if (!s.ok()) co_return s.WithContext(what);
      std::optional<double> last_i = reader.last_instructions,
                            last_c = reader.last_cycles;
      reader.last_instructions = static_cast<double>(instructions);
      reader.last_cycles = static_cast<double>(cycles);
      if (m.resource == "ipc") {
        double di = last_i ? static_cast<double>(instructions) - *last_i : 0;
        double dc = last_c ? static_cast<double>(cycles) - *last_c : 0;
        if (!last_i || !(dc > 0))
          co_return Status::Unavailable(what +
                                        ": no cycles counted since the last sample");
        *value = di / dc;
        co_return Status::OK();
      }
      double count = static_cast<double>(m.resource == "cycles" ? cycles : instructions);
      if (!reader.rate) {
        *value = count;
        co_return Status::OK();
      }
      if (!Rate(reader, count, now, value))
        co_return Status::Unavailable(what +
                                      ": a rate needs two readings; this is the first");
      co_return Status::OK();
    }
    case MetricKind::kPattern:
    case MetricKind::kDuration:
    case MetricKind::kExpression:  // computed from the others (Sample)
      break;
  }
  co_return Status::InvalidArgument(what + " cannot be read in a live job");
}

asio::awaitable<LiveSample> LiveProbe::Sample(const Config& holding, double now) {
  LiveSample sample;
  sample.at = now;
  std::vector<double> values(readers_.size(), 0);
  std::vector<Status> read(readers_.size(), Status::OK());
  for (size_t i = 0; i < readers_.size(); ++i)
    if (readers_[i].spec->kind != MetricKind::kExpression)
      read[i] = co_await Read(readers_[i], holding, now, &values[i]);
  if (readers_[0].spec->kind == MetricKind::kExpression)
    read[0] = EvaluateTarget(expression_, inputs_, read, &values);
  sample.valid = read[0].ok() && std::isfinite(values[0]);
  sample.value = values[0];
  if (!read[0].ok()) sample.error = read[0].message();
  for (size_t i = 0; i < readers_.size() && sample.guard_violation.empty(); ++i) {
    const MetricSpec& m = *readers_[i].spec;
    if (!(m.guard_min || m.guard_max)) continue;
    double value = values[i];
    if (!read[i].ok()) {
      sample.guard_violation =
          "guard metric '" + m.name + "' could not be read: " + read[i].message();
    } else if (m.guard_max && value > *m.guard_max) {
      sample.guard_violation = m.name + " " + FormatValue(value) + " > " +
                               FormatValue(*m.guard_max) + " (its guard.max)";
    } else if (m.guard_min && value < *m.guard_min) {
      sample.guard_violation = m.name + " " + FormatValue(value) + " < " +
                               FormatValue(*m.guard_min) + " (its guard.min)";
    }
  }
  if (signature_) {
    // Without it the phases are told apart by their level alone: a failed read is
    // logged once, and the sample goes on.
    Status s = signature_->Sample(&sample.signature);
    if (!s.ok() && s.message() != signature_error_)
      spdlog::warn("job {}: phase_signature: {}", sources_.job, s.message());
    signature_error_ = s.ok() ? "" : s.message();
  }
  co_return sample;
}

}  // namespace hone
