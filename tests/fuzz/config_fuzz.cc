// Fuzz target: the knobs.yaml parser (common/config.h).
//
// The input is a config file's text. honed parses the config_text of every submit
// request (as root), so ParseConfig must refuse any text with a Status that says
// where it is wrong. A config that parses then goes on as in the daemon:
// CompleteSpec with and without a command, and, when every knob lists its own
// values (nothing to run or probe), the search space with its constraints and the
// baseline's environment, as JobManager builds them. Lines beginning "#set " are
// `--set` overrides, applied as honed applies them (ApplyOverrides).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/space.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// Beyond this many values in all, the space is left out: slow, and nothing new.
constexpr size_t kMaxSpaceValues = 4096;

// The option a knob's `default` names, compared as the daemon does (daemon/jobs/job_manager.cc).
bool FindDefault(const hone::Knob& knob, const nlohmann::json& value, uint32_t* index) {
  const std::string text = hone::ValueToString(value);
  for (uint32_t i = 0; i < knob.values.size(); ++i)
    if (hone::ValueToString(knob.values[i]) == text ||
        (value.is_number() && knob.values[i].is_number() &&
         value.get<double>() == knob.values[i].get<double>())) {
      *index = i;
      return true;
    }
  return false;
}

// The space of a config whose knobs are all application knobs with options.
void FuzzSpace(const hone::JobSpec& spec) {
  std::vector<hone::Knob> knobs;
  size_t values = 0;
  for (const hone::KnobSpec& k : spec.knobs) {
    if (k.kind != hone::KnobKind::kApplication || k.options.empty()) return;
    values += k.options.size();
    if (values > kMaxSpaceValues) return;
    hone::Knob knob;
    knob.name = k.name;
    knob.values = k.options;
    if (k.default_value && !FindDefault(knob, *k.default_value, &knob.default_index))
      return;  // the daemon refuses the job
    knob.type = k.type.value_or(hone::InferKnobType(knob.values));
    knobs.push_back(std::move(knob));
  }
  std::vector<std::string> constraints;
  for (const hone::ConstraintSpec& c : spec.constraints) constraints.push_back(c.text);
  hone::SearchSpace space;
  if (!hone::SearchSpace::Create(std::move(knobs), constraints, &space).ok()) return;
  const hone::Config baseline = space.Default();
  FUZZ_CHECK(space.Contains(baseline));
  space.Violated(baseline);
  hone::Config back;
  FUZZ_CHECK(space.FromJson(space.ToJson(baseline), &back).ok());
  FUZZ_CHECK(back == baseline);
  space.Environment(baseline);
  space.CountFeasible(1000);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  hone::JobSpec spec;
  if (!hone::ParseConfig(text, "fuzz.yaml", &spec).ok()) return 0;
  for (const hone::KnobSpec& knob : spec.knobs)
    for (const nlohmann::json& option : knob.options) hone::ValueToString(option);
  // `--set KEY=VALUE` overrides come with the config in the same submit request, and
  // honed applies them after parsing: the input's lines that begin "#set " (YAML
  // comments, so the config still parses) are tried as overrides.
  std::vector<std::string> overrides;
  for (size_t at = 0; at < text.size() && overrides.size() < 8;) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    if (line.starts_with("#set ")) overrides.emplace_back(line.substr(5));
    at = end + 1;
  }
  if (!overrides.empty()) {
    hone::Status applied = hone::ApplyOverrides(overrides, &spec);
    if (!applied.ok()) {
      FUZZ_CHECK(!applied.message().empty());
      return 0;  // honed refuses the job
    }
  }
  hone::JobSpec from_file = spec;
  hone::CompleteSpec({}, &from_file);
  if (!hone::CompleteSpec({"./bench", "--fast"}, &spec).ok()) return 0;
  hone::CanStopEarly(spec);
  FuzzSpace(spec);
  return 0;
}
