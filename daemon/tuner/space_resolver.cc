#include "daemon/tuner/space_resolver.h"

#include <algorithm>
#include <chrono>

#include "common/limits.h"
#include "common/scan.h"
#include "daemon/tuner/metric_source.h"

namespace hone {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// A built-in knob's values: its whole domain, or the config's list when every value
// of it is in the domain.
Status NarrowDomain(const std::string& name, const std::vector<json>& domain,
                    std::vector<json>* values) {
  if (values->empty()) {
    *values = domain;
    return Status::OK();
  }
  for (const json& value : *values) {
    std::string text = ValueToString(value);
    bool found = std::any_of(domain.begin(), domain.end(),
                             [&](const json& d) { return ValueToString(d) == text; });
    if (!found) {
      std::string allowed;
      for (size_t i = 0; i < domain.size() && i < 12; ++i)
        allowed += (i ? ", " : "") + ValueToString(domain[i]);
      if (domain.size() > 12)
        allowed += ", ... (" + std::to_string(domain.size()) + " values)";
      return Status::InvalidArgument("knob '" + name + "': " + text +
                                     " is outside its domain: " + allowed);
    }
  }
  return Status::OK();
}

Status DefaultIndex(const Knob& knob, const json& value, uint32_t* index) {
  std::string text = ValueToString(value);
  for (uint32_t i = 0; i < knob.values.size(); ++i)
    if (ValueToString(knob.values[i]) == text ||
        (value.is_number() && knob.values[i].is_number() &&
         value.get<double>() == knob.values[i].get<double>())) {
      *index = i;
      return Status::OK();
    }
  return Status::InvalidArgument("knob '" + knob.name + "': default " + text +
                                 " is not one of its options");
}

}  // namespace

Status PreviewSpace(const JobSpec& spec, const std::vector<CatalogEntry>* catalog,
                    json* knobs_out, std::optional<SearchSpace>* space) {
  constexpr size_t kListed = 64;  // values shown per knob
  std::vector<Knob> knobs;
  bool resolved = true;
  json described = json::array();
  for (const KnobSpec& k : spec.knobs) {
    Knob knob;
    knob.name = k.name;
    knob.values = k.options;
    json entry = {{"name", k.name}};
    const char* kind = k.kind == KnobKind::kBuiltin  ? "system (built-in)"
                       : k.kind == KnobKind::kScript ? "system (script)"
                                                     : "application";
    entry["kind"] = kind;
    if (!k.description.empty()) entry["description"] = k.description;
    std::string source = k.options_script.empty() ? "options" : "options_script";
    if (k.kind == KnobKind::kBuiltin) {
      const CatalogEntry* builtin = nullptr;
      if (catalog)
        for (const CatalogEntry& e : *catalog)
          if (e.name == k.name && e.available && e.knob) builtin = &e;
      if (!builtin)
        return Status::FailedPrecondition("knob '" + k.name + "' is not available here");
      if (knob.values.empty()) source = "its built-in domain";
      Status s = NarrowDomain(k.name, builtin->knob->Domain(), &knob.values);
      if (!s.ok()) return s;
      if (k.description.empty()) entry["description"] = builtin->description;
    }
    if (!k.options_script.empty()) {
      entry["source"] = "options_script `" + k.options_script + "`, run at start as you";
      entry["values"] = nullptr;
      resolved = false;
    } else {
      entry["source"] = source;
      json values = json::array();
      for (size_t i = 0; i < knob.values.size() && i < kListed; ++i)
        values.push_back(knob.values[i]);
      entry["values"] = values;
      entry["count"] = knob.values.size();
      knob.type = k.type.value_or(InferKnobType(knob.values));
      entry["type"] = KnobTypeName(knob.type);
    }
    if (k.kind != KnobKind::kApplication) {
      entry["default"] = "the machine's current value, read at start";
    } else if (k.default_value) {
      if (resolved && k.options_script.empty()) {
        Status s = DefaultIndex(knob, *k.default_value, &knob.default_index);
        if (!s.ok()) return s;
      }
      entry["default"] = *k.default_value;
    } else if (!knob.values.empty()) {
      entry["default"] = knob.values.front();
    } else {
      entry["default"] = "the first value it lists";
    }
    described.push_back(std::move(entry));
    knobs.push_back(std::move(knob));
  }
  *knobs_out = std::move(described);
  space->reset();
  if (!resolved) return Status::OK();
  std::vector<std::string> constraints;
  for (const ConstraintSpec& c : spec.constraints) constraints.push_back(c.text);
  SearchSpace built;
  Status s = SearchSpace::Create(std::move(knobs), constraints, &built);
  if (!s.ok()) return s;
  *space = std::move(built);
  return Status::OK();
}

