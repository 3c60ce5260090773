// Clock: the time as the job manager and the tuner see it, so that tests can move
// it. Now() is wall-clock time (what the store and reports show); Monotonic() only
// ever goes forward (what budgets and elapsed times are measured with).
#pragma once

#include <chrono>

namespace hone {

class Clock {
 public:
  virtual ~Clock() = default;
  // Unix seconds.
  virtual double Now() const = 0;
  // Seconds on a clock that never goes back (its origin means nothing).
  virtual double Monotonic() const = 0;

  // The system's clocks; lives as long as the program.
  static const Clock* System();
};

class SystemClock : public Clock {
 public:
  double Now() const override {
    return std::chrono::duration<double>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  double Monotonic() const override {
    return std::chrono::duration<double>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

inline const Clock* Clock::System() {
  static const SystemClock clock;
  return &clock;
}

}  // namespace hone
