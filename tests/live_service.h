// The response surface of hone-test-live-service (live_service.cc), shared with the
// test that tunes it (live_test.cc), which checks what honed settled on against it.
#pragma once

namespace hone::test {

// Phase 1 is best at a=5, swappiness 30, and a=6 with swappiness 10 is harmful (40%
// of its neighbours' rate); phase 2 is best at a=2, swappiness 10.
inline bool LiveServiceHarmful(int a, int swappiness, int phase) {
  return phase == 1 && a == 6 && swappiness == 10;
}

inline double LiveServiceEfficiency(int a, int swappiness, int phase) {
  if (phase == 1) {
    double e = 1 - 0.03 * (a - 5) * (a - 5);
    e *= swappiness == 30 ? 1.0 : swappiness == 10 ? 0.95 : 0.97;
    return LiveServiceHarmful(a, swappiness, phase) ? e * 0.4 : e;
  }
  double e = 1 - 0.03 * (a - 2) * (a - 2);
  return e * (swappiness == 10 ? 1.0 : swappiness == 30 ? 0.95 : 0.9);
}

}  // namespace hone::test
