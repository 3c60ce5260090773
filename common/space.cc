#include "common/space.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>

#include "common/config.h"
#include "common/limits.h"

namespace hone {

using nlohmann::json;

namespace {

// Equal as knob values: 28 == 28.0; strings compare as strings.
bool SameValue(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
  return a == b;
}

}  // namespace

Status SearchSpace::Create(std::vector<Knob> knobs, SearchSpace* space) {
  return Create(std::move(knobs), {}, space);
}

Status SearchSpace::Create(std::vector<Knob> knobs,
                           const std::vector<std::string>& constraints,
                           SearchSpace* space) {
  if (knobs.empty())
    return Status::InvalidArgument("a search space needs at least one knob");
  if (knobs.size() > limits::kMaxKnobs)
    return Status::InvalidArgument("a search space of " + std::to_string(knobs.size()) +
                                   " knobs; the limit is " +
                                   std::to_string(limits::kMaxKnobs));
  size_t total = 0;
  for (const Knob& knob : knobs) total += knob.values.size();
  // A system knob's current value joins its options when it is not one of them.
  if (total > limits::kMaxOptionsTotal + knobs.size())
    return Status::InvalidArgument(
        "the knobs have " + std::to_string(total) + " values together; the limit is " +
        std::to_string(limits::kMaxOptionsTotal));
  if (constraints.size() > limits::kMaxConstraints)
    return Status::InvalidArgument(std::to_string(constraints.size()) +
                                   " constraints; the limit is " +
                                   std::to_string(limits::kMaxConstraints));
  std::set<std::string> names;
  for (const Knob& knob : knobs) {
    if (!names.insert(knob.name).second)
      return Status::InvalidArgument("knob '" + knob.name + "' appears twice");
    if (knob.values.empty())
      return Status::InvalidArgument("knob '" + knob.name + "' has no values");
    if (knob.values.size() > std::numeric_limits<uint32_t>::max())
      return Status::InvalidArgument("knob '" + knob.name + "' has too many values");
    // Numbers compare as numbers (28 == 28.0), everything else by its JSON text.
    std::set<double> numbers;
    std::set<std::string> others;
    for (const json& value : knob.values) {
      bool fresh = value.is_number() ? numbers.insert(value.get<double>()).second
                                     : others.insert(value.dump(
                                           -1, ' ', false,
                                           json::error_handler_t::replace)).second;
      if (!fresh)
        return Status::InvalidArgument("knob '" + knob.name + "': value " +
                                       ValueToString(value) + " appears twice");
    }
    if (knob.default_index >= knob.values.size())
      return Status::InvalidArgument("knob '" + knob.name + "': default out of range");
    if (knob.type == KnobType::kBoolean && knob.values.size() != 2)
      return Status::InvalidArgument("knob '" + knob.name + "' is boolean but has " +
                                     std::to_string(knob.values.size()) +
                                     " values; a boolean has two (off and on)");
  }
  std::vector<Expression> compiled;
  auto resolve = [&knobs](std::string_view name) {
    Expression::Variable v;
    for (size_t i = 0; i < knobs.size(); ++i) {
      if (knobs[i].name != name) continue;
      v.found = true;
      v.slot = i;
      v.numeric = knobs[i].type == KnobType::kBoolean ||
                  std::all_of(knobs[i].values.begin(), knobs[i].values.end(),
                              [](const json& value) { return value.is_number(); });
    }
    return v;
  };
  for (size_t i = 0; i < constraints.size(); ++i) {
    Expression e;
    Status s = Expression::Compile(constraints[i], resolve, &e);
    if (!s.ok())
      return Status::InvalidArgument("constraint " + std::to_string(i + 1) + " '" +
                                     constraints[i] + "': " + s.message());
    compiled.push_back(std::move(e));
  }
  space->knobs_ = std::move(knobs);
  space->constraints_ = std::move(compiled);
  return Status::OK();
}

const Expression* SearchSpace::Violated(const Config& config) const {
  if (constraints_.empty()) return nullptr;
  std::vector<ExprValue> variables(knobs_.size());
  for (size_t i = 0; i < knobs_.size() && i < config.size(); ++i) {
    const Knob& knob = knobs_[i];
    const json& value = knob.values[config[i]];
    if (knob.type == KnobType::kBoolean) {
      // On is the value that reads as on; failing that, the second one.
      bool any_on = MeansOn(knob.values[0]) || MeansOn(knob.values[1]);
      variables[i] = (any_on ? MeansOn(value) : config[i] == 1) ? 1.0 : 0.0;
    } else if (value.is_number()) {
      variables[i] = value.get<double>();
    } else {
      variables[i] = value.is_string() ? value.get<std::string>() : value.dump();
    }
  }
  for (const Expression& e : constraints_)
    if (!e.Holds(variables)) return &e;
  return nullptr;
}

uint64_t SearchSpace::Size() const {
  uint64_t size = 1;
  for (const Knob& knob : knobs_) {
    uint64_t n = knob.values.size();
    if (size > std::numeric_limits<uint64_t>::max() / n)
      return std::numeric_limits<uint64_t>::max();
    size *= n;
  }
  return size;
}

std::optional<uint64_t> SearchSpace::CountFeasible(uint64_t limit) const {
  uint64_t size = Size();
  if (constraints_.empty()) return size;
  if (size > limit) return std::nullopt;
  uint64_t feasible = 0;
  Config config(knobs_.size(), 0);
  for (uint64_t n = 0; n < size; ++n) {
    feasible += Feasible(config);
    // The next configuration, the last knob fastest.
    for (size_t i = knobs_.size(); i-- > 0;) {
      if (++config[i] < knobs_[i].values.size()) break;
      config[i] = 0;
    }
  }
  return feasible;
}

Config SearchSpace::Default() const {
  Config config;
  for (const Knob& knob : knobs_) config.push_back(knob.default_index);
  return config;
}

bool SearchSpace::Contains(const Config& config) const {
  if (config.size() != knobs_.size()) return false;
  for (size_t i = 0; i < config.size(); ++i)
    if (config[i] >= knobs_[i].values.size()) return false;
  return true;
}

json SearchSpace::ToJson(const Config& config) const {
  json object = json::object();
  for (size_t i = 0; i < knobs_.size() && i < config.size(); ++i)
    object[knobs_[i].name] = knobs_[i].values[config[i]];
  return object;
}

Status SearchSpace::FromJson(const json& object, Config* config) const {
  if (!object.is_object())
    return Status::InvalidArgument("a configuration must be an object");
  Config result;
  for (const Knob& knob : knobs_) {
    auto it = object.find(knob.name);
    if (it == object.end())
      return Status::InvalidArgument("configuration lacks knob '" + knob.name + "'");
    uint32_t index = 0;
    while (index < knob.values.size() && !SameValue(knob.values[index], *it)) ++index;
    if (index == knob.values.size())
      return Status::InvalidArgument("knob '" + knob.name + "': " + it->dump() +
                                     " is not one of its values");
    result.push_back(index);
  }
  *config = std::move(result);
  return Status::OK();
}

std::map<std::string, std::string> SearchSpace::Environment(const Config& config) const {
  std::map<std::string, std::string> env;
  for (size_t i = 0; i < knobs_.size(); ++i) {
    std::string value = ValueToString(knobs_[i].values[config[i]]);
    // Named after the knob, where that can be a variable name at all.
    if (knobs_[i].name.find('=') == std::string::npos) env[knobs_[i].name] = value;
    env[KnobEnvName(knobs_[i].name)] = value;
  }
  return env;
}

std::vector<double> SearchSpace::Normalized(const Config& config) const {
  std::vector<double> x(config.size());
  for (size_t i = 0; i < config.size() && i < knobs_.size(); ++i) {
    size_t n = knobs_[i].values.size();
    if (knobs_[i].type == KnobType::kCategorical)
      x[i] = config[i];
    else
      x[i] = n > 1 ? static_cast<double>(config[i]) / static_cast<double>(n - 1) : 0;
  }
  return x;
}

std::vector<bool> SearchSpace::Categorical() const {
  std::vector<bool> categorical;
  for (const Knob& knob : knobs_) categorical.push_back(knob.type == KnobType::kCategorical);
  return categorical;
}

std::string SearchSpace::Key(const Config& config) {
  std::string key;
  for (size_t i = 0; i < config.size(); ++i) {
    if (i) key += ',';
    key += std::to_string(config[i]);
  }
  return key;
}

namespace {
std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}
}  // namespace

