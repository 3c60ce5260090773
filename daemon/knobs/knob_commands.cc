#include "daemon/knobs/knob_commands.h"

#include <spdlog/spdlog.h>

#include "common/space.h"

namespace hone {

namespace asio = boost::asio;
using nlohmann::json;

asio::awaitable<Status> ListKnobs(std::vector<CatalogEntry>* catalog, json* result) {
  json knobs = json::array();
  if (catalog) {
    for (CatalogEntry& entry : *catalog) {
      json knob = {{"name", entry.name},
                   {"backend", entry.backend},
                   {"description", entry.description},
                   {"location", entry.location},
                   {"risk", entry.risk},
                   {"available", entry.available}};
      if (!entry.available) knob["reason"] = entry.reason;
      if (entry.knob) {
        knob["domain"] = entry.knob->Domain();
        std::vector<std::string> instances = entry.knob->Instances();
        knob["instances"] = instances.size();
        std::string value;
        // (No co_await inside ?: — GCC 12 miscompiles it.)
        Status s = Status::NotFound("no instances");
        if (!instances.empty()) s = co_await entry.knob->Read(instances[0], &value);
        if (s.ok())
          knob["value"] = value;
        else
          knob["read_error"] = s.message();
      }
      knobs.push_back(std::move(knob));
    }
  }
  *result = {{"knobs", knobs}};
  co_return Status::OK();
}

asio::awaitable<Status> RestoreAllKnobs(Ledger* ledger, json* result) {
  std::vector<std::string> done;
  Status s = co_await ledger->RestoreHeld(std::nullopt, &done);
  Status applied = co_await ledger->RestoreApplied(&done);
  if (s.ok()) s = applied;
  *result = {{"restored", done}};
  co_return s;
}

asio::awaitable<Status> ApplyJobSettings(Ledger* ledger, std::vector<CatalogEntry>* catalog,
                                         int64_t id, const JobSpec& job_spec,
                                         const json& stored_space, const json& best,
                                         bool may_run_scripts, json* result) {
  SearchSpace space;  // the values the job resolved (options_script included)
  Status s = SpaceFromJson(stored_space, &space);
  if (!s.ok()) co_return s;
  std::vector<std::unique_ptr<SystemKnob>> owned;
  std::vector<Ledger::Setting> settings;
  for (const KnobSpec& spec : job_spec.knobs) {
    if (spec.kind == KnobKind::kApplication || !best.contains(spec.name)) continue;
    SystemKnob* knob = FindBuiltin(catalog, spec.name);
    if (spec.kind == KnobKind::kScript) {
      if (!may_run_scripts)
        co_return Status::PermissionDenied(
            "job " + std::to_string(id) +
            " has script knobs, which run as root; only root "
            "may apply it");
      std::vector<json> options = spec.options;
      for (const Knob& k : space.knobs())
        if (k.name == spec.name) options = k.values;
      ScriptKnobSpec script{spec.name,
                            spec.description,
                            options,
                            spec.get_script,
                            spec.set_script,
                            spec.devices_script,
                            spec.pre_set_script,
                            job_spec.settings.script_timeout_s};
      std::unique_ptr<SystemKnob> made;
      s = co_await MakeScriptKnob(script, &made);
      if (!s.ok()) co_return s;
      knob = made.get();
      owned.push_back(std::move(made));
    }
    if (!knob)
      co_return Status::FailedPrecondition("knob '" + spec.name +
                                           "' is not available here");
    std::string value = ValueToString(best[spec.name]);
    for (const std::string& instance : knob->Instances())
      settings.push_back({knob, instance, value});
  }
  if (settings.empty())
    co_return Status::FailedPrecondition(
        "job " + std::to_string(id) + " tuned only application knobs; use `hone report " +
        std::to_string(id) + " --format env` to use them");
  std::vector<std::string> applied;
  s = co_await ledger->ApplyAll(id, settings, &applied);
  if (!s.ok()) co_return s;
  *result = {{"job", id}, {"applied", applied}};
  co_return Status::OK();
}

json DescribeJobSettings(std::vector<CatalogEntry>* catalog, const JobSpec& job_spec,
                         const json& best, const json& baseline, bool with_scripts) {
  json knobs = json::array();
  for (const KnobSpec& spec : job_spec.knobs) {
    if (!best.contains(spec.name)) continue;
    json knob = {{"name", spec.name}, {"value", best[spec.name]}};
    if (baseline.is_object() && baseline.contains(spec.name))
      knob["baseline"] = baseline[spec.name];
    if (!spec.description.empty()) knob["description"] = spec.description;
    switch (spec.kind) {
      case KnobKind::kApplication:
        knob["kind"] = "application";
        break;
      case KnobKind::kScript:
        knob["kind"] = "script";
        knob["backend"] = "script";
        if (with_scripts) knob["set_script"] = spec.set_script;
        break;
      case KnobKind::kBuiltin: {
        knob["kind"] = "builtin";
        SystemKnob* system = FindBuiltin(catalog, spec.name);
        if (!system) {
          knob["available"] = false;
          break;
        }
        knob["backend"] = system->backend();
        knob["location"] = system->location();
        if (knob.value("description", "").empty())
          knob["description"] = system->description();
        if (system->backend() != "msr") {
          json files = json::array();
          for (const std::string& instance : system->Instances()) {
            json recipe = system->Recipe(instance);
            if (recipe.contains("path") && recipe["path"].is_string() &&
                !recipe["path"].get<std::string>().empty())
              files.push_back(recipe["path"]);
          }
          knob["files"] = std::move(files);
        }
        break;
      }
    }
    knobs.push_back(std::move(knob));
  }
  return knobs;
}

}  // namespace hone