Status BaselineFeasible(const SearchSpace& space) {
  const Expression* violated = space.Violated(space.Default());
  if (!violated) return Status::OK();
  return Status::InvalidArgument(
      "the baseline " + space.ToJson(space.Default()).dump() + " violates constraint '" +
      violated->text() +
      "'; hone measures the baseline first, so change the knobs' defaults (or, for "
      "system knobs, their current values) or the constraint");
}

asio::awaitable<Status> ResolveSpace(const SpaceSources& sources, SearchSpace* space,
                                     std::unique_ptr<KnobBindings>* bindings_out) {
  const JobSpec& job_spec = *sources.spec;
  std::vector<Knob> knobs;
  std::vector<bool> is_system;
  auto bindings = std::make_unique<KnobBindings>(sources.job, sources.ledger);
  for (const KnobSpec& spec : job_spec.knobs) {
    Knob knob;
    knob.name = spec.name;
    knob.values = spec.options;
    if (!spec.options_script.empty()) {
      ProcessSpec process = BaseProcess(*sources.request, SearchSpace(), {});
      process.argv = ShellArgv(spec.options_script);
      process.timeout = std::chrono::milliseconds(
          static_cast<int64_t>(job_spec.settings.script_timeout_s * 1000));
      ProcessResult result = co_await sources.runner->Run(process, sources.groups);
      std::string where =
          "knob '" + spec.name + "': options_script `" + spec.options_script + "`";
      if (!result.Succeeded())
        co_return Status::InvalidArgument(
            WithOutput(where + " " + result.Describe(), result.err));
      if (result.out_bytes > result.out.size())
        co_return Status::InvalidArgument(
            where + " printed " + std::to_string(result.out_bytes) +
            " bytes; the limit is " + std::to_string(limits::kMaxOutputBytes));
      Status parsed = ParseOptionList(result.out, kMaxOptionsPerKnob, &knob.values);
      if (!parsed.ok()) co_return Status::InvalidArgument(where + ": " + parsed.message());
      if (knob.values.empty())
        co_return Status::InvalidArgument(where + " printed no options");
    }
    SystemKnob* system = nullptr;
    std::unique_ptr<SystemKnob> owned;
    if (spec.kind == KnobKind::kBuiltin) {
      system = FindBuiltin(sources.catalog, spec.name);
      if (!system)
        co_return Status::FailedPrecondition("knob '" + spec.name +
                                             "' is not available here");
      Status s = NarrowDomain(spec.name, system->Domain(), &knob.values);
      if (!s.ok()) co_return s;
    } else if (spec.kind == KnobKind::kScript) {
      ScriptKnobSpec script{spec.name,           spec.description,
                            knob.values,         spec.get_script,
                            spec.set_script,     spec.devices_script,
                            spec.pre_set_script, job_spec.settings.script_timeout_s};
      Status s = co_await MakeScriptKnob(script, &owned);
      if (!s.ok()) co_return s;
      system = owned.get();
    }
    if (system) bindings->Add(knobs.size(), system, std::move(owned));
    is_system.push_back(system != nullptr);
    if (spec.default_value && !system) {
      Status s = DefaultIndex(knob, *spec.default_value, &knob.default_index);
      if (!s.ok()) co_return s;
    }
    knobs.push_back(std::move(knob));
  }
  if (!bindings->empty()) {
    // System knobs start where the machine is: that is the honest baseline.
    Status s = co_await bindings->ReadCurrent();
    if (!s.ok()) co_return s;
    for (size_t dim = 0; dim < knobs.size(); ++dim) {
      if (!is_system[dim]) continue;
      std::string current = bindings->StartValue(dim);
      std::vector<json>& values = knobs[dim].values;
      auto it = std::find_if(values.begin(), values.end(),
                             [&](const json& v) { return ValueToString(v) == current; });
      if (it == values.end()) it = values.insert(values.end(), ParseScalar(current));
      knobs[dim].default_index = static_cast<uint32_t>(it - values.begin());
    }
  }
  for (size_t dim = 0; dim < knobs.size(); ++dim)
    knobs[dim].type = job_spec.knobs[dim].type.value_or(InferKnobType(knobs[dim].values));
  std::vector<std::string> constraints;
  for (const ConstraintSpec& c : job_spec.constraints) constraints.push_back(c.text);
  Status s = SearchSpace::Create(std::move(knobs), constraints, space);
  if (!s.ok()) co_return s;
  s = BaselineFeasible(*space);
  if (!s.ok()) co_return s;
  *bindings_out = std::move(bindings);
  co_return Status::OK();
}

