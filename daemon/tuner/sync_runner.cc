#include "daemon/tuner/sync_runner.h"

#include <algorithm>
#include <cstdio>

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
  const Settings& settings = context.spec->settings;
  // Without a guard, no sample needs the session's judgement before it is stored.
  const bool guarded =
      std::any_of(context.spec->metrics.begin(), context.spec->metrics.end(),
                  [](const MetricSpec& m) { return m.guarded(); });
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
    const char* phase = step.race ? "comparing the best with the baseline, alternately"
                        : step.baseline ? "measuring the baseline"
                                        : "searching";
    context.phase(phase);
    Status prepared;
    // A new trial, or an earlier one measured again: set its knobs.
    if (step.first_sample || step.revisit)
      prepared = co_await SetSystemKnobs(context, step.config,
                                         "trial " + std::to_string(step.trial));
    SampleResult sample;
    Store::NewTrial new_trial{space.ToJson(step.config), step.baseline, step.reason};
    // A sample taken while other processes used the CPU is set aside and taken again,
    // interference_repeats times at most; then it is kept, flagged.
    for (int repeats = 0;; ++repeats) {
      sample = SampleResult{};
      if (prepared.ok()) {
        if (settings.quiet_wait_s > 0) {
          context.phase("waiting for a quiet machine (quiet_wait)");
          QuietWait wait = co_await context.metric->WaitForQuiet(settings.quiet_wait_s);
          context.phase(phase);
          if (!wait.quiet)
            spdlog::info(
                "job {}: trial {}: no quiet machine after {:.0f}s of quiet_wait "
                "(others kept {:.2f} CPUs busy); measured anyway",
                context.job, step.trial, wait.waited_s, wait.other_cpus);
        }
        if (context.stop()) break;
        sample = co_await context.metric->Sample(step.config, step.stop_cutoff);
      } else {
        sample.error = prepared.message();  // the trial fails; nothing is half-applied
      }
      if (context.stop()) break;
      sample.race = step.race;
      sample.round = step.round;
      sample.taken_at = context.clock->Now();
      if (sample.valid && guarded) {
        std::optional<std::string> broken = co_await OnWorker(*context.worker, [&] {
          return session.GuardViolation(sample, step.baseline);
        });
        if (broken) {
          sample.valid = false;
          sample.error = *broken;
        }
      }
      const bool set_aside = sample.interfered && sample.valid && !sample.stopped_early &&
                             repeats < settings.interference_repeats;
      if (set_aside) {
        sample.valid = false;
        char error[200];
        std::snprintf(error, sizeof error,
                      "set aside: other processes kept %.2f CPUs busy while it ran "
                      "(max_interference_pct %g); measured again",
                      sample.other_cpu.value_or(0), settings.max_interference_pct);
        sample.error = error;
      }
      // A trial is stored with its first sample: one that was never measured (honed
      // died first) is proposed again after a resume, never measured twice. (A trial
      // a resumed job has on record already, without samples, was stored before its
      // first sample by an older honed.)
      const bool stored = seq.count(step.trial) > 0;
      Status s = context.log->AddSample(step.trial, seq[step.trial]++, sample,
                                        stored ? nullptr : &new_trial);
      if (!s.ok()) co_return Outcome{JobState::kFailed, s.message()};
      if (!set_aside) break;
      spdlog::info("job {}: trial {}: {}", context.job, step.trial, sample.error);
      co_await OnWorker(*context.worker, [&] { session.SetAside(sample); });
      context.publish({{"type", "sample"},
                       {"job", context.job},
                       {"trial", step.trial},
                       {"baseline", step.baseline},
                       {"config", new_trial.config},
                       {"valid", false},
                       {"set_aside", true},
                       {"error", sample.error},
                       {"duration_s", sample.duration_s}});
    }
    if (context.stop()) continue;  // a killed sample is not a result
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
