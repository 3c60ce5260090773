#include "daemon/tuner/live_runner.h"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/report.h"
#include "daemon/tuner/live_probe.h"
#include "daemon/tuner/worker.h"

namespace hone {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// The loop sleeps at most this long at a time, so that a cancel or a stop is seen
// at once whatever the sampling interval.
constexpr double kMaxSleep = 0.1;

}  // namespace

asio::awaitable<Outcome> LiveRunner::Run(RunContext& context) {
  LiveSession& session = *context.live;
  const SearchSpace& space = *context.space;
  const Settings& settings = context.spec->settings;
  const double interval = settings.sampling_interval_s;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto sleep_until = [&](double deadline) -> asio::awaitable<void> {
    for (;;) {
      double left = deadline - context.clock->Monotonic();
      if (left <= 0 || context.stop()) co_return;
      timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(std::min(left, kMaxSleep))));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  };
  // The machine as the job found it (its system knobs' current values) is where the
  // service runs now: the first incumbent.
  Config holding = space.Default();
  co_await OnWorker(*context.worker, [&] {
    session.set_wall_offset(context.clock->Now() - context.clock->Monotonic());
    session.Start(context.clock->Monotonic(), holding);
  });
  context.phase("live: measuring the incumbent");
  double next = context.clock->Monotonic();
  for (;;) {
    if (std::optional<Outcome> stop = context.stop()) co_return *stop;
    if (settings.max_minutes > 0 && context.elapsed() >= settings.max_minutes * 60)
      co_return Outcome{
          JobState::kCompleted,
          "budget spent: max_minutes (" + FormatValue(settings.max_minutes) + ")"};
    LiveSample observed =
        co_await context.probe->Sample(holding, context.clock->Monotonic());
    if (context.stop()) continue;
    if (!observed.valid)
      spdlog::warn("job {}: sample invalid: {}", context.job, observed.error);
    LiveDecision decision;
    json counts;
    bool settled = false;
    co_await OnWorker(*context.worker, [&] {
      decision = session.Observe(observed);
      counts = context.counts();
      settled = session.settled();
    });
    context.phase(settled ? "live: settled, watching" : "live: tuning");
    int attempts = 0;
    while (decision.change && attempts++ < 2) {
      Status s = co_await SetSystemKnobs(context, decision.config, "live");
      std::string line = (decision.revert ? "reverted to " : "now ") +
                         space.ToJson(decision.config).dump() + ": " + decision.reason;
      if (s.ok()) {
        holding = decision.config;
        if (decision.revert)
          spdlog::warn("job {}: {}", context.job, line);
        else
          spdlog::info("job {}: {}", context.job, line);
        context.publish({{"type", "change"},
                         {"job", context.job},
                         {"config", space.ToJson(holding)},
                         {"revert", decision.revert},
                         {"reason", decision.reason}});
        break;
      }
      // The write failed and was undone: the machine still runs what it ran. The
      // session takes that as a guard's revert of the configuration it wanted.
      spdlog::error("job {}: cannot apply {}: {}", context.job,
                    space.ToJson(decision.config).dump(), s.message());
      context.note("cannot apply " + space.ToJson(decision.config).dump() + ": " +
                   s.message());
      LiveDecision back;
      co_await OnWorker(*context.worker, [&] {
        back = session.ApplyFailed(context.clock->Monotonic(), s.message());
        counts = context.counts();
      });
      decision = back;
    }
    if (decision.change && holding != decision.config)
      co_return Outcome{JobState::kFailed,
                        "cannot return the knobs to the incumbent; the job stopped and "
                        "its knobs were put back"};
    if (decision.change) {
      json state =
          co_await OnWorker(*context.worker, [&] { return session.SaveState(); });
      context.save_live(std::move(state));
    }
    context.progress(std::move(counts));
    next += interval;
    double now = context.clock->Monotonic();
    if (next < now) next = now;  // a slow sample_script: no burst to catch up
    co_await sleep_until(next);
  }
}

}  // namespace hone
