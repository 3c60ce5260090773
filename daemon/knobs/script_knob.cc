// Script-defined knobs: get_script, set_script, devices_script, pre_set_script,
// run as root with a fixed PATH.
#include <chrono>
#include <map>
#include <set>

#include "daemon/knobs/knob_base.h"
#include "daemon/knobs/knobs.h"
#include "daemon/process/process.h"

namespace hone {
namespace knobs_internal {
namespace {

namespace asio = boost::asio;

// ---------------------------------------------------------------------------------
// Script knobs.

class ScriptKnob : public KnobBase {
 public:
  // `instances`: instance name -> device ($KNOB_DEV).
  ScriptKnob(const ScriptKnobSpec& spec,
             std::vector<std::pair<std::string, std::string>> instances)
      : spec_(spec), instances_(std::move(instances)) {
    name_ = spec.name;
    description_ = spec.description;
    domain_ = spec.options;
  }

  std::string backend() const override { return "script"; }
  std::string location() const override {
    std::string script = spec_.set_script.substr(0, 60);
    std::replace(script.begin(), script.end(), '\n', ' ');
    return "set_script: " + script + (spec_.set_script.size() > 60 ? "..." : "");
  }
  std::vector<std::string> Instances() const override {
    std::vector<std::string> names;
    for (const auto& [instance, device] : instances_) names.push_back(instance);
    return names;
  }

  asio::awaitable<Status> Read(const std::string& instance, std::string* value) override {
    const std::string* device = nullptr;
    Status s = Find(instance, &device);
    std::string out;
    if (s.ok()) s = co_await Run("get_script", spec_.get_script, *device, nullptr, &out);
    if (!s.ok()) co_return s;
    // The last line that says something.
    std::string last;
    size_t start = 0;
    while (start < out.size()) {
      size_t end = out.find('\n', start);
      if (end == std::string::npos) end = out.size();
      std::string line = Trim(std::string_view(out).substr(start, end - start));
      if (!line.empty()) last = line;
      start = end + 1;
    }
    if (last.empty())
      co_return Status::IOError("knob '" + name_ + "': get_script printed nothing");
    accepted_.insert(last);
    *value = last;
    co_return Status::OK();
  }

  asio::awaitable<Status> Write(const std::string& instance,
                                const std::string& value) override {
    const std::string* device = nullptr;
    Status s = Check(value);
    if (s.ok()) s = Find(instance, &device);
    std::string out;
    if (s.ok() && !spec_.pre_set_script.empty())
      s = co_await Run("pre_set_script", spec_.pre_set_script, *device, &value, &out);
    if (s.ok()) s = co_await Run("set_script", spec_.set_script, *device, &value, &out);
    co_return s;
  }

  json Recipe(const std::string& instance) const override {
    const std::string* device = nullptr;
    Find(instance, &device).ok();
    json recipe = BaseRecipe("script", "");
    recipe.erase("domain");
    recipe["options"] = spec_.options;
    recipe["get_script"] = spec_.get_script;
    recipe["set_script"] = spec_.set_script;
    recipe["pre_set_script"] = spec_.pre_set_script;
    recipe["device"] = device ? *device : "";
    recipe["timeout_s"] = spec_.timeout_s;
    return recipe;
  }

 private:
  Status Find(const std::string& instance, const std::string** device) const {
    for (const auto& [name, dev] : instances_) {
      if (name == instance) {
        *device = &dev;
        return Status::OK();
      }
    }
    return Status::NotFound("knob '" + name_ + "' has no instance '" + instance + "'");
  }

  asio::awaitable<Status> Run(const char* what, const std::string& script,
                              const std::string& device, const std::string* value,
                              std::string* out) const {
    ProcessSpec process;
    process.argv = ShellArgv(script);
    process.env = {{"PATH", kScriptPath}, {"KNOB_DEV", device}};
    if (value) process.env["KNOB_VAL"] = *value;
    process.cwd = "/";
    process.timeout =
        std::chrono::milliseconds(static_cast<int64_t>(spec_.timeout_s * 1000));
    ProcessResult result = co_await RunProcess(std::move(process), nullptr);
    if (result.Succeeded()) {
      *out = std::move(result.out);
      co_return Status::OK();
    }
    std::string message = "knob '" + name_ + "': " + what + " " + result.Describe();
    std::string err = Trim(result.err);
    if (err.size() > kStderrTail) err = "..." + err.substr(err.size() - kStderrTail);
    if (!err.empty()) message += ": " + err;
    co_return Status::IOError(message);
  }

  ScriptKnobSpec spec_;
  std::vector<std::pair<std::string, std::string>> instances_;
};

}  // namespace

Status CheckScriptSpec(const ScriptKnobSpec& spec) {
  std::string what = "knob '" + spec.name + "'";
  if (spec.name.empty()) return Status::InvalidArgument("a script knob needs a name");
  if (spec.get_script.empty() || spec.set_script.empty())
    return Status::InvalidArgument(what + " needs both get_script and set_script");
  if (spec.options.empty())
    return Status::InvalidArgument(what + " has no options to choose from");
  if (!(spec.timeout_s > 0))
    return Status::InvalidArgument(what + ": timeout must be positive");
  return Status::OK();
}

Status ScriptKnobFromRecipe(const json& recipe, std::unique_ptr<SystemKnob>* knob) {
  ScriptKnobSpec spec;
  spec.name = recipe.at("name").get<std::string>();
  spec.description = recipe.value("description", "");
  spec.options = recipe.at("options").get<std::vector<json>>();
  spec.get_script = recipe.at("get_script").get<std::string>();
  spec.set_script = recipe.at("set_script").get<std::string>();
  spec.pre_set_script = recipe.value("pre_set_script", "");
  spec.timeout_s = recipe.value("timeout_s", 60.0);
  Status s = CheckScriptSpec(spec);
  if (!s.ok()) return s;
  auto made = std::make_unique<ScriptKnob>(
      spec,
      std::vector<std::pair<std::string, std::string>>{{"", recipe.value("device", "")}});
  s = LoadAccepted(recipe, made.get());
  *knob = std::move(made);
  return s;
}

}  // namespace knobs_internal

namespace asio = boost::asio;
using namespace knobs_internal;

asio::awaitable<Status> MakeScriptKnob(const ScriptKnobSpec& spec,
                                       std::unique_ptr<SystemKnob>* knob) {
  Status s = CheckScriptSpec(spec);
  if (!s.ok()) co_return s;
  std::vector<std::pair<std::string, std::string>> instances;
  if (spec.devices_script.empty()) {
    instances.emplace_back("", "");
  } else {
    ProcessSpec process;
    process.argv = ShellArgv(spec.devices_script);
    process.env = {{"PATH", kScriptPath}};
    process.timeout =
        std::chrono::milliseconds(static_cast<int64_t>(spec.timeout_s * 1000));
    ProcessResult result = co_await RunProcess(std::move(process), nullptr);
    if (!result.Succeeded()) {
      std::string err = Trim(result.err);
      if (err.size() > kStderrTail) err = "..." + err.substr(err.size() - kStderrTail);
      co_return Status::IOError("knob '" + spec.name + "': devices_script " +
                                result.Describe() + (err.empty() ? "" : ": " + err));
    }
    std::set<std::string> seen;
    for (const std::string& name : SplitWords(result.out))
      if (seen.insert(name).second) instances.emplace_back(name, name);
    if (instances.empty())
      co_return Status::Unavailable("knob '" + spec.name +
                                    "': devices_script printed no devices");
  }
  *knob = std::make_unique<ScriptKnob>(spec, std::move(instances));
  co_return Status::OK();
}

}  // namespace hone
