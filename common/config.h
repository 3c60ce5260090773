// Config: the knobs.yaml dialect, parsed into a JobSpec.
//
// hone accepts the published knobs.yaml dialect verbatim (domain.common.knobs,
// metrics, target, global_settings, workload) plus hone's additions (range knobs,
// stdout pattern metrics, the built-in `duration` metric, budgets). docs/configuration.md
// is the user-facing reference; this header is the contract for code.
//
// Parsing is pure: nothing is executed. `options_script` knobs keep their script and
// get their options later, when the daemon runs the script as the submitting user
// (see ParseOptionList). Errors name the file, line and column: "knobs.yaml:5:9: ...".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/limits.h"
#include "common/space.h"
#include "common/status.h"

namespace hone {

// 1-based position in the config file; 0 when unknown.
struct SourcePos {
  int line = 0;
  int column = 0;
};

enum class KnobKind {
  kApplication,  // values reach the workload as environment variables only
  kBuiltin,      // a knob of honed's catalog, by name (`hone knobs`); may narrow it
  kScript,       // get_script / set_script, run by honed as root
};

struct KnobSpec {
  std::string name;
  // kApplication when the knob lists values, kBuiltin when it names no values and
  // no scripts. honed also treats a knob with values as kBuiltin when its name is in
  // the catalog (the values then narrow the built-in domain).
  KnobKind kind = KnobKind::kApplication;
  std::string description;
  // Candidate values, in order: numbers as JSON numbers, anything else as strings.
  // Filled from `options` or `range`; empty while `options_script` is unresolved.
  std::vector<nlohmann::json> options;
  // Shell command whose output (whitespace-separated) lists the options.
  std::string options_script;
  // The baseline value; the first option when absent. System knobs start from
  // their current value instead.
  std::optional<nlohmann::json> default_value;
  // `type:` how the options relate (space.h); inferred from them when absent.
  std::optional<KnobType> type;
  // Live jobs: the largest change of a numeric knob's value in one step.
  std::optional<double> max_step;
  // kScript: values pass in $KNOB_VAL, devices in $KNOB_DEV.
  std::string get_script, set_script, devices_script, pre_set_script;
  SourcePos pos;
};

// `import: {builtin: {include_knobs: [...], exclude_knobs: [...]}}`: every available
// built-in knob whose name matches an include regex and no exclude regex.
struct ImportSpec {
  std::string source;                         // "builtin"
  std::vector<std::string> include, exclude;  // RE2 regexes (scan.h), whole-name match
  SourcePos pos;
};

enum class MetricKind {
  kScript,    // `sample_script`: run after each sample, the last number printed
  kPattern,   // `pattern`: regex over the workload's output, the last match
  kDuration,  // built-in `duration`: the workload's wall-clock seconds
  // Live jobs only (docs/live.md):
  kPush,        // `push: true`: values the service sends (hone push, StatsD)
  kPressure,    // `pressure: cpu|memory|io`: pressure stall information
  kCgroupStat,  // `cgroup_stat: cpu.stat`: a key of a cgroup v2 flat keyed file
  kPerf,        // `perf: instructions|cycles|ipc`: hardware counters
  kExpression,  // the target `{expression: "requests / cpu_seconds"}`: of other metrics
};

struct MetricSpec {
  std::string name;
  MetricKind kind = MetricKind::kScript;
  std::string script;             // kScript
  std::string pattern;            // kPattern: RE2 regex (scan.h); group 1, else whole match
  std::string source = "stdout";  // kPattern: "stdout" or "stderr"
  // kPattern: the workload prints the metric as it goes (a running throughput,
  // say); each line that matches is the value so far. Lets early_stop_pct watch it.
  bool partial = false;
  // kPressure: `pressure` (cpu, memory, io), `line` (some, full) and `field` (avg10,
  // avg60, avg300, total); kCgroupStat: the file in `resource` and its `key`;
  // kPerf: the event in `resource`. `cgroup`: a cgroup v2 directory to read (pressure:
  // its <resource>.pressure instead of /proc/pressure; perf: count its processes).
  std::string resource, line = "some", field = "avg10", key, cgroup;
  // A counter read as its rate per second since the previous sample (cgroup_stat
  // and perf counts, and pressure's total: on by default for those).
  std::optional<bool> rate;
  // A guard: a live job reverts to the incumbent at once when a candidate's sample
  // of this metric is outside these limits.
  std::optional<double> guard_min, guard_max;
  // A sync job's guard relative to the baseline: the limit is the baseline's mean
  // of this metric, moved by this many percent (`guard: {min: "baseline - 2%"}`).
  // A configuration with a sample outside it is infeasible.
  std::optional<double> guard_min_baseline_pct, guard_max_baseline_pct;
  bool guarded() const {
    return guard_min || guard_max || guard_min_baseline_pct || guard_max_baseline_pct;
  }
  // kExpression: the expression over other metrics' names (common/expression.h).
  std::string expression;
  SourcePos pos;
};

enum class Goal { kMax, kMin };
std::string_view GoalName(Goal goal);

struct Target {
  std::string metric;
  Goal goal = Goal::kMax;
};

// global_settings. Defaults are what a job gets when the file says nothing.
struct Settings {
  // Samples of the baseline configuration taken before the search starts (it gets
  // more in the final comparison).
  int min_baseline_samples = 1;
  // Samples of every other configuration.
  int min_samples_per_config = 1;
  // Samples a configuration needs before it can be recommended (or as many as the
  // baseline has, when fewer), so a lucky sample never wins on its own. The final
  // comparison gives the finalists theirs; with race_pct 0, a challenger that looks
  // as good as the incumbent, or better (within the noise), is measured again
  // during the search until it has them.
  int confirm_samples = 3;
  // Percent of a max_samples or max_minutes budget kept for the final comparison:
  // in the last race_pct of it (or when another budget or convergence ends the
  // search), the baseline and the leading configurations are measured alternately,
  // A B C A B C ... A, and the improvement's interval comes from those rounds
  // (docs/statistics.md). 0: no final comparison.
  int race_pct = 25;
  // A re-check (`hone recheck`): the final comparison runs exactly this many rounds
  // and keeps its one finalist; 0: an ordinary job. Never read from a file.
  int recheck_rounds = 0;
  // Stop when the model expected less than 0.1% improvement from this many
  // proposals in a row (0: never; only the model strategy converges).
  int converge_after = 10;
  // Stop once a confirmed configuration beats the baseline by this many percent
  // (0: never).
  double target_improvement_pct = 0;
  // Opt-in early stopping: a configuration's first run is stopped once it is
  // clearly worse, by this many percent, than the best configuration so far (0:
  // never). Needs a target metric hone can watch while the workload runs: the
  // built-in duration metric with goal min, or a pattern metric with partial: true.
  double early_stop_pct = 0;
  // Budget: configurations to explore, the baseline included.
  int64_t max_configs = 100;
  // Budget: samples in all (0: no limit).
  int64_t max_samples = 0;
  // Budget: wall-clock minutes for the whole job (0: no limit).
  double max_minutes = 0;
  // Search strategy: "model" (a Gaussian process with expected improvement, local
  // moves and random exploration mixed by a bandit), "random" or "exhaustive". Set
  // by the top-level `strategy` key, not under global_settings.
  std::string strategy = "model";
  // Seed of the strategy's random choices; equal seeds give equal proposals.
  uint64_t seed = 1;
  // Seconds a sample_script or options_script may run (`script_timeout`).
  double script_timeout_s = 60;
  // Measurement hygiene (sync jobs). A sample during which other processes kept more
  // than this percent of the machine's CPUs busy is flagged as interfered (0: never).
  double max_interference_pct = 20;
  // How many times an interfered sample is taken again before one is kept, flagged
  // (0: flag only).
  int interference_repeats = 2;
  // Seconds to wait, before each sample, for a quiet machine: one whose other
  // processes stay under max_interference_pct over a second (0: don't wait).
  double quiet_wait_s = 0;
  // Whether the file set min_samples_per_config (a live job's epochs default to 5
  // samples, a sync job's configurations to 1).
  bool min_samples_per_config_given = false;

