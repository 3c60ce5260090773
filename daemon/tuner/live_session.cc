#include "daemon/tuner/live_session.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/report.h"
#include "daemon/tuner/paired_comparison.h"

namespace hone {

using nlohmann::json;

namespace {

// Samples left out of an epoch after a change: the service is still settling (a
// rate read over the last interval mixes the old configuration and the new).
constexpr int kSettleSamples = 1;
// Distinct workload signatures counted in one epoch at most.
constexpr size_t kMaxEpochSignatures = 16;
// The longest workload signature kept (a stored state's is refused beyond it).
constexpr size_t kMaxSignatureBytes = 1024;
// Incumbent epochs the change-point test compares a new one with.
constexpr size_t kLevelWindow = 4;
constexpr size_t kMaxLevels = 8;
// The prior on the epoch noise before two incumbent epochs have been compared, and
// its floor: an epoch mean is never taken as more precise than this.
constexpr double kDefaultEpochNoise = 0.03;
constexpr double kMinEpochNoise = 0.005;
// The same for one sample, until incumbent epochs have given 5 degrees of freedom.
constexpr double kDefaultSampleNoise = 0.02;
constexpr int kMinNoiseDof = 5;
constexpr double kMinSampleNoise = 0.002;
// The epoch noise, measured on the incumbent, weighs as this many pairs' own spread
// (as the sync job's final comparison does with the pooled noise).
constexpr double kNoisePriorDof = 4;
// Proposals asked of the strategy for one candidate before the phase waits.
constexpr int kMaxAsks = 50;
// A single pair decides only when its difference is this many times its noise.
constexpr double kOnePairSigmas = 5;
// Other phases' bests a new phase tries first.
constexpr size_t kPhaseSeeds = 3;
// What LoadState accepts at most per phase.
constexpr size_t kMaxTriedLoaded = 100'000;

}  // namespace

std::string_view LiveModeName(LiveMode mode) {
  switch (mode) {
    case LiveMode::kTune:
      return "tune";
    case LiveMode::kRecommend:
      return "recommend";
    case LiveMode::kBest:
      return "best";
    case LiveMode::kStaticBest:
      return "static-best";
  }
  return "tune";
}

bool ParseLiveMode(std::string_view name, LiveMode* mode) {
  for (LiveMode m :
       {LiveMode::kTune, LiveMode::kRecommend, LiveMode::kBest, LiveMode::kStaticBest})
    if (LiveModeName(m) == name) {
      *mode = m;
      return true;
    }
  return false;
}

LiveSettings LiveSettings::From(const JobSpec& spec, const SearchSpace& space) {
  const Settings& g = spec.settings;
  LiveSettings s;
  s.interval_s = g.sampling_interval_s;
  s.epoch_samples = g.min_samples_per_config_given ? g.min_samples_per_config : 5;
  s.max_regression_pct = g.max_regression_pct;
  s.min_dwell_s = g.min_dwell_s;
  s.max_changes_per_hour = g.max_changes_per_hour;
  s.phase_signature = g.phase_signature == "processes";
  s.max_configs = g.max_configs;
  s.converge_after = g.converge_after;
  ParseLiveMode(g.live_mode, &s.mode);
  s.strategy = g.strategy;
  s.seed = g.seed;
  s.max_step.assign(space.dims(), 0);
  for (size_t d = 0; d < space.dims(); ++d)
    for (const KnobSpec& knob : spec.knobs)
      if (knob.name == space.knob(d).name && knob.max_step)
        s.max_step[d] = *knob.max_step;
  return s;
}

LiveSession::LiveSession(LiveSettings settings, Goal goal, const SearchSpace* space)
    : settings_(std::move(settings)), goal_(goal), space_(space) {
  settings_.epoch_samples = std::max(1, settings_.epoch_samples);
  settings_.max_step.resize(space_->dims(), 0);
}

std::unique_ptr<Strategy> LiveSession::MakePhaseStrategy(int id) const {
  std::unique_ptr<Strategy> strategy = MakeStrategy(
      settings_.strategy, space_, settings_.seed + static_cast<uint64_t>(id), goal_);
  if (!strategy) strategy = MakeStrategy("model", space_, settings_.seed, goal_);
  return strategy;
}

LiveSession::Epoch LiveSession::NewEpoch(Role role, double now, int skip) {
  Epoch epoch;
  epoch.role = role;
  epoch.start = epoch.end = now;
  epoch.skip = skip;
  return epoch;
}

LiveSession::Phase& LiveSession::NewPhase(double now) {
  if (phases_.size() >= kMaxPhases) {
    // The oldest phase that is not the current one makes room.
    size_t drop = current_index_ == 0 ? 1 : 0;
    phases_.erase(phases_.begin() + static_cast<std::ptrdiff_t>(drop));
    if (static_cast<size_t>(current_index_) > drop) --current_index_;
  }
  auto phase = std::make_unique<Phase>();
  phase->id = next_phase_id_++;
  phase->strategy = MakePhaseStrategy(phase->id);
  phase->started_at = now;
  // It begins under what runs now: the incumbent, its scale's 1.
  phase->began = holding_;
  phase->incumbent = holding_;
  phase->incumbent_score = 1;
  phase->tried[SearchSpace::Key(holding_)] =
      Tried{holding_, 1.0, false, "the configuration the phase began under", true};
  phase->strategy->Tell(holding_, 1.0);
  phases_.push_back(std::move(phase));
  current_index_ = static_cast<int>(phases_.size() - 1);
  current_ = phases_.back()->id;
  return *phases_.back();
}

void LiveSession::Start(double now, const Config& current) {
  started_ = true;
  holding_ = current;
  epoch_ = NewEpoch(Role::kIncumbent, now, 0);
  const std::string key = SearchSpace::Key(current);
  if (phases_.empty()) {
    NewPhase(now);
    return;
  }
  // A restart: the phase it was in goes on from what the machine holds now (its
  // knobs were put back), and its best is tried again first.
  Phase& phase = phase_ref();
  auto known = phase.tried.find(key);
  phase.incumbent = current;
  phase.incumbent_score =
      known != phase.tried.end() && known->second.score ? *known->second.score : NAN;
  StartReturn();
}

void LiveSession::StartReturn() {
  Phase& phase = phase_ref();
  const Tried* best = BestTried(phase);
  if (best && best->config != holding_ && Reachable(best->config) == best->config) {
    trial_ = Trial{best->config, {}, {}, 0, true};
  } else if (std::isnan(phase.incumbent_score)) {
    // Nothing known to compare with: the configuration held starts the scale again.
    phase.incumbent_score = 1;
  }
}

const LiveSession::Tried* LiveSession::BestTried(const Phase& phase) const {
  const Tried* best = nullptr;
  for (const auto& [key, t] : phase.tried) {
    if (t.bad || !t.score || !t.established) continue;
    if (!best ||
        (goal_ == Goal::kMax ? *t.score > *best->score : *t.score < *best->score))
      best = &t;
  }
  return best;
}

bool LiveSession::Worse(double value, double reference, double pct) const {
  double margin = std::fabs(reference) * pct / 100;
  return goal_ == Goal::kMax ? value < reference - margin : value > reference + margin;
}

bool LiveSession::EpochDone(double now) const {
  return epoch_.count >= settings_.epoch_samples &&
         now - epoch_.start >= settings_.min_dwell_s;
}

bool LiveSession::settled() const {
  if (phases_.empty()) return false;
  if (settings_.mode == LiveMode::kBest || settings_.mode == LiveMode::kStaticBest)
    return !trial_;
  return phase_ref().settled && !trial_;
}

LiveDecision LiveSession::Observe(const LiveSample& sample) {
  ++samples_;
  if (!sample.valid) ++invalid_;
  const double now = sample.at;
  const bool first_sample = epoch_.seen++ == 0;
  if (settings_.phase_signature && !sample.signature.empty() &&
      sample.signature.size() <= kMaxSignatureBytes &&
      (epoch_.signatures.size() < kMaxEpochSignatures ||
       epoch_.signatures.count(sample.signature)))
    ++epoch_.signatures[sample.signature];
  if (epoch_.role == Role::kCandidate) {
    std::string why;
    if (!sample.valid) {
      why = "the metric could not be read under the candidate: " + sample.error;
    } else if (!sample.guard_violation.empty()) {
      why = sample.guard_violation;
    } else if (guard_reference_ &&
               Worse(sample.value, *guard_reference_, GuardPct(first_sample))) {
      double pct = std::fabs(sample.value / *guard_reference_ - 1) * 100;
      why = "the candidate measured " + FormatValue(sample.value) + " against the " +
            "incumbent's " + FormatValue(*guard_reference_) + ", " + FormatValue(pct) +
            "% worse (max_regression_pct " + FormatValue(settings_.max_regression_pct) +
            ": the guard reverts past " + FormatValue(GuardPct(first_sample)) + "% " +
            (first_sample ? "at the first sample of an epoch, " : "") +
            (sample_noise_dof_ < kMinNoiseDof ? "until the noise is measured)"
                                              : "at the noise measured)");
    }
    if (!why.empty()) {
      std::optional<double> ratio;
      if (sample.valid && sample.guard_violation.empty() && guard_reference_ &&
          *guard_reference_ != 0)
        ratio = sample.value / *guard_reference_;
      return Revert(now, why, ratio);
    }
  }
  if (sample.valid && std::isfinite(sample.value)) {
    if (epoch_.skip > 0) {
      --epoch_.skip;
    } else {
      epoch_.sum += sample.value;
      epoch_.sum2 += sample.value * sample.value;
      ++epoch_.count;
    }
  }
  if (!EpochDone(now)) return LiveDecision{false, holding_, false, ""};
  epoch_.end = now;
  return epoch_.role == Role::kCandidate ? EndCandidateEpoch(now)
                                         : EndIncumbentEpoch(now);
}

LiveDecision LiveSession::ApplyFailed(double now, const std::string& why) {
  if (epoch_.role == Role::kCandidate)
    return Revert(now, "cannot apply it: " + why, std::nullopt);
  return LiveDecision{true, holding_, false, "applying the incumbent again"};
}

LiveDecision LiveSession::SwitchTo(double now, const Config& config, Role role,
                                   std::string reason) {
  LiveDecision decision;
  decision.change = config != holding_;
  decision.config = config;
  decision.reason = reason;
  if (decision.change) Note(now, holding_, config, std::move(reason));
  holding_ = config;
  epoch_ = NewEpoch(role, now, decision.change ? kSettleSamples : 0);
  return decision;
}

void LiveSession::Note(double now, const Config& from, const Config& to,
                       std::string reason) {
  ++changes_total_;
  change_times_.push_back(now);
  while (!change_times_.empty() && change_times_.front() < now - 3600)
    change_times_.pop_front();
  Log(now, from, to, std::move(reason));
}

void LiveSession::Log(double now, const Config& from, const Config& to,
                      std::string reason) {
  recent_.push_back(LiveChange{now, current_, space_->ToJson(from), space_->ToJson(to),
                               std::move(reason)});
  while (recent_.size() > kRecentChanges) recent_.pop_front();
}

bool LiveSession::MayChange(double now, int changes) const {
  if (settings_.max_changes_per_hour <= 0) return true;
  int64_t recent = std::count_if(change_times_.begin(), change_times_.end(),
                                 [&](double t) { return t >= now - 3600; });
  return recent + changes <= settings_.max_changes_per_hour;
}

LiveDecision LiveSession::Revert(double now, std::string why,
                                 std::optional<double> ratio) {
  ++reverts_;
  last_revert_ = why;
  // The strategy learns what the guard saw (the sample against the incumbent), so
  // that a revert on noise does not teach it a failure; a sample that could not be
  // read or a guard metric past its limit is one.
  std::optional<double> score;
  double incumbent = phase_ref().incumbent_score;
  if (ratio && std::isfinite(*ratio) && std::isfinite(incumbent))
    score = incumbent * *ratio;
  Conclude(score, true, why);
  LiveDecision decision =
      SwitchTo(now, phase_ref().incumbent, Role::kIncumbent, "guard: " + why);
  decision.revert = true;
  return decision;
}

LiveDecision LiveSession::EndCandidateEpoch(double now) {
  double mean = epoch_.sum / epoch_.count;
  double mid = (epoch_.start + epoch_.end) / 2;
  trial_->candidate[trial_->round] = {mean, mid};
  phase_ref().level[SearchSpace::Key(trial_->config)] = Level{trial_->config, mean};
  return SwitchTo(now, phase_ref().incumbent, Role::kIncumbent,
                  "back to the incumbent after the candidate's epoch " +
                      std::to_string(trial_->round));
}

double LiveSession::SampleNoise() const {
  if (sample_noise_dof_ < kMinNoiseDof) return kDefaultSampleNoise;
  return std::max(kMinSampleNoise, std::sqrt(sample_noise_sum_ / sample_noise_dof_));
}

double LiveSession::GuardPct(bool first_sample) const {
  double pct = settings_.max_regression_pct;
  return std::max(first_sample ? 0 : pct / 2, pct - 300 * SampleNoise());
}

double LiveSession::EpochNoise() const {
  if (noise_count_ < 2) return kDefaultEpochNoise;
  return std::max(kMinEpochNoise, std::sqrt(noise_sum_ / noise_count_ / 2));
}

std::optional<double> LiveSession::ChangePoint() {
  double mean = epoch_.sum / epoch_.count;
  if (levels_.size() < 2) return std::nullopt;
  size_t k = std::min(kLevelWindow, levels_.size());
  double reference = 0;
  for (size_t i = levels_.size() - k; i < levels_.size(); ++i) reference += levels_[i];
  reference /= static_cast<double>(k);
  if (reference == 0) return std::nullopt;
  double threshold = std::max(
      kMinShiftPct / 100, 4 * EpochNoise() * std::sqrt(1 + 1.0 / static_cast<double>(k)));
  auto shift = [&](double v) { return v / reference - 1; };
  double d = shift(mean);
  if (std::fabs(d) <= threshold) {
    suspect_.reset();
    return std::nullopt;
  }
  if (suspect_ && std::fabs(shift(*suspect_)) > threshold &&
      (shift(*suspect_) > 0) == (d > 0)) {
    double level = (*suspect_ + mean) / 2;
    suspect_.reset();
    return level;
  }
  suspect_ = mean;
  return std::nullopt;
}

LiveDecision LiveSession::EndIncumbentEpoch(double now) {
  const double mean = epoch_.sum / epoch_.count;
  const double mid = (epoch_.start + epoch_.end) / 2;
  Phase* phase = &phase_ref();
  const std::string key = SearchSpace::Key(holding_);
  guard_reference_ = mean;
  // The signature most of the epoch's samples had.
  std::string signature;
  int most = 0;
  for (const auto& [text, count] : epoch_.signatures)
    if (count > most) most = count, signature = text;
  std::optional<double> level = ChangePoint();
  std::optional<double> by_signature = SignatureChange(mean, signature);
  if (!level) level = by_signature;
  if (level) {
    EnterPhase(now, *level, signature);
    phase = &phase_ref();
  } else if (suspect_ || signature_suspect_) {
    // A step, perhaps: one more incumbent epoch says whether it holds. The trial
    // waits (its pairs would straddle the step).
    epoch_ = NewEpoch(Role::kIncumbent, now, 0);
    return LiveDecision{false, holding_, false, ""};
  } else {
    if (!levels_.empty() && levels_.back() != 0) {
      double d = mean / levels_.back() - 1;
      noise_sum_ += d * d;
      ++noise_count_;
    }
    levels_.push_back(mean);
    while (levels_.size() > kMaxLevels) levels_.pop_front();
    if (epoch_.count >= 2 && mean != 0) {
      double n = epoch_.count;
      double variance =
          std::max(0.0, (epoch_.sum2 - epoch_.sum * epoch_.sum / n) / (n - 1));
      sample_noise_sum_ += variance / (mean * mean) * (n - 1);
      sample_noise_dof_ += epoch_.count - 1;
    }
    phase->level[key] = Level{holding_, mean};
    if (phase->signature.empty()) phase->signature = signature;
  }

  if (trial_ && trial_->round > 0) {
    trial_->reference[trial_->round + 1] = {mean, mid};
    const Trial trial = *trial_;
    std::map<int, Timed> reference, candidate;
    for (const auto& [round, value] : trial.reference)
      reference[round] = Timed{value.first, value.second};
    for (const auto& [round, value] : trial.candidate)
      candidate[round] = Timed{value.first, value.second};
    std::vector<Pair> pairs = PairsFromRounds(reference, candidate);
    double ratio_sum_a = 0, ratio_sum_b = 0;
    for (const Pair& p : pairs) ratio_sum_a += p.reference, ratio_sum_b += p.candidate;
    double ratio = ratio_sum_a != 0 ? ratio_sum_b / ratio_sum_a : 1;
    std::optional<PairedEstimate> estimate =
        EstimatePaired(pairs, goal_, NoisePrior{EpochNoise(), kNoisePriorDof});
    double improvement = (goal_ == Goal::kMax ? ratio - 1 : 1 - ratio) * 100;
    std::string what = "the candidate " + space_->ToJson(trial.config).dump();
    bool promote = false, reject = false;
    std::string why;
    if (estimate) {
      std::string measured = FormatValue((estimate->improvement_pct)) + "% [" +
                             FormatValue((estimate->low_pct)) + ", " +
                             FormatValue((estimate->high_pct)) + "] over " +
                             std::to_string(estimate->pairs) + " paired epochs";
      if (estimate->low_pct > 0) {
        promote = true;
        why = "promoted: " + measured;
      } else if (estimate->high_pct < kMinGainPct) {
        reject = true;
        why = "rejected: " + measured;
      } else if (trial.round >= kMaxRounds) {
        reject = true;
        why = "rejected, not shown better: " + measured;
      }
    } else if (!pairs.empty()) {
      // One pair: only a difference far beyond an epoch's noise decides (the
      // difference of a B epoch and two A epochs interpolated has sqrt(1.5) epochs'
      // noise).
      double clear =
          std::max(100 * kOnePairSigmas * std::sqrt(1.5) * EpochNoise(), 2 * kMinGainPct);
      if (improvement < -clear) {
        reject = true;
        why = "rejected after one epoch: " + FormatValue(improvement) + "%";
      } else if (improvement > clear) {
        promote = true;
        why = "promoted after one epoch: " + FormatValue(improvement) + "%";
      }
    }
    if (promote || reject) {
      Phase& p = *phase;
      double incumbent_score = p.incumbent_score;
      if (std::isnan(incumbent_score)) {
        // A known phase returned while another phase's configuration was held:
        // its score comes from the phase's best, through this trial's ratio.
        const Tried& best = p.tried[SearchSpace::Key(trial.config)];
        incumbent_score = best.score && ratio != 0 ? *best.score / ratio : 1;
        p.incumbent_score = incumbent_score;
        p.tried[key] =
            Tried{holding_, incumbent_score, false, "measured against the best", true};
      }
      double score = incumbent_score * ratio;
      if (!trial.returning) Conclude(score, false, why);
      Config config = trial.config;
      std::vector<double> means;
      for (const auto& [round, value] : trial.candidate) means.push_back(value.first);
      trial_.reset();
      if (promote) {
        p.tried[SearchSpace::Key(config)].established = true;
        p.incumbent = config;
        p.incumbent_score = score;
        levels_.assign(means.begin(), means.end());
        suspect_.reset();
        return SwitchTo(now, config, Role::kIncumbent, what + " " + why);
      }
      // A decision, not a change: the incumbent already runs.
      Log(now, config, holding_, what + " " + why);
    } else {
      ++trial_->round;
      return SwitchTo(now, trial.config, Role::kCandidate,
                      what + ": epoch " + std::to_string(trial_->round));
    }
  }

  // Idle: the next candidate, if the mode, the phase and the change limit allow.
  if (!trial_) {
    if (std::optional<Config> next = NextCandidate())
      trial_ = Trial{*next, {}, {}, 0, false};
  }
  if (trial_ && MayChange(now, 2)) {
    trial_->reference[1] = {mean, mid};
    trial_->round = 1;
    return SwitchTo(
        now, trial_->config, Role::kCandidate,
        std::string(trial_->returning ? "trying the phase's best " : "trying ") +
            space_->ToJson(trial_->config).dump());
  }
  epoch_ = NewEpoch(Role::kIncumbent, now, 0);
  return LiveDecision{false, holding_, false, ""};
}

std::optional<double> LiveSession::SignatureChange(double mean,
                                                   const std::string& signature) {
  const std::string& known = phase_ref().signature;
  if (signature.empty() || known.empty() || signature == known) {
    signature_suspect_.reset();
    return std::nullopt;
  }
  if (signature_suspect_ && signature_suspect_->first == signature) {
    double level = (signature_suspect_->second + mean) / 2;
    signature_suspect_.reset();
    return level;
  }
  signature_suspect_ = {signature, mean};
  return std::nullopt;
}

void LiveSession::EnterPhase(double now, double level, const std::string& signature) {
  trial_.reset();
  proposal_.reset();
  accepted_ = false;
  suspect_.reset();
  signature_suspect_.reset();
  levels_.assign({level});
  guard_reference_ = level;
  const std::string key = SearchSpace::Key(holding_);
  // A known phase is returning: with signatures, the one whose signature this is
  // (the closest level among them) when the signature changed; otherwise one whose
  // level of the configuration held matches, and whose signature, if both have one,
  // is the same.
  const bool new_signature = !signature.empty() && signature != phase_ref().signature;
  double tolerance = std::max(kMinShiftPct / 200, 3 * EpochNoise());
  int match = -1;
  double closest = tolerance;
  bool by_signature = false;
  for (size_t i = 0; i < phases_.size(); ++i) {
    if (static_cast<int>(i) == current_index_) continue;
    const Phase& p = *phases_[i];
    if (!signature.empty() && !p.signature.empty() && p.signature != signature) continue;
    auto it = p.level.find(key);
    double off = it == p.level.end() || it->second.value == 0
                     ? std::numeric_limits<double>::infinity()
                     : std::fabs(level / it->second.value - 1);
    if (new_signature && p.signature == signature) {
      if (!by_signature || off < closest) closest = off, match = static_cast<int>(i);
      by_signature = true;
    } else if (!by_signature && off < closest) {
      closest = off, match = static_cast<int>(i);
    }
  }
  if (match >= 0) {
    current_index_ = match;
    Phase& phase = phase_ref();
    current_ = phase.id;
    auto known = phase.tried.find(key);
    phase.incumbent = holding_;
    phase.incumbent_score =
        known != phase.tried.end() && known->second.score ? *known->second.score : NAN;
    phase.level[key] = Level{holding_, level};
    StartReturn();
    Log(now, holding_, holding_, "phase " + std::to_string(current_) + " returned");
  } else {
    Phase& phase = NewPhase(now);
    phase.level[key] = Level{holding_, level};
    phase.signature = signature;
    // What was best elsewhere is a good first guess here: the other phases' bests
    // are tried first, most recent phase first.
    for (size_t i = phases_.size() - 1; i-- > 0 && phase.seeds.size() < kPhaseSeeds;) {
      const Tried* best = BestTried(*phases_[i]);
      if (best && best->config != holding_ &&
          std::find(phase.seeds.begin(), phase.seeds.end(), best->config) ==
              phase.seeds.end())
        phase.seeds.push_back(best->config);
    }
    Log(now, holding_, holding_,
        "the workload changed: phase " + std::to_string(current_) + " begins at level " +
            FormatValue(level));
  }
}

std::optional<Config> LiveSession::Reachable(const Config& proposal) const {
  const Config& from = phase_ref().incumbent;
  Config config = proposal;
  for (size_t d = 0; d < space_->dims(); ++d) {
    double step = settings_.max_step[d];
    const Knob& knob = space_->knob(d);
    if (!(step > 0) || !knob.values[from[d]].is_number() ||
        !knob.values[config[d]].is_number())
      continue;
    double here = knob.values[from[d]].get<double>();
    double want = knob.values[config[d]].get<double>();
    if (std::fabs(want - here) <= step) continue;
    // The option within the step that goes furthest towards the one proposed.
    uint32_t pick = from[d];
    double best = std::fabs(want - here);
    for (uint32_t i = 0; i < knob.values.size(); ++i) {
      if (!knob.values[i].is_number()) continue;
      double v = knob.values[i].get<double>();
      if (std::fabs(v - here) > step) continue;
      if (std::fabs(want - v) < best) best = std::fabs(want - v), pick = i;
    }
    config[d] = pick;
  }
  if (config == from || !space_->Feasible(config)) return std::nullopt;
  return config;
}

std::optional<Config> LiveSession::NextCandidate() {
  if (trial_ || suspect_) return std::nullopt;
  Phase& phase = phase_ref();
  switch (settings_.mode) {
    case LiveMode::kBest:
      return std::nullopt;  // only a returning phase's best (StartReturn)
    case LiveMode::kStaticBest: {
      if (static_done_) return std::nullopt;
      static_done_ = true;
      std::optional<Config> best = StaticBest();
      if (best && *best != holding_) return best;
      return std::nullopt;
    }
    case LiveMode::kRecommend:
      if (proposal_) {
        if (!accepted_) return std::nullopt;
        accepted_ = false;
        std::optional<Config> accepted = std::move(proposal_);
        proposal_.reset();
        return accepted;
      }
      break;
    case LiveMode::kTune:
      break;
  }
  if (phase.settled) return std::nullopt;
  auto settle = [&] {
    phase.settled = true;
    return std::nullopt;
  };
  if (static_cast<int64_t>(phase.tried.size()) >= settings_.max_configs) return settle();
  if (settings_.converge_after > 0 &&
      phase.strategy->QuietProposals() >= settings_.converge_after)
    return settle();
  while (!phase.seeds.empty()) {
    Config seed = phase.seeds.front();
    phase.seeds.erase(phase.seeds.begin());
    std::optional<Config> reachable = Reachable(seed);
    if (!reachable || phase.tried.count(SearchSpace::Key(*reachable))) continue;
    if (settings_.mode == LiveMode::kRecommend) {
      proposal_ = *reachable;
      return std::nullopt;
    }
    return reachable;
  }
  for (int asks = 0; asks < kMaxAsks; ++asks) {
    std::optional<Config> proposal = phase.strategy->Ask();
    if (!proposal) return settle();
    std::optional<Config> reachable = Reachable(*proposal);
    if (!reachable) continue;
    auto known = phase.tried.find(SearchSpace::Key(*reachable));
    if (known != phase.tried.end()) {
      if (*reachable == *proposal) phase.strategy->Tell(*proposal, known->second.score);
      continue;
    }
    if (settings_.mode == LiveMode::kRecommend) {
      proposal_ = *reachable;
      return std::nullopt;
    }
    return reachable;
  }
  return std::nullopt;
}

Status LiveSession::Accept() {
  if (settings_.mode != LiveMode::kRecommend)
    return Status::FailedPrecondition("the job runs in mode " +
                                      std::string(LiveModeName(settings_.mode)) +
                                      "; only mode recommend waits for accept");
  if (!proposal_)
    return Status::FailedPrecondition(
        "no proposal is waiting; hone status shows one "
        "when there is");
  accepted_ = true;
  return Status::OK();
}

void LiveSession::Conclude(std::optional<double> score, bool bad, std::string why) {
  if (!trial_) return;
  Phase& phase = phase_ref();
  const Config config = trial_->config;
  const bool returning = trial_->returning;
  trial_.reset();
  if (returning && !bad) return;
  auto& tried = phase.tried[SearchSpace::Key(config)];
  tried.config = config;
  tried.bad = bad;
  tried.why = std::move(why);
  // A configuration a guard reverted is never the best, whatever its score.
  if (bad) {
    tried.score.reset();
  } else {
    tried.score = score;
  }
  if (!returning) phase.strategy->Tell(config, score);
}

std::optional<Config> LiveSession::StaticBest() const {
  // Each phase's scores relative to its best; the configuration measured in the
  // most phases, then with the best mean relative score, wins.
  std::map<std::string, std::pair<int, double>> totals;  // key -> (phases, sum)
  std::map<std::string, Config> configs;
  for (const auto& phase : phases_) {
    const Tried* best = BestTried(*phase);
    if (!best || !best->score || *best->score == 0) continue;
    for (const auto& [key, t] : phase->tried) {
      if (t.bad || !t.score) continue;
      double relative =
          goal_ == Goal::kMax ? *t.score / *best->score : *best->score / *t.score;
      auto& total = totals[key];
      ++total.first;
      total.second += relative;
      configs[key] = t.config;
    }
  }
  const std::string* pick = nullptr;
  std::pair<int, double> top{0, 0};
  for (const auto& [key, total] : totals) {
    std::pair<int, double> score{total.first, total.second / total.first};
    if (!pick || score > top) pick = &key, top = score;
  }
  if (!pick) return std::nullopt;
  return configs[*pick];
}

json LiveSession::DescribePhase(const Phase& phase) const {
  json out = {{"phase", phase.id},
              {"incumbent", space_->ToJson(phase.incumbent)},
              {"configs_tried", phase.tried.size()},
              {"settled", phase.settled}};
  int64_t bad = 0;
  for (const auto& [key, t] : phase.tried) bad += t.bad;
  out["configs_reverted"] = bad;
  if (!phase.signature.empty()) out["signature"] = phase.signature;
  if (const Tried* best = BestTried(phase)) {
    double pct = (goal_ == Goal::kMax ? *best->score - 1 : 1 - *best->score) * 100;
    out["best"] = {{"config", space_->ToJson(best->config)},
                   {"improvement_pct", Round(pct, 2)}};
  }
  return out;
}

json LiveSession::Snapshot() const {
  json out = {{"mode", LiveModeName(settings_.mode)},
              {"phase", current_},
              {"phases", phases_.size()},
              {"holding", space_->ToJson(holding_)},
              {"settled", settled()},
              {"samples", samples_},
              {"samples_invalid", invalid_},
              {"changes", changes_total_}};
  if (!phases_.empty()) {
    const Phase& phase = phase_ref();
    out["incumbent"] = {{"config", space_->ToJson(phase.incumbent)}};
    if (guard_reference_) out["incumbent"]["value"] = *guard_reference_;
    out["configs_tried"] = phase.tried.size();
    if (!phase.signature.empty()) out["signature"] = phase.signature;
  }
  if (trial_) {
    json trial = {{"config", space_->ToJson(trial_->config)},
                  {"epoch", trial_->round},
                  {"returning_best", trial_->returning}};
    out["trial"] = trial;
  }
  if (proposal_) out["proposal"] = space_->ToJson(*proposal_);
  out["guard"] = {{"max_regression_pct", settings_.max_regression_pct},
                  {"reverts", reverts_}};
  if (guard_reference_) {
    auto limit = [&](bool first_sample) {
      double pct = GuardPct(first_sample) / 100 * std::fabs(*guard_reference_);
      return goal_ == Goal::kMax ? *guard_reference_ - pct : *guard_reference_ + pct;
    };
    out["guard"]["limit"] = limit(false);
    out["guard"]["first_sample_limit"] = limit(true);
  }
  if (!last_revert_.empty()) out["guard"]["last_revert"] = last_revert_;
  json changes = json::array();
  size_t first = recent_.size() > 5 ? recent_.size() - 5 : 0;
  for (size_t i = first; i < recent_.size(); ++i) {
    const LiveChange& c = recent_[i];
    changes.push_back({{"at", Round(c.at + wall_offset_, 1)},
                       {"phase", c.phase},
                       {"to", c.to},
                       {"reason", c.reason}});
  }
  out["recent_changes"] = std::move(changes);
  return out;
}

json LiveSession::Report() const {
  json phases = json::array();
  for (const auto& phase : phases_) phases.push_back(DescribePhase(*phase));
  json out = Snapshot();
  out["phases"] = std::move(phases);
  out["reverts"] = reverts_;
  // As a sync job's report has them: what the service first ran under, and the
  // current phase's best (what `hone apply` would keep).
  if (!phases_.empty()) {
    out["baseline"] = {{"config", space_->ToJson(phases_.front()->began)}};
    json current = DescribePhase(phase_ref());
    if (current.contains("best")) {
      out["best"] = current["best"];
      out["improvement_pct"] = current["best"]["improvement_pct"];
    }
  }
  return out;
}

json LiveSession::SaveState() const {
  json phases = json::array();
  for (const auto& phase : phases_) {
    json tried = json::array();
    for (const auto& [key, t] : phase->tried) {
      json entry = {{"config", space_->ToJson(t.config)},
                    {"bad", t.bad},
                    {"why", t.why},
                    {"established", t.established}};
      if (t.score) entry["score"] = *t.score;
      tried.push_back(std::move(entry));
    }
    json levels = json::array();
    for (const auto& [key, level] : phase->level)
      levels.push_back(
          {{"config", space_->ToJson(level.config)}, {"value", level.value}});
    json p = {{"id", phase->id},
              {"settled", phase->settled},
              {"incumbent", space_->ToJson(phase->incumbent)},
              {"began", space_->ToJson(phase->began)},
              {"tried", std::move(tried)},
              {"levels", std::move(levels)}};
    if (std::isfinite(phase->incumbent_score))
      p["incumbent_score"] = phase->incumbent_score;
    if (!phase->signature.empty()) p["signature"] = phase->signature;
    phases.push_back(std::move(p));
  }
  return {{"version", 1},
          {"current", current_},
          {"next_phase", next_phase_id_},
          {"changes", changes_total_},
          {"reverts", reverts_},
          {"phases", std::move(phases)}};
}

hone::Status LiveSession::LoadState(const json& state) {
  auto bad = [](const std::string& what) {
    return Status::InvalidArgument("the stored live state is damaged: " + what);
  };
  if (!state.is_object()) return bad("not an object");
  auto integer = [&](const json& v, int64_t lo, int64_t hi, int64_t* out) {
    if (!v.is_number_integer()) return false;
    int64_t x = v.get<int64_t>();
    if (x < lo || x > hi) return false;
    *out = x;
    return true;
  };
  auto finite = [](const json& v, double* out) {
    if (!v.is_number()) return false;
    *out = v.get<double>();
    return std::isfinite(*out);
  };
  int64_t version = 0, current = 0, next = 0, changes = 0, reverts = 0;
  if (!state.contains("version") || !integer(state["version"], 1, 1, &version))
    return bad("version is not 1");
  if (!state.contains("current") ||
      !integer(state["current"], 1, INT32_MAX - 1, &current))
    return bad("current phase");
  if (!state.contains("next_phase") || !integer(state["next_phase"], 2, INT32_MAX, &next))
    return bad("next_phase");
  if (state.contains("changes") && !integer(state["changes"], 0, INT64_MAX, &changes))
    return bad("changes");
  if (state.contains("reverts") && !integer(state["reverts"], 0, INT64_MAX, &reverts))
    return bad("reverts");
  const json& list = state.contains("phases") ? state["phases"] : json();
  if (!list.is_array() || list.empty() || list.size() > kMaxPhases)
    return bad("phases must be a list of 1 to " + std::to_string(kMaxPhases));
  std::vector<std::unique_ptr<Phase>> phases;
  int current_index = -1;
  for (const json& p : list) {
    if (!p.is_object()) return bad("a phase is not an object");
    auto phase = std::make_unique<Phase>();
    int64_t id = 0;
    if (!p.contains("id") || !integer(p["id"], 1, next - 1, &id))
      return bad("a phase's id");
    for (const auto& other : phases)
      if (other->id == id) return bad("phase " + std::to_string(id) + " twice");
    phase->id = static_cast<int>(id);
    if (p.contains("settled")) {
      if (!p["settled"].is_boolean()) return bad("settled");
      phase->settled = p["settled"].get<bool>();
    }
    if (!p.contains("incumbent")) return bad("a phase without an incumbent");
    Status s = space_->FromJson(p["incumbent"], &phase->incumbent);
    if (!s.ok())
      return bad("phase " + std::to_string(id) + "'s incumbent: " + s.message());
    phase->began = phase->incumbent;
    if (p.contains("began") && !space_->FromJson(p["began"], &phase->began).ok())
      return bad("phase " + std::to_string(id) + "'s first configuration");
    phase->incumbent_score = 1;
    if (p.contains("incumbent_score") &&
        !finite(p["incumbent_score"], &phase->incumbent_score))
      return bad("incumbent_score");
    const json& tried = p.contains("tried") ? p["tried"] : json();
    if (!tried.is_array() || tried.size() > kMaxTriedLoaded) return bad("tried");
    phase->strategy = MakePhaseStrategy(phase->id);
    for (const json& t : tried) {
      if (!t.is_object() || !t.contains("config")) return bad("a tried configuration");
      Tried entry;
      s = space_->FromJson(t["config"], &entry.config);
      if (!s.ok()) return bad("a tried configuration: " + s.message());
      if (t.contains("score")) {
        double score = 0;
        if (!finite(t["score"], &score)) return bad("a score");
        entry.score = score;
      }
      if (t.contains("bad")) {
        if (!t["bad"].is_boolean()) return bad("bad");
        entry.bad = t["bad"].get<bool>();
      }
      if (t.contains("established")) {
        if (!t["established"].is_boolean()) return bad("established");
        entry.established = t["established"].get<bool>();
      }
      if (t.contains("why") && t["why"].is_string())
        entry.why = t["why"].get<std::string>().substr(0, 1000);
      phase->strategy->Tell(entry.config, entry.bad ? std::nullopt : entry.score);
      phase->tried[SearchSpace::Key(entry.config)] = std::move(entry);
    }
    const json& levels = p.contains("levels") ? p["levels"] : json::array();
    if (!levels.is_array() || levels.size() > kMaxTriedLoaded) return bad("levels");
    for (const json& l : levels) {
      Config config;
      double value = 0;
      if (!l.is_object() || !l.contains("config") || !l.contains("value") ||
          !space_->FromJson(l["config"], &config).ok() || !finite(l["value"], &value))
        return bad("a level");
      phase->level[SearchSpace::Key(config)] = Level{config, value};
    }
    if (p.contains("signature")) {
      const json& signature = p["signature"];
      if (!signature.is_string()) return bad("a phase's signature");
      phase->signature = signature.get<std::string>();
      if (phase->signature.size() > kMaxSignatureBytes ||
          !std::all_of(phase->signature.begin(), phase->signature.end(),
                       [](char c) { return c >= 0x20 && c < 0x7f; }))
        return bad("a phase's signature");
    }
    if (id == current) current_index = static_cast<int>(phases.size());
    phases.push_back(std::move(phase));
  }
  if (current_index < 0) return bad("the current phase is not among the phases");
  phases_ = std::move(phases);
  current_index_ = current_index;
  current_ = static_cast<int>(current);
  next_phase_id_ = static_cast<int>(next);
  changes_total_ = changes;
  reverts_ = reverts;
  return Status::OK();
}

}  // namespace hone
