// Fuzz target: a job's trials and samples as the state directory keeps them, read
// back into a TuningSession (Restore) to rebuild a report or resume a job. Values,
// sample times and final-comparison rounds are whatever the database holds (the
// store keeps rounds within 0..INT32_MAX and turns a NULL value into 0; values and
// times may be infinite or huge). The session must rebuild, report and go on
// proposing steps without crashing, and every sample step must name a trial it has.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "daemon/tuner/tuning_session.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// A number as a database REAL can hold it: ordinary, huge, tiny or infinite.
double StoredReal(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 5)) {
    case 0: return std::numeric_limits<double>::infinity();
    case 1: return -std::numeric_limits<double>::infinity();
    case 2: return std::numeric_limits<double>::max();
    case 3: return std::numeric_limits<double>::denorm_min();
    case 4: return in.ConsumeFloatingPoint<double>();
    default: return in.ConsumeFloatingPointInRange<double>(-1000, 1000);
  }
}

hone::SampleResult StoredSample(FuzzedDataProvider& in) {
  hone::SampleResult s;
  s.valid = in.ConsumeBool();
  s.value = s.valid ? StoredReal(in) : 0;
  if (!s.valid) s.error = "failed";
  s.stopped_early = in.ConsumeBool() && in.ConsumeBool();
  s.round = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<int>(0, INT_MAX);
  if (in.ConsumeBool()) s.round = in.ConsumeIntegralInRange<int>(0, 6);
  s.race = s.round > 0;
  s.taken_at = in.ConsumeBool() ? in.ConsumeFloatingPointInRange<double>(0, 100) : StoredReal(in);
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  static const hone::SearchSpace space = [] {
    hone::SearchSpace s;
    hone::SearchSpace::Create({{"a", {1, 2, 3}, 0}, {"b", {10, 20}, 1}}, &s);
    return s;
  }();
  hone::Settings settings;
  settings.race_pct = in.ConsumeIntegralInRange<int>(0, 50);
  settings.confirm_samples = in.ConsumeIntegralInRange<int>(1, 6);
  settings.min_baseline_samples = in.ConsumeIntegralInRange<int>(1, 4);
  settings.max_samples = in.ConsumeIntegralInRange<int64_t>(0, 80);
  hone::Target target{"m", in.ConsumeBool() ? hone::Goal::kMax : hone::Goal::kMin};

  std::vector<hone::TrialRecord> trials;
  int count = in.ConsumeIntegralInRange<int>(0, 7);
  for (int i = 0; i < count; ++i) {
    hone::TrialRecord t;
    t.number = i;
    t.baseline = i == 0;
    uint64_t n = i == 0 ? 0 : in.ConsumeIntegralInRange<uint64_t>(0, space.Size() - 1);
    t.config = i == 0 ? space.Default() : hone::ConfigFromNumber(space, n);
    int samples = in.ConsumeIntegralInRange<int>(0, 12);
    for (int k = 0; k < samples; ++k) t.samples.push_back(StoredSample(in));
    trials.push_back(std::move(t));
  }
  hone::TuningSession session(settings, target, &space, nullptr);
  session.Restore(trials);
  hone::ReportContext context{1, "interrupted", "", "", 1, ""};
  (void)session.Report(context).dump();
  // Resumed: go on for a while, measuring what it asks for.
  std::set<int64_t> numbers;
  for (const hone::TrialRecord& t : session.trials()) numbers.insert(t.number);
  for (int step = 0; step < 40 && in.remaining_bytes() > 0; ++step) {
    hone::Step next = session.Next(in.ConsumeFloatingPointInRange<double>(0, 1e6));
    if (next.kind != hone::Step::Kind::kSample) break;
    numbers.clear();
    for (const hone::TrialRecord& t : session.trials()) numbers.insert(t.number);
    FUZZ_CHECK(numbers.count(next.trial) == 1);
    session.Record(StoredSample(in));
  }
  (void)session.Report(context).dump();
  return 0;
}