  // Live jobs (workload.kind: live; docs/live.md). Seconds between two samples of
  // the service's metric.
  double sampling_interval_s = 5;
  // A candidate sample worse than the incumbent's last epoch by more than this
  // percent reverts to the incumbent at once.
  double max_regression_pct = 10;
  // Seconds a configuration is held at least before the next change (a guard's
  // revert excepted); 0: an epoch's samples decide.
  double min_dwell_s = 0;
  // Changes of configuration in any hour at most (0: no limit).
  int max_changes_per_hour = 0;
  // tune, recommend, best or static-best.
  std::string live_mode = "tune";
  // A live job's workload signature, which tells its phases apart: "processes" (the
  // programs that use the CPU) or "none".
  std::string phase_signature = "none";
};

struct WorkloadSpec {
  // `kind: live`: honed launches nothing; the service runs on its own and its
  // metric is sampled every sampling_interval (docs/live.md). Otherwise `sync`.
  bool live = false;
  std::vector<std::string> argv;  // executed directly (from `--` or a YAML list)
  std::string shell;              // or run with /bin/sh -c (a YAML string)
  double timeout_s = 3600;        // a sample running longer is killed and invalid
  bool empty() const { return argv.empty() && shell.empty(); }
};

// One of `constraints:`, an expression over knob values (expression.h).
struct ConstraintSpec {
  std::string text;
  SourcePos pos;
};

struct JobSpec {
  std::vector<KnobSpec> knobs;
  // Configurations that violate one of these are never measured.
  std::vector<ConstraintSpec> constraints;
  std::vector<ImportSpec> imports;
  // `warm_start`: configurations ({knob: value}) measured right after the baseline,
  // before the strategy proposes its own; the strategy learns from them.
  std::vector<nlohmann::json> warm_start;
  std::vector<MetricSpec> metrics;
  Target target;
  // `target: {expression: ..., goal}`: the target is computed from other metrics at
  // each sample (live jobs), under the name target.metric ("target" unless named).
  std::string target_expression;
  Settings settings;
  WorkloadSpec workload;
  // Things accepted but ignored (unknown keys, plugins), as "file:line:col: ..." lines.
  std::vector<std::string> warnings;
  // The unknown keys among them: a job refuses them unless allowed (UnknownKeysError).
  std::vector<std::string> unknown_keys;