bool MeansOn(const json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number()) return value.get<double>() == 1;
  if (!value.is_string()) return false;
  std::string text = Lower(value.get<std::string>());
  return text == "1" || text == "true" || text == "on" || text == "yes" ||
         text == "enabled" || text == "enable";
}

namespace {
bool MeansOff(const json& value) {
  if (value.is_boolean()) return !value.get<bool>();
  if (value.is_number()) return value.get<double>() == 0;
  if (!value.is_string()) return false;
  std::string text = Lower(value.get<std::string>());
  return text == "0" || text == "false" || text == "off" || text == "no" ||
         text == "disabled" || text == "disable";
}
}  // namespace

KnobType InferKnobType(const std::vector<json>& values) {
  if (values.size() == 2 && ((MeansOff(values[0]) && MeansOn(values[1])) ||
                             (MeansOn(values[0]) && MeansOff(values[1]))))
    return KnobType::kBoolean;
  bool numbers = std::all_of(values.begin(), values.end(),
                             [](const json& v) { return v.is_number(); });
  return numbers ? KnobType::kOrdered : KnobType::kCategorical;
}

const char* KnobTypeName(KnobType type) {
  switch (type) {
    case KnobType::kOrdered: return "ordered";
    case KnobType::kBoolean: return "boolean";
    case KnobType::kCategorical: return "categorical";
  }
  return "ordered";
}

