#include "daemon/tuner/sync_runner.h"

#include <spdlog/spdlog.h>

#include "daemon/crash_point.h"
#include "daemon/tuner/worker.h"

namespace hone {

namespace asio = boost::asio;
using nlohmann::json;

asio::awaitable<Outcome> SyncRunner::Run(RunContext& context) {
  const SearchSpace& space = *context.space;
  TuningSession& session = *context.session;
  std::map<int64_t, int>& seq = context.taken;  // samples recorded per trial
  for (;;) {
    if (std::optional<Outcome> stop = context.stop()) co_return *stop;
    double elapsed = context.elapsed();
    Step step = co_await OnWorker(*context.worker, [&] {
      FailPoint("propose");
      HoldPoint("propose");
      return session.Next(elapsed);
    });
    if (step.kind == Step::Kind::kDone) co_return Outcome{JobState::kCompleted, step.reason};
    if (step.kind == Step::Kind::kFailed) co_return Outcome{JobState::kFailed, step.reason};
    context.phase(step.race       ? "comparing the best with the baseline, alternately"
                  : step.baseline ? "measuring the baseline"
                                  : "searching");
    Status prepared;
    // A new trial, or an earlier one measured again: set its knobs.
    if (step.first_sample || step.revisit)
      prepared = co_await SetSystemKnobs(context, step.config,
                                         "trial " + std::to_string(step.trial));
    SampleResult sample;
    if (prepared.ok()) {
      sample = co_await context.metric->Sample(step.config, step.stop_cutoff);
    } else {
      sample.error = prepared.message();  // the trial fails; nothing is half-applied
    }
    if (context.stop()) continue;  // a killed sample is not a result
    sample.race = step.race;
    sample.round = step.round;
    sample.taken_at = context.clock->Now();
    // A trial is stored with its first sample: one that was never measured (honed
    // died first) is proposed again after a resume, never measured twice. (A trial
    // a resumed job has on record already, without samples, was stored before its
    // first sample by an older honed.)
    Store::NewTrial new_trial{space.ToJson(step.config), step.baseline, step.reason};
    const bool stored = seq.count(step.trial) > 0;
    Status s = context.log->AddSample(step.trial, seq[step.trial]++, sample,
                                      stored ? nullptr : &new_trial);
    if (!s.ok()) co_return Outcome{JobState::kFailed, s.message()};
    if (!sample.valid)
      spdlog::warn("job {}: trial {} sample invalid: {}", context.job, step.trial,
                   sample.error);
    json counts = co_await OnWorker(*context.worker, [&] {
      session.Record(sample);
      return context.counts();
    });
    json event = {{"type", "sample"},
                  {"job", context.job},
                  {"trial", step.trial},
                  {"baseline", step.baseline},
                  {"config", std::move(new_trial.config)},
                  {"valid", sample.valid},
                  {"duration_s", sample.duration_s}};
    if (sample.valid)
      event["value"] = sample.value;
    else
      event["error"] = sample.error;
    context.publish(event);
    context.progress(std::move(counts));
  }
}

}  // namespace hone
