// Fuzz target: a live job's state (jobs.live_state, LiveSession::SaveState) as the
// state directory keeps it, read back when honed restarts or when another live job
// warm-starts from it (LiveSession::LoadState). The state directory is not trusted:
// any JSON must be refused with the reason or taken, and a session that took it must
// start, decide on samples, report, and save a state that loads again.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/tuner/live_session.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

const hone::SearchSpace& Space() {
  static const hone::SearchSpace space = [] {
    std::vector<hone::Knob> knobs(2);
    knobs[0].name = "svc_a";
    for (int a = 1; a <= 8; ++a) knobs[0].values.push_back(a);
    knobs[1].name = "vm.swappiness";
    knobs[1].values = {10, 30, 60};
    hone::SearchSpace s;
    if (!hone::SearchSpace::Create(knobs, &s).ok()) abort();
    return s;
  }();
  return space;
}

hone::LiveSettings Settings(hone::LiveMode mode) {
  hone::LiveSettings s;
  s.interval_s = 1;
  s.epoch_samples = 2;
  s.max_configs = 6;
  s.mode = mode;
  s.strategy = "random";  // the model's fits would make each input slow
  s.phase_signature = true;
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json state = nlohmann::json::parse(data, data + size, nullptr, false);
  if (state.is_discarded()) return 0;
  const hone::SearchSpace& space = Space();
  hone::LiveMode mode = static_cast<hone::LiveMode>(size % 4);
  hone::LiveSession session(Settings(mode), hone::Goal::kMax, &space);
  hone::Status loaded = session.LoadState(state);
  if (!loaded.ok())
    FUZZ_CHECK(loaded.message().find("the stored live state is damaged") !=
               std::string::npos);
  session.Start(0, space.Default());
  hone::Config holding = space.Default();
  for (int i = 0; i < 120; ++i) {
    // A service whose rate depends on the configuration, with a step at sample 60.
    double rate = 100 + 10 * static_cast<double>(holding[0]) + (i >= 60 ? -40 : 0) +
                  static_cast<double>(data[i % (size ? size : 1)] % 7);
    // The workload's signature: the programs of the input's bytes, changing with them.
    std::string signature(
        1, static_cast<char>('a' + data[(i / 10) % (size ? size : 1)] % 3));
    hone::LiveDecision d = session.Observe(
        {static_cast<double>(i), i % 37 != 5, rate, "failed", "", signature});
    if (d.change) {
      FUZZ_CHECK(space.Contains(d.config));
      holding = d.config;
    }
    FUZZ_CHECK(session.holding() == holding);
  }
  (void)session.Snapshot().dump();
  (void)session.Report().dump();
  nlohmann::json saved = session.SaveState();
  hone::LiveSession again(Settings(mode), hone::Goal::kMax, &space);
  FUZZ_CHECK(again.LoadState(saved).ok());
  return 0;
}
