// SearchSpace: the knobs of a job and the configurations they span.
//
// A configuration is one option index per knob (Config), so the space never holds
// more than the knobs' option lists, whatever the product of their sizes: 672 for
// the reference scenario, 1e17 and beyond for twenty system knobs. Immutable after
// construction; safe to share between threads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/expression.h"
#include "common/status.h"

namespace hone {

// One option index per knob, in the space's knob order.
using Config = std::vector<uint32_t>;

// How a knob's options relate to each other, for the search models:
//   kOrdered     a grid whose order means something (numbers, `type: ordinal`):
//                neighbours are the next options up and down;
//   kBoolean     two options, off and on;
//   kCategorical options without an order (strings): every other option is
//                equally far.
enum class KnobType { kOrdered, kBoolean, kCategorical };

struct Knob {
  std::string name;
  std::vector<nlohmann::json> values;  // numbers, strings or booleans, no duplicates
  uint32_t default_index = 0;          // the baseline's option
  KnobType type = KnobType::kOrdered;
};

class SearchSpace {
 public:
  SearchSpace() = default;

  // Checks the knobs (values present and distinct, default within range, two
  // values for a boolean) and builds the space.
  static Status Create(std::vector<Knob> knobs, SearchSpace* space);
  // The same with constraints between the knobs (expression.h); a configuration
  // is feasible when every one holds. Errors name the constraint and what is wrong
  // in it. The baseline need not be feasible here; the job checks that.
  static Status Create(std::vector<Knob> knobs, const std::vector<std::string>& constraints,
                       SearchSpace* space);

  size_t dims() const { return knobs_.size(); }
  const Knob& knob(size_t i) const { return knobs_[i]; }
  const std::vector<Knob>& knobs() const { return knobs_; }

  // Number of configurations, feasible or not; saturates at UINT64_MAX.
  uint64_t Size() const;
  // Number of feasible configurations: Size() without constraints; with them, counted
  // one by one when Size() is at most `limit`, nullopt beyond it.
  std::optional<uint64_t> CountFeasible(uint64_t limit) const;

  const std::vector<Expression>& constraints() const { return constraints_; }
  // True when `config` satisfies every constraint.
  bool Feasible(const Config& config) const { return Violated(config) == nullptr; }
  // The first constraint that `config` violates; null when it violates none.
  const Expression* Violated(const Config& config) const;

  // The baseline: every knob at its default.
  Config Default() const;

  bool Contains(const Config& config) const;

  // {"inter_op": 2, "intra_op": 28}
  nlohmann::json ToJson(const Config& config) const;
  // Inverse of ToJson; fails when a knob is missing or a value is not an option.
  Status FromJson(const nlohmann::json& object, Config* config) const;

  // The workload's view: each knob as `name=value` and `HONE_KNOB_<NAME>=value`.
  std::map<std::string, std::string> Environment(const Config& config) const;

  // The coordinates the search models work in: an ordered or boolean knob's
  // option index scaled to [0, 1] (0 for a knob with one value); a categorical
  // knob's option index as it is (only equal or not matters; see Categorical()).
  std::vector<double> Normalized(const Config& config) const;
  // Per knob, whether it is categorical.
  std::vector<bool> Categorical() const;

  // A compact, stable key for maps and the store: "1,9".
  static std::string Key(const Config& config);

 private:
  std::vector<Knob> knobs_;
  std::vector<Expression> constraints_;
};

// The type a knob's values suggest when the config names none: numbers are
// ordered; two values that read as off and on (0/1, false/true, off/on, no/yes,
// disabled/enabled) are boolean; anything else with text is categorical.
KnobType InferKnobType(const std::vector<nlohmann::json>& values);
// "ordered", "boolean", "categorical".
const char* KnobTypeName(KnobType type);
// Parses a config's `type:`: ordinal/ordered/int/integer/float/number, bool/boolean,
// categorical/enum. False for anything else.
bool ParseKnobType(std::string_view name, KnobType* type);
// True for the texts that mean "on": 1, true, on, yes, enabled, enable (any case).
bool MeansOn(const nlohmann::json& value);

// "intra-op.threads" -> "HONE_KNOB_INTRA_OP_THREADS"
std::string KnobEnvName(const std::string& knob_name);

// The JSON form of a search space as the store keeps it: {"knobs": [{"name",
// "values", "default_index", "type"}], "constraints": [...]}. SpaceFromJson reads
// what SpaceToJson wrote (or an older store's bare list of knobs); the state
// directory is not trusted, so anything else is an error, never a crash.
nlohmann::json SpaceToJson(const SearchSpace& space);
Status SpaceFromJson(const nlohmann::json& json, SearchSpace* space);

}  // namespace hone
