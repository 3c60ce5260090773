// The report of a tuning session: what the job found, how sure it is, and how it
// ran. One builder for every path: a job that ends, a running job's report, and an
// ended job's report rebuilt from its stored trials.
#include <cmath>

#include "common/report.h"
#include "daemon/tuner/tuning_session.h"

namespace hone {

using nlohmann::json;

namespace {

// The report lists at most this many of the trials tied with the recommendation.
constexpr size_t kReportTied = 10;

}  // namespace

json TuningSession::Describe(const TrialRecord* t) const {
  if (!t) return nullptr;
  json entry = {{"config", space_->ToJson(t->config)},
                {"trial", t->number},
                {"samples", t->valid_count()}};
  std::optional<double> mean = t->Mean();
  entry["value"] = mean ? json(*mean) : json(nullptr);
  return entry;
}

json TuningSession::TiedWith(const TrialRecord& best) const {
  // The confirmed trials (the baseline too) that the samples cannot tell apart from
  // the recommendation: the same test as the race's.
  std::vector<const TrialRecord*> tied = history_.TiedTrials(best);
  json configs = json::array();
  for (size_t i = 0; i < tied.size() && i < kReportTied; ++i) {
    json entry = Describe(tied[i]);
    if (tied[i]->baseline) entry["baseline"] = true;
    configs.push_back(std::move(entry));
  }
  return {{"count", tied.size()}, {"configs", std::move(configs)}};
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
  if (improvement) {
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
  report["noise_pct"] = Round(RelativeNoise() * 100, 2);
  if (best) report["tied"] = TiedWith(*best);
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
  report["elapsed_s"] = Round(context.elapsed_s, 1);
  report["strategy"] = settings_.strategy;
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
