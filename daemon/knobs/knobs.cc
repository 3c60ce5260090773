#include "daemon/knobs/knobs.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "common/config.h"
#include "daemon/process/process.h"

namespace hone {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

constexpr const char* kScriptPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Bytes of a failing script's stderr quoted in its Status.
constexpr size_t kStderrTail = 400;

std::string Trim(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

std::vector<std::string> SplitWords(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

std::string Hex(uint64_t value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "0x%llx", static_cast<unsigned long long>(value));
  return buffer;
}

bool ParseInt(const std::string& text, int64_t* value) {
  json parsed = ParseScalar(text);
  if (!parsed.is_number_integer()) return false;
  *value = parsed.get<int64_t>();
  return true;
}

// "0-3,8": the kernel's cpu list format.
std::string FormatCpuList(std::vector<int> cpus) {
  std::sort(cpus.begin(), cpus.end());
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(cpus[i]);
    if (j > i) out += "-" + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

// "0, 10, 20, ..., 100" for messages.
std::string DescribeDomain(const std::vector<json>& domain) {
  std::string out;
  for (size_t i = 0; i < domain.size(); ++i) {
    if (domain.size() > 8 && i == 3) {
      out += ", ...";
      i = domain.size() - 1;
    }
    if (!out.empty()) out += ", ";
    out += ValueToString(domain[i]);
  }
  return out;
}

// What every knob type shares: name, description, domain, and the check of a value
// against the domain before anything touches the machine.
class KnobBase : public SystemKnob {
 public:
  const std::string& name() const override { return name_; }
  std::string description() const override { return description_; }
  std::vector<json> Domain() const override { return domain_; }

 protected:
  // InvalidArgument unless `value` is in the domain or was seen on the machine.
  Status Check(const std::string& value) const {
    for (const json& allowed : domain_)
      if (ValueToString(allowed) == value) return Status::OK();
    if (accepted_.count(value)) return Status::OK();
    return Status::InvalidArgument("knob '" + name_ + "': '" + value +
                                   "' is not one of its values (" +
                                   DescribeDomain(domain_) + ")");
  }

  // The fields every recipe carries; `current` (when not empty) is accepted by the
  // rebuilt knob.
  json BaseRecipe(const std::string& backend, const std::string& current) const {
    json recipe = {{"backend", backend},
                   {"name", name_},
                   {"description", description_},
                   {"domain", domain_}};
    std::set<std::string> accept = accepted_;
    if (!current.empty()) accept.insert(current);
    if (!accept.empty()) recipe["accept"] = accept;
    return recipe;
  }

  std::string name_;
  std::string description_;
  std::vector<json> domain_;
  // Values seen on the machine (a script knob's Read, a recipe's "accept").
  mutable std::set<std::string> accepted_;

  friend Status LoadAccepted(const json& recipe, KnobBase* knob);
};

// ---------------------------------------------------------------------------------
// Files under /sys and /proc.

// The word in brackets of "always [madvise] never"; the whole text, trimmed, when
// it has none (a plain file standing in for the kernel's in a test tree).
std::string SelectedWord(const std::string& text) {
  size_t open = text.find('[');
  size_t close = open == std::string::npos ? open : text.find(']', open);
  if (close == std::string::npos) return Trim(text);
  return Trim(std::string_view(text).substr(open + 1, close - open - 1));
}

Status SelectorChoices(const std::string& text, std::vector<json>* choices) {
  std::string cleaned;
  for (char c : text) cleaned += (c == '[' || c == ']') ? ' ' : c;
  return ParseOptionList(cleaned, kMaxOptionsPerKnob, choices);
}

class FileKnob : public KnobBase {
 public:
  FileKnob(const FileKnobSpec& spec, std::vector<json> domain, Machine* machine)
      : spec_(spec), machine_(machine) {
    name_ = spec.name;
    description_ = spec.description;
    domain_ = std::move(domain);
  }

  std::string backend() const override { return spec_.backend; }
  std::string location() const override {
    if (!spec_.location.empty()) return spec_.location;
    std::string where = spec_.files.front().second;
    if (spec_.files.size() > 1)
      where += " and " + std::to_string(spec_.files.size() - 1) + " more like it";
    return where;
  }
  std::vector<std::string> Instances() const override {
    std::vector<std::string> names;
    for (const auto& [instance, path] : spec_.files) names.push_back(instance);
    return names;
  }

  asio::awaitable<Status> Read(const std::string& instance, std::string* value) override {
    co_return ReadNow(instance, value);
  }

  asio::awaitable<Status> Write(const std::string& instance,
                                const std::string& value) override {
    Status s = Check(value);
    const std::string* path = nullptr;
    if (s.ok()) s = Find(instance, &path);
    if (s.ok()) s = machine_->WriteFile(*path, value + "\n");
    co_return s;
  }

  json Recipe(const std::string& instance) const override {
    std::string current;
    ReadNow(instance, &current).ok();  // best effort: what to accept back
    const std::string* path = nullptr;
    json recipe = BaseRecipe(spec_.backend, current);
    recipe["path"] = Find(instance, &path).ok() ? *path : "";
    recipe["selector"] = spec_.selector;
    return recipe;
  }

 private:
  Status Find(const std::string& instance, const std::string** path) const {
    for (const auto& [name, file] : spec_.files) {
      if (name == instance) {
        *path = &file;
        return Status::OK();
      }
    }
    return Status::NotFound("knob '" + name_ + "' has no instance '" + instance + "'");
  }

  Status ReadNow(const std::string& instance, std::string* value) const {
    const std::string* path = nullptr;
    std::string text;
    Status s = Find(instance, &path);
    if (s.ok()) s = machine_->ReadFile(*path, &text);
    if (s.ok()) *value = spec_.selector ? SelectedWord(text) : Trim(text);
    return s;
  }

  FileKnobSpec spec_;
  Machine* machine_;
};

// The path prefix each file backend may use.
const char* BackendPrefix(const std::string& backend) {
  if (backend == "sysctl") return "/proc/sys/";
  if (backend == "debugfs") return "/sys/kernel/debug/";
  if (backend == "sysfs") return "/sys/";
  return nullptr;
}

// ---------------------------------------------------------------------------------
// Model-specific register bit fields.

class MsrFieldKnob : public KnobBase {
 public:
  MsrFieldKnob(const MsrFieldSpec& spec, Machine* machine)
      : spec_(spec), machine_(machine) {
    name_ = spec.name;
    description_ = spec.description;
    if (spec.labels.empty()) {
      for (uint64_t field = spec.min_field; field <= spec.max_field; ++field)
        domain_.push_back(field * spec.scale);
    } else {
      for (const auto& [label, field] : spec.labels) domain_.push_back(label);
    }
  }

  std::string backend() const override { return "msr"; }
  std::string location() const override {
    std::vector<int> cpus;
    for (const auto& [instance, cpu] : spec_.cpus) cpus.push_back(cpu);
    std::string bits = spec_.width == 1
                           ? "bit " + std::to_string(spec_.shift)
                           : "bits " + std::to_string(spec_.shift + spec_.width - 1) +
                                 ":" + std::to_string(spec_.shift);
    return "MSR " + Hex(spec_.msr) + " " + bits + ", cpu" +
           (cpus.size() > 1 ? "s " : " ") + FormatCpuList(cpus);
  }
  std::vector<std::string> Instances() const override {
    std::vector<std::string> names;
    for (const auto& [instance, cpu] : spec_.cpus) names.push_back(instance);
    return names;
  }

  asio::awaitable<Status> Read(const std::string& instance, std::string* value) override {
    co_return ReadNow(instance, value);
  }

  asio::awaitable<Status> Write(const std::string& instance,
                                const std::string& value) override {
    co_return WriteNow(instance, value);
  }

  json Recipe(const std::string& instance) const override {
    std::string current;
    ReadNow(instance, &current).ok();  // best effort: what to accept back
    int cpu = 0;
    Find(instance, &cpu).ok();
    json recipe = BaseRecipe("msr", current);
    recipe["msr"] = spec_.msr;
    recipe["cpu"] = cpu;
    recipe["shift"] = spec_.shift;
    recipe["width"] = spec_.width;
    recipe["scale"] = spec_.scale;
    recipe["min_field"] = spec_.min_field;
    recipe["max_field"] = spec_.max_field;
    json labels = json::array();
    for (const auto& [label, field] : spec_.labels) labels.push_back({label, field});
    recipe["labels"] = labels;
    return recipe;
  }

 private:
  uint64_t mask() const { return (uint64_t{1} << spec_.width) - 1; }

  Status Find(const std::string& instance, int* cpu) const {
    for (const auto& [name, number] : spec_.cpus) {
      if (name == instance) {
        *cpu = number;
        return Status::OK();
      }
    }
    return Status::NotFound("knob '" + name_ + "' has no instance '" + instance + "'");
  }

  Status ReadNow(const std::string& instance, std::string* value) const {
    int cpu = 0;
    uint64_t word = 0;
    Status s = Find(instance, &cpu);
    if (s.ok()) s = machine_->ReadMsr(cpu, spec_.msr, &word);
    if (!s.ok()) return s;
    uint64_t field = (word >> spec_.shift) & mask();
    for (const auto& [label, labelled] : spec_.labels) {
      if (labelled == field) {
        *value = label;
        return Status::OK();
      }
    }
    // No label for it (or no labels at all): the number.
    *value = std::to_string(spec_.labels.empty() ? field * spec_.scale : field);
    return Status::OK();
  }

  // The field value that `value` stands for.
  Status ToField(const std::string& value, uint64_t* field) const {
    for (const auto& [label, labelled] : spec_.labels) {
      if (label == value) {
        *field = labelled;
        return Status::OK();
      }
    }
    int64_t number = 0;
    uint64_t scale = spec_.labels.empty() ? spec_.scale : 1;
    if (!ParseInt(value, &number) || number < 0 ||
        static_cast<uint64_t>(number) % scale != 0 ||
        static_cast<uint64_t>(number) / scale > mask())
      return Status::InvalidArgument("knob '" + name_ + "': '" + value +
                                     "' does not fit its register field");
    *field = static_cast<uint64_t>(number) / scale;
    return Status::OK();
  }

  Status WriteNow(const std::string& instance, const std::string& value) {
    int cpu = 0;
    uint64_t field = 0, word = 0;
    Status s = Check(value);
    if (s.ok()) s = ToField(value, &field);
    if (s.ok()) s = Find(instance, &cpu);
    if (s.ok()) s = machine_->ReadMsr(cpu, spec_.msr, &word);
    if (!s.ok()) return s;
    word = (word & ~(mask() << spec_.shift)) | (field << spec_.shift);
    return machine_->WriteMsr(cpu, spec_.msr, word);
  }

  MsrFieldSpec spec_;
  Machine* machine_;
};

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

// ---------------------------------------------------------------------------------
// Recipes.

Status LoadAccepted(const json& recipe, KnobBase* knob) {
  if (recipe.contains("accept"))
    for (const json& value : recipe.at("accept"))
      knob->accepted_.insert(value.get<std::string>());
  return Status::OK();
}

Status FileKnobFromRecipe(const json& recipe, Machine* machine,
                          std::unique_ptr<SystemKnob>* knob) {
  FileKnobSpec spec;
  spec.name = recipe.at("name").get<std::string>();
  spec.backend = recipe.at("backend").get<std::string>();
  spec.description = recipe.value("description", "");
  spec.files = {{"", recipe.at("path").get<std::string>()}};
  spec.domain = recipe.at("domain").get<std::vector<json>>();
  spec.selector = recipe.value("selector", false);
  Status s = MakeFileKnob(spec, machine, knob);
  if (s.ok()) s = LoadAccepted(recipe, static_cast<KnobBase*>(knob->get()));
  return s;
}

Status MsrKnobFromRecipe(const json& recipe, Machine* machine,
                         std::unique_ptr<SystemKnob>* knob) {
  MsrFieldSpec spec;
  spec.name = recipe.at("name").get<std::string>();
  spec.description = recipe.value("description", "");
  spec.msr = recipe.at("msr").get<uint32_t>();
  spec.shift = recipe.at("shift").get<int>();
  spec.width = recipe.at("width").get<int>();
  spec.cpus = {{"", recipe.at("cpu").get<int>()}};
  spec.scale = recipe.value("scale", uint64_t{1});
  spec.min_field = recipe.value("min_field", uint64_t{0});
  spec.max_field = recipe.value("max_field", uint64_t{0});
  const json& labels = recipe.value("labels", json::array());
  if (labels.is_object()) {
    for (const auto& [label, field] : labels.items())
      spec.labels.emplace_back(label, field.get<uint64_t>());
  } else {
    for (const json& pair : labels)
      spec.labels.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<uint64_t>());
  }
  Status s = MakeMsrFieldKnob(spec, machine, knob);
  if (s.ok()) s = LoadAccepted(recipe, static_cast<KnobBase*>(knob->get()));
  return s;
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

}  // namespace

Status MakeFileKnob(const FileKnobSpec& spec, Machine* machine,
                    std::unique_ptr<SystemKnob>* knob) {
  std::string what = "knob '" + spec.name + "'";
  const char* prefix = BackendPrefix(spec.backend);
  if (!prefix)
    return Status::InvalidArgument(what + ": unknown file backend '" + spec.backend +
                                   "'");
  if (spec.files.empty()) return Status::InvalidArgument(what + " has no files");
  for (const auto& [instance, path] : spec.files)
    if (path.rfind(prefix, 0) != 0 || path.find("/../") != std::string::npos ||
        path.ends_with("/.."))
      return Status::InvalidArgument(what + ": " + spec.backend + " paths lie under " +
                                     prefix + ", not " + path);
  std::vector<json> domain = spec.domain;
  if (domain.empty()) {
    std::string source = spec.available_path;
    if (source.empty() && spec.selector) source = spec.files.front().second;
    std::string text;
    Status s = source.empty() ? Status::InvalidArgument(what + " has no values")
                              : machine->ReadFile(source, &text);
    if (!s.ok()) return s.WithContext(what + ": cannot read its values");
    s = spec.selector && spec.available_path.empty()
            ? SelectorChoices(text, &domain)
            : ParseOptionList(text, kMaxOptionsPerKnob, &domain);
    if (!s.ok()) return s.WithContext(what + ": " + source);
    if (domain.empty())
      return Status::Unavailable(what + ": " + source + " lists no values");
  }
  *knob = std::make_unique<FileKnob>(spec, std::move(domain), machine);
  return Status::OK();
}

Status MakeMsrFieldKnob(const MsrFieldSpec& spec, Machine* machine,
                        std::unique_ptr<SystemKnob>* knob) {
  std::string what = "knob '" + spec.name + "'";
  if (spec.width < 1 || spec.width > 63 || spec.shift < 0 || spec.shift + spec.width > 64)
    return Status::InvalidArgument(what + ": bad bit field");
  uint64_t mask = (uint64_t{1} << spec.width) - 1;
  if (spec.cpus.empty()) return Status::InvalidArgument(what + " has no cpus");
  for (const auto& [label, field] : spec.labels)
    if (field > mask)
      return Status::InvalidArgument(what + ": label '" + label + "' too wide");
  if (spec.labels.empty() &&
      (spec.scale == 0 || spec.max_field > mask || spec.min_field > spec.max_field))
    return Status::InvalidArgument(what + ": bad numeric range");
  *knob = std::make_unique<MsrFieldKnob>(spec, machine);
  return Status::OK();
}

Status KnobFromRecipe(const json& recipe, Machine* machine,
                      std::unique_ptr<SystemKnob>* knob) {
  try {
    std::string backend = recipe.at("backend").get<std::string>();
    if (backend == "msr") return MsrKnobFromRecipe(recipe, machine, knob);
    if (backend == "script") return ScriptKnobFromRecipe(recipe, knob);
    if (!machine)
      return Status::InvalidArgument("knob recipe: a " + backend +
                                     " knob needs a machine");
    if (BackendPrefix(backend)) return FileKnobFromRecipe(recipe, machine, knob);
    return Status::InvalidArgument("knob recipe: unknown backend '" + backend + "'");
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("bad knob recipe: ") + e.what());
  }
}

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
