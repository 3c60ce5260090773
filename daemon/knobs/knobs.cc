#include "daemon/knobs/knobs.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "common/config.h"
#include "daemon/knobs/knob_base.h"

namespace hone {
namespace knobs_internal {

Status LoadAccepted(const json& recipe, KnobBase* knob) {
  if (recipe.contains("accept"))
    for (const json& value : recipe.at("accept"))
      knob->accepted_.insert(value.get<std::string>());
  return Status::OK();
}

}  // namespace knobs_internal

namespace {

namespace asio = boost::asio;
using namespace knobs_internal;

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
// Recipes.

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

}  // namespace hone