bool ParseKnobType(std::string_view name, KnobType* type) {
  std::string n = Lower(std::string(name));
  if (n == "ordinal" || n == "ordered" || n == "int" || n == "integer" || n == "float" ||
      n == "number") {
    *type = KnobType::kOrdered;
  } else if (n == "bool" || n == "boolean") {
    *type = KnobType::kBoolean;
  } else if (n == "categorical" || n == "enum") {
    *type = KnobType::kCategorical;
  } else {
    return false;
  }
  return true;
}

std::string KnobEnvName(const std::string& knob_name) {
  std::string name = "HONE_KNOB_";
  for (char c : knob_name) {
    char u = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    name += ((u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9')) ? u : '_';
  }
  return name;
}

nlohmann::json SpaceToJson(const SearchSpace& space) {
  nlohmann::json knobs = nlohmann::json::array();
  for (const Knob& knob : space.knobs())
    knobs.push_back({{"name", knob.name},
                     {"values", knob.values},
                     {"default_index", knob.default_index},
                     {"type", KnobTypeName(knob.type)}});
  nlohmann::json constraints = nlohmann::json::array();
  for (const Expression& e : space.constraints()) constraints.push_back(e.text());
  return {{"knobs", knobs}, {"constraints", constraints}};
}

Status SpaceFromJson(const nlohmann::json& value, SearchSpace* space) {
  // Older stores hold the list of knobs alone.
  const nlohmann::json& list =
      value.is_object() ? value.value("knobs", nlohmann::json()) : value;
  if (!list.is_array()) return Status::Internal("stored search space is not a list");
  std::vector<Knob> knobs;
  for (const nlohmann::json& k : list) {
    if (!k.is_object() || !k.contains("name") || !k["name"].is_string() ||
        !k.contains("values") || !k["values"].is_array() || k["values"].empty())
      return Status::Internal("stored search space is malformed");
    Knob knob;
    knob.name = k["name"].get<std::string>();
    knob.values = k["values"].get<std::vector<nlohmann::json>>();
    if (auto d = k.find("default_index"); d != k.end()) {
      if (!d->is_number_unsigned() || d->get<uint64_t>() >= knob.values.size())
        return Status::Internal("stored search space: knob '" + knob.name +
                                "' has a default outside its values");
      knob.default_index = d->get<uint32_t>();
    }
    auto type = k.find("type");
    if (type == k.end() || !type->is_string() ||
        !ParseKnobType(type->get<std::string>(), &knob.type))
      knob.type = InferKnobType(knob.values);
    knobs.push_back(std::move(knob));
  }
  std::vector<std::string> constraints;
  if (value.is_object())
    for (const nlohmann::json& c : value.value("constraints", nlohmann::json::array()))
      if (c.is_string()) constraints.push_back(c.get<std::string>());
  return SearchSpace::Create(std::move(knobs), constraints, space);
}

}  // namespace hone
