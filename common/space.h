// SearchSpace: the knobs of a job and the configurations they span.
//
// A configuration is one option index per knob (Config), so the space never holds
// more than the knobs' option lists, whatever the product of their sizes: 672 for
// the reference scenario, 1e17 and beyond for twenty system knobs. Immutable after
// construction; safe to share between threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace hone {

// One option index per knob, in the space's knob order.
using Config = std::vector<uint32_t>;

struct Knob {
  std::string name;
  std::vector<nlohmann::json> values;  // numbers or strings, no duplicates
  uint32_t default_index = 0;          // the baseline's option
};

class SearchSpace {
 public:
  SearchSpace() = default;

  // Checks the knobs (values present and distinct, default within range) and
  // builds the space.
  static Status Create(std::vector<Knob> knobs, SearchSpace* space);

  size_t dims() const { return knobs_.size(); }
  const Knob& knob(size_t i) const { return knobs_[i]; }
  const std::vector<Knob>& knobs() const { return knobs_; }

  // Number of configurations; saturates at UINT64_MAX.
  uint64_t Size() const;

  // The baseline: every knob at its default.
  Config Default() const;

  bool Contains(const Config& config) const;

  // {"inter_op": 2, "intra_op": 28}
  nlohmann::json ToJson(const Config& config) const;
  // Inverse of ToJson; fails when a knob is missing or a value is not an option.
  Status FromJson(const nlohmann::json& object, Config* config) const;

  // The workload's view: each knob as `name=value` and `HONE_KNOB_<NAME>=value`.
  std::map<std::string, std::string> Environment(const Config& config) const;

  // Each knob's option index scaled to [0, 1] (0 for a knob with one value): the
  // coordinates the search models work in.
  std::vector<double> Normalized(const Config& config) const;

  // A compact, stable key for maps and the store: "1,9".
  static std::string Key(const Config& config);

 private:
  std::vector<Knob> knobs_;
};

// "intra-op.threads" -> "HONE_KNOB_INTRA_OP_THREADS"
std::string KnobEnvName(const std::string& knob_name);

}  // namespace hone