  const MetricSpec* FindMetric(std::string_view name) const;
  // Knobs of these kinds change the machine (and need privilege).
  bool HasKind(KnobKind kind) const;
};

// At most this many values per knob, from any source (limits.h).
constexpr size_t kMaxOptionsPerKnob = limits::kMaxOptionsPerKnob;

// Parses `text`, the contents of the file `filename` (used only in messages).
Status ParseConfig(std::string_view text, std::string_view filename, JobSpec* spec);

// `--set KEY=VALUE` overrides, applied after the file: strategy or a global_settings
// key, checked as the file's would be (errors name the override).
Status ApplyOverrides(const std::vector<std::string>& overrides, JobSpec* spec);

// An error naming every unknown key of `spec` (a typo or a misplaced key, which
// would otherwise be ignored), with how to go on; OK when there is none.
Status UnknownKeysError(const JobSpec& spec);

// Checks what can only be checked once the workload is known: that there is one
// (from the file or `command`, which wins when not empty), and that the target's
// metric can be measured.
Status CompleteSpec(const std::vector<std::string>& command, JobSpec* spec);

// True when hone can watch the target metric while the workload runs, so that
// early_stop_pct applies: duration with goal min, or a partial pattern metric.
bool CanStopEarly(const JobSpec& spec);

// Splits an options_script's output (or a one-line `options:`) into option values,
// at most `limit` of them, each at most limits::kMaxValueBytes long; more is an
// error that says which limit was hit.
Status ParseOptionList(std::string_view output, size_t limit,
                       std::vector<nlohmann::json>* values);

// "28" -> 28, "2.5" -> 2.5, anything else -> the string itself.
nlohmann::json ParseScalar(std::string_view text);

// "90", "90s", "500ms", "5m", "2h" -> seconds. Returns false on anything else.
bool ParseDurationSeconds(std::string_view text, double* seconds);

// The YAML/JSON/text form of a value: 28, 2.5, "always".
std::string ValueToString(const nlohmann::json& value);

}  // namespace hone
