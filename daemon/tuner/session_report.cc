// The report of a tuning session: what the job found, how sure it is, and how it
// ran. One builder for every path: a job that ends, a running job's report, and an
// ended job's report rebuilt from its stored trials.
#include <algorithm>
#include <cmath>
#include <set>

#include "common/report.h"
#include "daemon/tuner/tuning_session.h"

namespace hone {

using nlohmann::json;

namespace {

// The report lists at most this many of the trials tied with the recommendation.
constexpr size_t kReportTied = 10;
// A failed sample's error, in the trial history, is cut at this many bytes.
constexpr size_t kTrialsErrorBytes = 240;

}  // namespace

json TuningSession::Describe(const TrialRecord* t) const {
  if (!t) return nullptr;
  json entry = {{"config", space_->ToJson(t->config)},
                {"trial", t->number},
                {"samples", t->valid_count()}};
  std::optional<double> mean = t->Mean();
  entry["value"] = mean ? json(*mean) : json(nullptr);
  std::map<std::string, double> metrics = t->MetricMeans();
  if (!metrics.empty()) entry["metrics"] = metrics;
  return entry;
}

json TuningSession::DescribeTied(const std::vector<const TrialRecord*>& tied) const {
  json configs = json::array();
  for (size_t i = 0; i < tied.size() && i < kReportTied; ++i) {
    json entry = Describe(tied[i]);
    if (tied[i]->baseline) entry["baseline"] = true;
    configs.push_back(std::move(entry));
  }
  return {{"count", tied.size()}, {"configs", std::move(configs)}};
}

json TuningSession::Trials(std::optional<int64_t> best_trial, int64_t after, size_t limit,
                           size_t max_samples, size_t max_bytes) const {
  const std::vector<TrialRecord>& all = history_.trials();
  const TrialRecord* best = nullptr;
  for (const TrialRecord& t : all)
    if (best_trial && t.number == *best_trial) best = &t;
  if (!best_trial) best = BestByMean();
  std::set<const TrialRecord*> tied;
  if (best)
    for (const TrialRecord* t : history_.TiedTrials(*best)) tied.insert(t);
  const TrialRecord* baseline = Baseline();
  std::optional<double> base = baseline ? baseline->Mean() : std::nullopt;
  json trials = json::array();
  json next;
  size_t bytes = 0;
  for (const TrialRecord& t : all) {
    if (t.number <= after) continue;
    if (trials.size() >= limit) {
      next = trials.back()["trial"];
      break;
    }
    json entry = {
        {"trial", t.number}, {"config", space_->ToJson(t.config)}, {"reason", t.reason}};
    if (t.baseline) entry["baseline"] = true;
    json samples = json::array();
    bool stopped_early = false, finalist = false;
    double sum = 0, squares = 0;
    int valid = 0, outliers = 0;
    size_t sample_bytes = 0;
    std::vector<bool> outlier = Outliers(t.samples);
    // The samples in the order taken, the set-aside ones among them.
    std::vector<std::pair<const SampleResult*, bool>> listed;
    for (size_t i = 0; i < t.samples.size(); ++i)
      listed.emplace_back(&t.samples[i], outlier[i]);
    for (const SampleResult& s : t.set_aside) listed.emplace_back(&s, false);
    std::stable_sort(listed.begin(), listed.end(), [](const auto& a, const auto& b) {
      return a.first->taken_at < b.first->taken_at;
    });
    for (const auto& [sp, is_outlier] : listed) {
      const SampleResult& s = *sp;
      stopped_early = stopped_early || s.stopped_early;
      finalist = finalist || s.race;
      outliers += is_outlier;
      if (s.valid) {
        ++valid;
        sum += s.value;
        squares += s.value * s.value;
      }
      // A sample's other metrics can make it large: a trial's list stops at
      // max_samples, or at max_bytes, so that one trial fits a page too.
      if (samples.size() >= max_samples || sample_bytes >= max_bytes) continue;
      json sample = {{"valid", s.valid}, {"duration_s", Round(s.duration_s, 3)}};
      if (s.valid)
        sample["value"] = s.value;
      else
        sample["error"] = s.error.substr(0, kTrialsErrorBytes);
      if (s.taken_at > 0) sample["taken_at"] = Round(s.taken_at, 3);
      if (s.race) sample["round"] = s.round;
      if (s.stopped_early) sample["stopped_early"] = true;
      if (!s.metrics.empty()) sample["metrics"] = s.metrics;
      if (s.other_cpu) sample["other_cpu"] = Round(*s.other_cpu, 3);
      if (s.interfered) sample["interfered"] = true;
      if (s.SetAside()) sample["set_aside"] = true;
      if (is_outlier) sample["outlier"] = true;
      sample_bytes += sample.dump().size();
      samples.push_back(std::move(sample));
    }
    std::map<std::string, double> metric_means = t.MetricMeans();
    if (!metric_means.empty()) entry["metrics"] = metric_means;
    if (!t.set_aside.empty()) entry["set_aside"] = t.set_aside.size();
    if (outliers > 0) entry["outliers"] = outliers;
    for (const SampleResult& s : t.samples)
      if (s.BrokeGuard()) {
        entry["infeasible"] = s.error.substr(0, kTrialsErrorBytes);
        break;
      }
    if (samples.size() < listed.size())
      entry["samples_omitted"] = listed.size() - samples.size();
    entry["valid"] = valid;
    entry["invalid"] = static_cast<int64_t>(t.samples.size()) - valid;
    std::optional<double> mean = t.Mean();
    entry["mean"] = mean ? json(*mean) : json(nullptr);
    entry["sd"] = nullptr;
    if (valid >= 2) {
      double m = sum / valid;
      entry["sd"] = std::sqrt(std::max(0.0, (squares - valid * m * m) / (valid - 1)));
    }
    if (mean && base && *base != 0 && !t.baseline)
      entry["improvement_pct"] = Round(*ImprovementPct(*mean), 2);
    std::string state = "explored";
    if (valid == 0)
      state = "failed";
    else if (&t == best)
      state = "best";
    else if (t.baseline)
      state = "baseline";
    else if (stopped_early)
      state = "stopped early";
    else if (tied.count(&t))
      state = "tied";
    entry["state"] = state;
    if (tied.count(&t) && t.baseline) entry["tied"] = true;
    if (finalist) entry["finalist"] = true;
    entry["samples"] = std::move(samples);
    // A page stays well under a protocol line (limits::kMaxLineBytes).
    size_t size = entry.dump().size();
    if (!trials.empty() && bytes + size > max_bytes) {
      next = trials.back()["trial"];
      break;
    }
    bytes += size;
    trials.push_back(std::move(entry));
  }
  json result = {{"target", {{"metric", target_.metric}, {"goal", GoalName(goal_)}}},
                 {"noise_pct", history_.NoiseDegreesOfFreedom() > 0
                                   ? json(Round(100 * RelativeNoise(), 2))
                                   : json(nullptr)},
                 {"trials", std::move(trials)},
                 {"next", next}};
  json knobs = json::array();
  for (const Knob& k : space_->knobs()) knobs.push_back(k.name);
  result["knobs"] = std::move(knobs);
  if (best) result["best_trial"] = best->number;
  return result;
}

json TuningSession::Report(const ReportContext& context) const {
  json report = {{"job", context.job},
                 {"state", context.state},
                 {"target", {{"metric", target_.metric}, {"goal", GoalName(goal_)}}}};
  if (!context.stop_reason.empty()) report["stop_reason"] = context.stop_reason;
  if (!context.message.empty()) report["message"] = context.message;
  report["baseline"] = Describe(Baseline());
  Recommendation::Choice choice = recommendation_.Choose();
  const TrialRecord* best = choice.best;
  report["best"] = Describe(best);
  if (best) {
    // How the recommendation was chosen, so that a tied trial with a better mean in
    // `tied` is not a surprise.
    if (best != choice.by_mean) {
      report["chosen_by"] = {{"rule", "model"}, {"best_mean_trial", choice.by_mean->number}};
    } else {
      report["chosen_by"] = {{"rule", "mean"}};
      if (choice.model_pick)
        report["chosen_by"]["model_unfit"] = {{"preferred_trial", choice.model_pick->number}};
    }
  }
  // The improvement: from the final comparison's rounds where it measured the
  // recommendation and the baseline alternately, otherwise from all their samples.
  std::optional<TrialHistory::Improvement> improvement =
      best ? history_.ImprovementOf(*best) : std::nullopt;
  report["improvement_pct"] = improvement ? json(Round(improvement->pct, 2)) : json(nullptr);
  // Established: the interval lies wholly on the better side, and (below) the samples
  // tell the baseline apart from the recommendation. Otherwise a summary must not
  // show the mean's gain as if it were one.
  bool established = false;
  if (improvement) {
    established = improvement->low_pct > 0 && !best->baseline;
    report["improvement_ci95_pct"] = {Round(improvement->low_pct, 2),
                                      Round(improvement->high_pct, 2)};
    if (const std::optional<PairedEstimate>& paired = improvement->paired)
      report["improvement_method"] = {{"rule", "paired"},
                                      {"rounds", paired->pairs},
                                      {"baseline_value", paired->reference_mean},
                                      {"best_value", paired->candidate_mean}};
    else
      report["improvement_method"] = {{"rule", "means"}};
  }
  // Before any configuration has two valid samples there is no noise to report
  // (the statistics use a 1% floor meanwhile).
  report["noise_pct"] = history_.NoiseDegreesOfFreedom() > 0
                            ? json(Round(RelativeNoise() * 100, 2))
                            : json(nullptr);
  if (best) {
    // The confirmed trials (the baseline too) that the samples cannot tell apart from
    // the recommendation: the same test as the race's.
    std::vector<const TrialRecord*> tied = history_.TiedTrials(*best);
    report["tied"] = DescribeTied(tied);
    established =
        established && std::none_of(tied.begin(), tied.end(),
                                    [](const TrialRecord* t) { return t->baseline; });
  }
  report["improvement_established"] = established;
  std::vector<std::pair<std::string, double>> importance = KnobImportance();
  if (!importance.empty()) {
    json by_knob = json::object();
    for (const auto& [name, pct] : importance) by_knob[name] = pct;
    report["knob_importance_pct"] = by_knob;
  }
  report["configs_explored"] = configs_explored();
  report["configs_budget"] = ConfigBudget();
  uint64_t size = space_->Size();
  report["configs_total"] = size;
  if (feasible_) report["configs_feasible"] = *feasible_;
  report["knobs"] = space_->dims();
  report["samples_valid"] = history_.samples_valid();
  report["samples_invalid"] = history_.samples_invalid();
  if (settings_.early_stop_pct > 0) report["samples_stopped_early"] = history_.samples_stopped_early();
  if (settings_.race_pct > 0) report["samples_race"] = history_.samples_race();
  // Measurement hygiene: what other processes did to the samples, and the outliers.
  int64_t measured = 0, kept_interfered = 0, outliers = 0, guarded_out = 0;
  for (const TrialRecord& t : history_.trials()) {
    std::vector<bool> outlier = Outliers(t.samples);
    outliers += std::count(outlier.begin(), outlier.end(), true);
    bool guard_failed = false;
    for (const SampleResult& s : t.samples) {
      measured += s.other_cpu.has_value();
      kept_interfered += s.valid && s.interfered;
      guard_failed = guard_failed || s.BrokeGuard();
    }
    for (const SampleResult& s : t.set_aside) measured += s.other_cpu.has_value();
    guarded_out += guard_failed;
  }
  report["interference"] = {{"max_interference_pct", settings_.max_interference_pct},
                            {"samples_measured", measured},
                            {"samples_set_aside", history_.samples_set_aside()},
                            {"samples_kept_interfered", kept_interfered}};
  report["samples_outliers"] = outliers;
  if (guarded_out > 0) report["configs_guarded_out"] = guarded_out;
  report["elapsed_s"] = Round(context.elapsed_s, 1);
  report["strategy"] = settings_.strategy;
  report["seed"] = settings_.seed;
  if (!context.overrides.empty()) report["overrides"] = context.overrides;
  if (!context.recheck.is_null()) report["recheck"] = context.recheck;
  if (!context.descriptions.is_null()) report["descriptions"] = context.descriptions;
  if (context.warm_start_job) {
    report["warm_start"] = {{"job", context.warm_start_job}};
    if (prior_observations_) report["warm_start"]["observations"] = prior_observations_;
  }
  if (!context.settings_file.empty()) report["settings_file"] = context.settings_file;
  if (context.resumes > 0)
    report["resumed"] = {{"times", context.resumes},
                         {"downtime_s", Round(context.downtime_s, 1)}};
  return report;
}

}  // namespace hone
