// Fuzz target: the constraint language (common/expression.h).
//
// The input is one constraint as a config writes it. honed compiles the constraints
// of every submitted config, so Compile must refuse any text with a Status. What
// compiles is evaluated with a few sets of knob values, typical and extreme, and
// checked in a small search space over the same knobs, as SearchSpace evaluates
// every configuration it considers.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/expression.h"
#include "common/space.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using hone::ExprValue;

// The knobs a constraint may name; the slot is the index.
struct Name {
  const char* name;
  bool numeric;
  bool untyped;
};
constexpr Name kNames[] = {
    {"a", true, false},    {"b", true, false},
    {"x.y", true, false},  {"mode", false, false},
    {"intra-op.threads", true, false},  // written `intra-op.threads`
    {"any", true, true},                // type not known yet (options from a script)
};
constexpr size_t kSlots = sizeof kNames / sizeof kNames[0];

hone::Expression::Variable Resolve(std::string_view name) {
  hone::Expression::Variable v;
  for (size_t i = 0; i < kSlots; ++i)
    if (name == kNames[i].name) {
      v.found = true;
      v.slot = i;
      v.numeric = kNames[i].numeric;
      v.untyped = kNames[i].untyped;
    }
  return v;
}

std::vector<std::vector<ExprValue>> VariableSets() {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  constexpr double kMax = std::numeric_limits<double>::max();
  return {
      {2.0, 3.0, 0.5, std::string("on"), 28.0, 1.0},
      {0.0, 0.0, 0.0, std::string(""), 0.0, std::string("text")},
      {-1.0, kMax, -kMax, std::string("off"), 1e-310, -0.0},
      {kInf, -kInf, NAN, std::string("\0x", 2), 9007199254740993.0, kInf},
      {1.0, 2.0},  // fewer values than slots: the rest read as NaN
      {},
  };
}

// The same knobs as a search space of 3 * 2 * 2 * 2 * 2 * 2 configurations.
std::vector<hone::Knob> SpaceKnobs() {
  using nlohmann::json;
  std::vector<hone::Knob> knobs = {
      {"a", {1, 2, 4}, 0, hone::KnobType::kOrdered},
      {"b", {0, 1}, 0, hone::KnobType::kBoolean},
      {"x.y", {0.5, -1.5}, 1, hone::KnobType::kOrdered},
      {"mode", {"off", "on"}, 0, hone::KnobType::kCategorical},
      {"intra-op.threads", {0, 56}, 0, hone::KnobType::kOrdered},
      {"any", {"yes", "no"}, 0, hone::KnobType::kBoolean},
  };
  return knobs;
}

void FuzzEvaluate(const hone::Expression& expression) {
  for (const std::vector<ExprValue>& variables : VariableSets()) {
    ExprValue value = expression.Evaluate(variables);
    const double* number = std::get_if<double>(&value);
    const bool holds = number && std::isfinite(*number) && *number != 0;
    FUZZ_CHECK(expression.Holds(variables) == holds);
  }
}

void FuzzSpace(const std::string& text) {
  hone::SearchSpace space;
  if (!hone::SearchSpace::Create(SpaceKnobs(), {text}, &space).ok()) return;
  const std::optional<uint64_t> feasible = space.CountFeasible(1000);
  FUZZ_CHECK(feasible && *feasible <= space.Size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  hone::Expression expression;
  if (!hone::Expression::Compile(text, Resolve, &expression).ok()) return 0;
  FUZZ_CHECK(expression.text() == text);
  FuzzEvaluate(expression);
  FuzzSpace(text);
  return 0;
}