Status ResolveBuiltins(const std::vector<CatalogEntry>* catalog_or_null, JobSpec* spec) {
  static const std::vector<CatalogEntry> kNoCatalog;
  const std::vector<CatalogEntry>& catalog =
      catalog_or_null ? *catalog_or_null : kNoCatalog;
  auto known = [spec](const std::string& name) {
    return std::any_of(spec->knobs.begin(), spec->knobs.end(),
                       [&](const KnobSpec& k) { return k.name == name; });
  };
  for (const ImportSpec& import : spec->imports) {
    auto compile = [](const std::vector<std::string>& texts) {
      std::vector<Pattern> patterns(texts.size());
      for (size_t i = 0; i < texts.size(); ++i)
        Pattern::Compile(texts[i], &patterns[i]);  // checked when parsed; else empty
      return patterns;
    };
    std::vector<Pattern> include = compile(import.include);
    std::vector<Pattern> exclude = compile(import.exclude);
    auto matches = [](const std::vector<Pattern>& patterns, const std::string& name) {
      return std::any_of(patterns.begin(), patterns.end(),
                         [&](const Pattern& p) { return p.FullMatch(name); });
    };
    for (const CatalogEntry& entry : catalog) {
      if (!matches(include, entry.name) || matches(exclude, entry.name) ||
          known(entry.name))
        continue;
      if (!entry.available) {
        spec->warnings.push_back("import: " + entry.name +
                                 " skipped, unavailable here: " + entry.reason);
        continue;
      }
      KnobSpec knob;
      knob.name = entry.name;
      knob.kind = KnobKind::kBuiltin;
      knob.pos = import.pos;
      spec->knobs.push_back(std::move(knob));
    }
  }
  for (KnobSpec& knob : spec->knobs) {
    auto entry = std::find_if(catalog.begin(), catalog.end(),
                              [&](const CatalogEntry& e) { return e.name == knob.name; });
    if (knob.kind == KnobKind::kApplication && entry != catalog.end())
      knob.kind = KnobKind::kBuiltin;  // its values narrow the built-in domain
    if (knob.kind != KnobKind::kApplication && knob.default_value)
      spec->warnings.push_back(
          "knob '" + knob.name +
          "': default ignored; a system knob's baseline is its current "
          "value");
    if (knob.kind != KnobKind::kBuiltin) continue;
    if (entry == catalog.end())
      return Status::InvalidArgument(
          "knob '" + knob.name +
          "' has no values and is not a built-in knob; give it options, options_script "
          "or "
          "range, or name one of the knobs `hone knobs` lists");
    if (!entry->available)
      return Status::FailedPrecondition(
          "knob '" + knob.name + "' is not available on this machine: " + entry->reason);
  }
  if (spec->knobs.empty())
    return Status::InvalidArgument(
        "no knobs: the imports matched no available built-in knob");
  return Status::OK();
}

}  // namespace hone
