// LiveSim: a simulated service for live tuning, shared by the live benchmark
// (bench/live_bench.cc) and the unit tests (tests/live_session_test.cc). Its rate
// depends on the configuration through the phase's response surface, swings slowly
// with the offered load over a simulated day, and is noisy; phases change at given
// times. Everything runs on simulated time: a day takes milliseconds.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/space.h"

namespace hone::sim {

struct SimPhase {
  double from_s = 0;  // simulated time the phase begins
  // The service's efficiency under a configuration (the best is about 1).
  std::function<double(const Config&)> efficiency;
  // The workload's signature in the phase (the programs that use the CPU); empty:
  // the service gives none.
  std::string signature{};
};

class LiveSim {
 public:
  // `swing`: the load's relative amplitude, over `period_s`; `noise`: one sample's
  // relative noise.
  LiveSim(std::vector<SimPhase> phases, double swing, double period_s, double noise,
          uint64_t seed)
      : phases_(std::move(phases)),
        swing_(swing),
        period_s_(period_s),
        noise_(noise),
        rng_(seed) {}

  const SimPhase& PhaseAt(double t) const {
    const SimPhase* phase = &phases_.front();
    for (const SimPhase& p : phases_)
      if (p.from_s <= t) phase = &p;
    return *phase;
  }
  size_t PhaseIndex(double t) const {
    size_t index = 0;
    for (size_t i = 0; i < phases_.size(); ++i)
      if (phases_[i].from_s <= t) index = i;
    return index;
  }
  double Load(double t) const { return 1 + swing_ * std::sin(2 * M_PI * t / period_s_); }
  // The rate without noise: what an oracle would know.
  double Expected(const Config& config, double t) const {
    return 100 * Load(t) * PhaseAt(t).efficiency(config);
  }
  // One noisy sample of the rate at time t.
  double Sample(const Config& config, double t) {
    std::normal_distribution<double> noise(0, noise_);
    return Expected(config, t) * (1 + noise(rng_));
  }

 private:
  std::vector<SimPhase> phases_;
  double swing_, period_s_, noise_;
  std::mt19937_64 rng_;
};

}  // namespace hone::sim
