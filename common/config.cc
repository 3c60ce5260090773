#include "common/config.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "common/limits.h"
#include "common/scan.h"

namespace hone {

using nlohmann::json;

namespace {

// `text` for a message: whole when short, else its start and its length.
std::string Excerpt(const std::string& text, size_t limit = 60) {
  if (text.size() <= limit) return text;
  return text.substr(0, limit) + "... (" + std::to_string(text.size()) + " characters)";
}

// Reads one config file, turning YAML nodes into spec fields and every problem into
// a Status that says where it is.
// Where each key of the dialect belongs, for the hint on a misplaced key.
struct KeyHome {
  const char* where;  // "at the top level", "under global_settings", ...
  std::vector<const char*> keys;
};
const std::vector<KeyHome>& KeyHomes() {
  static const std::vector<KeyHome> homes = {
      {"at the top level",
       {"domain", "global_settings", "workload", "warm_start", "import", "constraints",
        "strategy"}},
      {"under domain.common",
       {"knobs", "metrics", "target", "constraints", "include_metrics", "plugins"}},
      {"under global_settings",
       {"min_baseline_samples",
        "min_samples_per_config",
        "sampling_interval",
        "max_regression_pct",
        "min_dwell",
        "max_changes_per_hour",
        "mode",
        "phase_signature",
        "target_improvement_pct",
        "early_stop_pct",
        "converge_after",
        "confirm_samples",
        "race_pct",
        "max_configs",
        "max_samples",
        "max_minutes",
        "seed",
        "script_timeout",
        "max_interference_pct",
        "interference_repeats",
        "quiet_wait"}},
      {"under workload", {"kind", "run"}},
      {"under workload.run", {"command", "timeout"}},
      {"under a knob",
       {"options", "options_script", "range", "default", "type", "description",
        "max_step", "get_script", "set_script", "devices_script", "pre_set_script"}},
      {"under a metric",
       {"push", "pressure", "line", "field", "cgroup_stat", "key", "perf", "cgroup",
        "rate", "guard", "sample_script", "pattern", "source", "partial", "aggregated",
        "description"}},
  };
  return homes;
}

// Where `key` (unknown where it is) belongs instead: "at the top level"; empty when
// it is not a key of the dialect.
std::string SectionOfKey(const std::string& key, std::string_view) {
  std::string homes;
  for (const KeyHome& home : KeyHomes()) {
    if (std::find(home.keys.begin(), home.keys.end(), key) == home.keys.end()) continue;
    homes += (homes.empty() ? "" : " or ") + std::string(home.where);
  }
  return homes;
}

class ConfigReader {
 public:
  ConfigReader(std::string_view filename, JobSpec* spec)
      : filename_(filename), spec_(spec) {}

  Status ReadRoot(const YAML::Node& root);
  // `--set key=value`: a global_settings key, or strategy, read as in the file.
  Status ReadOverride(const std::string& key, const std::string& value);

 private:
  Status ReadDomain(const YAML::Node& domain);
  Status ReadDomainSection(const YAML::Node& section);
  Status ReadKnob(const std::string& name, const YAML::Node& node);
  Status ReadImports(const YAML::Node& node);
  Status ReadConstraints(const YAML::Node& node);
  Status CheckConstraints() const;
  Status ReadRange(const YAML::Node& node, KnobSpec* knob);
  Status ReadMetric(const std::string& name, const YAML::Node& node);
  Status ReadTarget(const YAML::Node& node);
  Status ReadGlobalSettings(const YAML::Node& node);
  Status ReadWorkload(const YAML::Node& node);

  Status ReadInt(const YAML::Node& node, std::string_view what, int64_t min,
                 int64_t* out);
  Status ReadNumber(const YAML::Node& node, std::string_view what, double* out);
  Status ReadSeconds(const YAML::Node& node, std::string_view what, double* out);
  Status ReadString(const YAML::Node& node, std::string_view what, std::string* out);
  Status ExpectMap(const YAML::Node& node, std::string_view what);

  std::string Where(const YAML::Node& node) const;
  Status Error(const YAML::Node& node, std::string_view message) const {
    return Status::InvalidArgument(Where(node) + ": " + std::string(message));
  }
  void Warn(const YAML::Node& node, std::string_view message) {
    spec_->warnings.push_back(Where(node) + ": " + std::string(message));
  }
  // An unknown key: a warning, and one of spec_->unknown_keys, which a job refuses
  // unless told to allow them (UnknownKeysError). Where the key belongs to another
  // section, the message says which.
  void WarnUnknown(const YAML::Node& key, std::string_view section) {
    std::string message =
        "unknown key '" + key.Scalar() + "' in " + std::string(section) + " ignored";
    std::string home = SectionOfKey(key.Scalar(), section);
    if (!home.empty()) message += " (it belongs " + home + ")";
    Warn(key, message);
    spec_->unknown_keys.push_back(spec_->warnings.back());
  }

  // Whether one more `kind` (knob, metric) named `name` fits: `count` of them
  // already, at most `limit`, names of 1 to kMaxNameBytes bytes.
  Status CheckOneMore(const YAML::Node& node, const std::string& kind, size_t count,
                      size_t limit, const std::string& name) const {
    if (count >= limit)
      return Error(node, "more than " + std::to_string(limit) + " " + kind +
                             "s; that is the limit of one job");
    if (name.empty() || name.size() > limits::kMaxNameBytes)
      return Error(node, kind + " name '" + Excerpt(name) + "' must have 1 to " +
                             std::to_string(limits::kMaxNameBytes) + " characters");
    return Status::OK();
  }

  // Values a knob may still have: the per-knob limit, or what the job's total
  // leaves.
  size_t OptionsLeft() const {
    return std::min(limits::kMaxOptionsPerKnob, limits::kMaxOptionsTotal - options_);
  }
  std::string TooManyOptions() const {
    return "a knob has at most " + std::to_string(limits::kMaxOptionsPerKnob) +
           " values, and all the knobs of a job " +
           std::to_string(limits::kMaxOptionsTotal) + " together (" +
           std::to_string(options_) + " before this knob)";
  }

  std::string filename_;
  JobSpec* spec_;
  size_t options_ = 0;  // values of the knobs read so far
};

SourcePos PosOf(const YAML::Node& node) {
  YAML::Mark mark = node.Mark();
  if (mark.is_null()) return {};
  return {mark.line + 1, mark.column + 1};
}

std::string ConfigReader::Where(const YAML::Node& node) const {
  SourcePos pos = PosOf(node);
  if (pos.line == 0) return filename_;
  return filename_ + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
}

Status ConfigReader::ExpectMap(const YAML::Node& node, std::string_view what) {
  if (node.IsMap()) return Status::OK();
  if (node.IsNull())
    return Error(node, std::string(what) + " is empty; expected a mapping");
  return Error(node, std::string(what) + " must be a mapping of keys to values");
}

Status ConfigReader::ReadString(const YAML::Node& node, std::string_view what,
                                std::string* out) {
  if (!node.IsScalar()) return Error(node, std::string(what) + " must be a string");
  *out = node.Scalar();
  return Status::OK();
}

// "baseline", "baseline - 2%", "baseline+5 %": the offset in percent (0, -2, 5);
// nullopt when `text` is not of that form or the offset is not finite.
std::optional<double> BaselineOffsetPct(std::string_view text) {
  auto skip = [&] {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
      text.remove_prefix(1);
  };
  if (!text.starts_with("baseline")) return std::nullopt;
  text.remove_prefix(8);
  skip();
  if (text.empty()) return 0.0;
  char sign = text.front();
  if (sign != '+' && sign != '-') return std::nullopt;
  text.remove_prefix(1);
  skip();
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  if (!text.ends_with('%')) return std::nullopt;
  text.remove_suffix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  if (text.empty() || text.size() > 32 ||
      text.find_first_not_of("0123456789.") != std::string_view::npos)
    return std::nullopt;
  std::string number(text);
  char* end = nullptr;
  double pct = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || !std::isfinite(pct) || pct > 1e6)
    return std::nullopt;
  return sign == '-' ? -pct : pct;
}

Status ConfigReader::ReadNumber(const YAML::Node& node, std::string_view what,
                                double* out) {
  json value = node.IsScalar() ? ParseScalar(node.Scalar()) : json();
  if (!value.is_number()) return Error(node, std::string(what) + " must be a number");
  *out = value.get<double>();
  return Status::OK();
}

Status ConfigReader::ReadInt(const YAML::Node& node, std::string_view what, int64_t min,
                             int64_t* out) {
  json value = node.IsScalar() ? ParseScalar(node.Scalar()) : json();
  if (!value.is_number_integer() || value.get<int64_t>() < min)
    return Error(node, std::string(what) + " must be an integer of at least " +
                           std::to_string(min));
  *out = value.get<int64_t>();
  return Status::OK();
}

Status ConfigReader::ReadSeconds(const YAML::Node& node, std::string_view what,
                                 double* out) {
  if (!node.IsScalar() || !ParseDurationSeconds(node.Scalar(), out) || *out <= 0)
    return Error(node, std::string(what) +
                           " must be a positive duration: seconds, or a number with "
                           "ms, s, m or h");
  return Status::OK();
}

Status ConfigReader::ReadRoot(const YAML::Node& root) {
  if (root.IsNull()) return Status::InvalidArgument(filename_ + ": the file is empty");
  Status s = ExpectMap(root, "the top level");
  bool saw_domain = false;
  for (auto it = root.begin(); s.ok() && it != root.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (key == "domain") {
      saw_domain = true;
      s = ReadDomain(it->second);
    } else if (key == "global_settings") {
      s = ReadGlobalSettings(it->second);
    } else if (key == "workload") {
      s = ReadWorkload(it->second);
    } else if (key == "warm_start") {
      const YAML::Node list = it->second;  // a copy: the iterator yields a temporary
      if (!list.IsSequence()) {
        s = Error(list,
                  "warm_start must be a list of configurations ({knob: value, ...})");
      } else {
        for (const YAML::Node& entry : list) {
          if (spec_->warm_start.size() >= limits::kMaxWarmStart) {
            s = Error(entry, "more than " + std::to_string(limits::kMaxWarmStart) +
                                 " warm_start configurations; that is the limit");
            break;
          }
          if (!entry.IsMap()) {
            s = Error(entry, "every warm_start entry must map knob names to values");
            break;
          }
          json config = json::object();
          for (auto kv = entry.begin(); kv != entry.end(); ++kv) {
            if (!kv->second.IsScalar()) {
              s = Error(kv->second, "warm_start: the value of '" + kv->first.Scalar() +
                                        "' must be a scalar");
              break;
            }
            config[kv->first.Scalar()] = kv->second.Tag() == "!"
                                             ? json(kv->second.Scalar())
                                             : ParseScalar(kv->second.Scalar());
          }
          if (!s.ok()) break;
          spec_->warm_start.push_back(std::move(config));
        }
      }
    } else if (key == "import") {
      s = ReadImports(it->second);
    } else if (key == "constraints") {
      s = ReadConstraints(it->second);
    } else if (key == "strategy") {
      s = ReadString(it->second, "strategy", &spec_->settings.strategy);
      const std::string& name = spec_->settings.strategy;
      if (s.ok() && name != "model" && name != "random" && name != "exhaustive")
        s = Error(
            it->second,
            "strategy must be 'model', 'random' or 'exhaustive', not '" + name + "'");
    } else {
      WarnUnknown(it->first, "the top level");
    }
  }
  if (!s.ok()) return s;
  if (!saw_domain)
    return Status::InvalidArgument(filename_ +
                                   ": no 'domain' section; knobs and the target live "
                                   "under domain.common");
  if (spec_->knobs.empty() && spec_->imports.empty())
    return Status::InvalidArgument(filename_ +
                                   ": no knobs defined under domain.common.knobs");
  if (spec_->target.metric.empty())
    return Status::InvalidArgument(filename_ +
                                   ": no target; add e.g. 'target: my_metric:max' under "
                                   "domain.common");
  return CheckConstraints();
}

Status ConfigReader::ReadDomain(const YAML::Node& domain) {
  Status s = ExpectMap(domain, "domain");
  for (auto it = domain.begin(); s.ok() && it != domain.end(); ++it)
    s = ReadDomainSection(it->second);
  return s;
}

Status ConfigReader::ReadDomainSection(const YAML::Node& section) {
  Status s = ExpectMap(section, "a domain section");
  for (auto it = section.begin(); s.ok() && it != section.end(); ++it) {
    const std::string key = it->first.Scalar();
    const YAML::Node value = it->second;  // a copy: the iterator yields a temporary
    if (key == "knobs") {
      s = ExpectMap(value, "knobs");
      for (auto k = value.begin(); s.ok() && k != value.end(); ++k)
        s = ReadKnob(k->first.Scalar(), k->second);
    } else if (key == "metrics") {
      s = ExpectMap(value, "metrics");
      for (auto m = value.begin(); s.ok() && m != value.end(); ++m)
        s = ReadMetric(m->first.Scalar(), m->second);
    } else if (key == "target") {
      s = ReadTarget(value);
    } else if (key == "constraints") {
      s = ReadConstraints(value);
    } else if (key == "include_metrics") {
      if (!value.IsSequence())
        s = Error(value, "include_metrics must be a list of names");
    } else if (key == "plugins") {
      if (value.IsSequence() && value.size() > 0)
        Warn(value, "plugins are not supported by hone and are ignored");
    } else {
      WarnUnknown(it->first, "the domain section");
    }
  }
  return s;
}

Status ConfigReader::ReadKnob(const std::string& name, const YAML::Node& node) {
  Status limited = CheckOneMore(node, "knob", spec_->knobs.size(), limits::kMaxKnobs, name);
  if (!limited.ok()) return limited;
  for (const KnobSpec& k : spec_->knobs)
    if (k.name == name) return Error(node, "knob '" + name + "' is defined twice");
  KnobSpec knob;
  knob.name = name;
  knob.pos = PosOf(node);
  const std::string what = "knob '" + name + "'";
  // `vm.swappiness:` alone names a built-in knob with its whole domain.
  Status s = node.IsNull() ? Status::OK() : ExpectMap(node, what);
  bool has_options = false, has_range = false;
  for (auto it = node.begin(); s.ok() && node.IsMap() && it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    const YAML::Node value = it->second;  // a copy: the iterator yields a temporary
    if (key == "options") {
      has_options = true;
      if (value.IsSequence()) {
        for (const YAML::Node& option : value) {
          if (!option.IsScalar()) {
            s = Error(option, what + ": every option must be a scalar value");
            break;
          }
          if (option.Scalar().size() > limits::kMaxValueBytes) {
            s = Error(option, what + ": an option of " +
                                  std::to_string(option.Scalar().size()) +
                                  " characters is longer than the limit of " +
                                  std::to_string(limits::kMaxValueBytes));
            break;
          }
          if (knob.options.size() >= OptionsLeft()) {
            s = Error(option, what + ": " + TooManyOptions());
            break;
          }
          // A quoted scalar stays a string: options: ["1", "2"].
          knob.options.push_back(option.Tag() == "!" ? json(option.Scalar())
                                                     : ParseScalar(option.Scalar()));
        }
      } else if (value.IsScalar()) {
        s = ParseOptionList(value.Scalar(), OptionsLeft(), &knob.options);
        if (!s.ok()) s = Error(value, what + ": options: " + s.message());
      } else {
        s = Error(value, what + ": options must be a list");
      }
      if (s.ok() && knob.options.empty()) s = Error(value, what + ": options is empty");
    } else if (key == "options_script") {
      s = ReadString(value, what + ": options_script", &knob.options_script);
    } else if (key == "range") {
      has_range = true;
      s = ReadRange(value, &knob);
    } else if (key == "default") {
      if (!value.IsScalar())
        s = Error(value, what + ": default must be a scalar value");
      else
        knob.default_value =
            value.Tag() == "!" ? json(value.Scalar()) : ParseScalar(value.Scalar());
    } else if (key == "type") {
      KnobType type;
      if (!value.IsScalar() || !ParseKnobType(value.Scalar(), &type))
        s = Error(value, what +
                             ": type must be ordinal (ordered values: numbers, or text in "
                             "the listed order), boolean or categorical (unordered)");
      else
        knob.type = type;
    } else if (key == "description") {
      s = ReadString(value, what + ": description", &knob.description);
    } else if (key == "max_step") {
      double step = 0;
      s = ReadNumber(value, what + ": max_step", &step);
      if (s.ok() && !(step > 0 && std::isfinite(step)))
        s = Error(value, what +
                             ": max_step must be a positive number (the largest "
                             "change of the knob's value in one step of a live job)");
      knob.max_step = step;
    } else if (key == "get_script") {
      s = ReadString(value, what + ": get_script", &knob.get_script);
    } else if (key == "set_script") {
      s = ReadString(value, what + ": set_script", &knob.set_script);
    } else if (key == "devices_script") {
      s = ReadString(value, what + ": devices_script", &knob.devices_script);
    } else if (key == "pre_set_script") {
      s = ReadString(value, what + ": pre_set_script", &knob.pre_set_script);
    } else {
      WarnUnknown(it->first, what);
    }
  }
  if (!s.ok()) return s;
  // `type: boolean` alone means the options 0 and 1.
  if (knob.type == KnobType::kBoolean && !has_options && !has_range &&
      knob.options_script.empty()) {
    knob.options = {0, 1};
    has_options = true;
  }
  if (knob.type == KnobType::kBoolean && !knob.options.empty() && knob.options.size() != 2)
    return Error(node, what + " is boolean but has " +
                           std::to_string(knob.options.size()) +
                           " options; a boolean has two (off and on)");
  int sources = has_options + has_range + !knob.options_script.empty();
  bool scripted = !knob.get_script.empty() || !knob.set_script.empty() ||
                  !knob.devices_script.empty() || !knob.pre_set_script.empty();
  if (scripted) {
    if (knob.get_script.empty() || knob.set_script.empty())
      return Error(node, what + ": a script knob needs both get_script and set_script");
    if (sources == 0)
      return Error(node,
                   what + ": a script knob needs its values: give options or range");
    knob.kind = KnobKind::kScript;
  } else if (sources == 0) {
    knob.kind = KnobKind::kBuiltin;  // checked against honed's catalog at submit
  }
  if (sources > 1)
    return Error(node, what + ": give only one of options, options_script and range");
  options_ += knob.options.size();
  spec_->knobs.push_back(std::move(knob));
  return Status::OK();
}

Status ConfigReader::ReadConstraints(const YAML::Node& node) {
  if (!node.IsSequence())
    return Error(node, "constraints must be a list of expressions, e.g. "
                       "[\"block_x * block_y <= 1024\"]");
  for (const YAML::Node& entry : node) {
    if (!entry.IsScalar() || entry.Scalar().empty())
      return Error(entry, "every constraint must be an expression written as a string");
    if (spec_->constraints.size() >= limits::kMaxConstraints)
      return Error(entry, "more than " + std::to_string(limits::kMaxConstraints) +
                              " constraints; that is the limit of one job");
    spec_->constraints.push_back({entry.Scalar(), PosOf(entry)});
  }
  return Status::OK();
}

Status ConfigReader::CheckConstraints() const {
  // The syntax and the knob names now; the types once the options are known (they
  // may come from scripts), and imported built-in knobs only at submission.
  bool imports = !spec_->imports.empty();
  auto resolve = [this, imports](std::string_view name) {
    Expression::Variable v;
    v.untyped = true;
    v.found = imports;
    for (const KnobSpec& k : spec_->knobs)
      if (k.name == name) v.found = true;
    return v;
  };
  for (const ConstraintSpec& constraint : spec_->constraints) {
    Expression expression;
    Status s = Expression::Compile(constraint.text, resolve, &expression);
    if (s.ok()) continue;
    std::string where = filename_;
    if (constraint.pos.line)
      where += ":" + std::to_string(constraint.pos.line) + ":" +
               std::to_string(constraint.pos.column);
    std::string message =
        where + ": constraint '" + Excerpt(constraint.text) + "': " + s.message();
    if (s.message().find("unknown knob") != std::string::npos) {
      std::string known;
      for (const KnobSpec& k : spec_->knobs) known += (known.empty() ? "" : ", ") + k.name;
      message += " (the knobs are: " + known + ")";
    }
    return Status::InvalidArgument(message);
  }
  return Status::OK();
}

Status ConfigReader::ReadImports(const YAML::Node& node) {
  Status s = ExpectMap(node, "import");
  for (auto it = node.begin(); s.ok() && it != node.end(); ++it) {
    ImportSpec import;
    import.source = it->first.Scalar();
    import.pos = PosOf(it->first);
    const std::string what = "import." + import.source;
    if (import.source != "builtin") {
      s = Error(it->first,
                "import '" + import.source +
                    "' is not known; hone imports from 'builtin' (see hone knobs)");
      break;
    }
    const YAML::Node body = it->second;  // a copy: the iterator yields a temporary
    s = body.IsNull() ? Status::OK() : ExpectMap(body, what);
    for (auto f = body.begin(); s.ok() && body.IsMap() && f != body.end(); ++f) {
      const std::string key = f->first.Scalar();
      std::vector<std::string>* list = key == "include_knobs"   ? &import.include
                                       : key == "exclude_knobs" ? &import.exclude
                                                                : nullptr;
      if (!list) {
        WarnUnknown(f->first, what);
        continue;
      }
      if (!f->second.IsSequence()) {
        s = Error(f->second, what + "." + key + " must be a list of regular expressions");
        break;
      }
      const YAML::Node patterns = f->second;  // a copy: the iterator yields a temporary
      for (const YAML::Node& re : patterns) {
        Pattern check;
        Status compiled = Pattern::Compile(re.Scalar(), &check);
        if (!compiled.ok()) {
          s = Error(re, what + "." + key + ": " + compiled.message());
          break;
        }
        list->push_back(re.Scalar());
      }
    }
    if (s.ok()) spec_->imports.push_back(std::move(import));
  }
  return s;
}

Status ConfigReader::ReadRange(const YAML::Node& node, KnobSpec* knob) {
  const std::string what = "knob '" + knob->name + "': range";
  Status s = ExpectMap(node, what);
  double min = 0, max = 0, step = 1;
  bool has_min = false, has_max = false;
  bool integral = true;
  for (auto it = node.begin(); s.ok() && it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    double* field = key == "min"    ? &min
                    : key == "max"  ? &max
                    : key == "step" ? &step
                                    : nullptr;
    if (!field) {
      s = Error(it->first, what + ": unknown key '" + key + "'; use min, max and step");
      break;
    }
    s = ReadNumber(it->second, what + "." + key, field);
    if (s.ok() && !ParseScalar(it->second.Scalar()).is_number_integer()) integral = false;
    has_min |= key == "min";
    has_max |= key == "max";
  }
  if (!s.ok()) return s;
  if (!has_min || !has_max) return Error(node, what + " needs both min and max");
  if (!(step > 0)) return Error(node, what + ".step must be positive");
  if (max < min) return Error(node, what + ".max is below range.min");
  double count = std::floor((max - min) / step + 1e-9) + 1;
  if (!(count <= static_cast<double>(OptionsLeft())))
    return Error(node, what + " has " + std::to_string(static_cast<int64_t>(
                                            std::min(count, 9.2e18))) +
                           " values; " + TooManyOptions());
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) {
    double v = min + static_cast<double>(i) * step;
    if (integral)
      knob->options.push_back(static_cast<int64_t>(std::llround(v)));
    else
      knob->options.push_back(std::round(v * 1e9) / 1e9);
  }
  return Status::OK();
}

Status ConfigReader::ReadMetric(const std::string& name, const YAML::Node& node) {
  Status limited =
      CheckOneMore(node, "metric", spec_->metrics.size(), limits::kMaxMetrics, name);
  if (!limited.ok()) return limited;
  if (spec_->FindMetric(name))
    return Error(node, "metric '" + name + "' is defined twice");
  if (name == "duration")
    return Error(node, "'duration' is a built-in metric; give yours another name");
  MetricSpec metric;
  metric.name = name;
  metric.pos = PosOf(node);
  const std::string what = "metric '" + name + "'";
  Status s = ExpectMap(node, what);
  bool has_script = false, has_pattern = false;
  int sources = 0;  // sample_script, pattern, push, pressure, cgroup_stat, perf
  auto word = [&](const YAML::Node& value, const std::string& field,
                  std::initializer_list<const char*> allowed, std::string* out) {
    Status read = ReadString(value, what + ": " + field, out);
    if (!read.ok()) return read;
    std::string list;
    for (const char* a : allowed) {
      if (*out == a) return Status::OK();
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    return Error(value, what + ": " + field + " must be one of " + list);
  };
  for (auto it = node.begin(); s.ok() && it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    const YAML::Node value = it->second;  // a copy: the iterator yields a temporary
    if (key == "push") {
      ++sources;
      metric.kind = MetricKind::kPush;
      if (!value.IsScalar() || value.Scalar() != "true")
        s = Error(value, what +
                             ": push must be true (the service sends the values: hone "
                             "push, or a StatsD line on honed's metrics socket)");
    } else if (key == "pressure") {
      ++sources;
      metric.kind = MetricKind::kPressure;
      s = word(value, "pressure", {"cpu", "memory", "io"}, &metric.resource);
    } else if (key == "line") {
      s = word(value, "line", {"some", "full"}, &metric.line);
    } else if (key == "field") {
      s = word(value, "field", {"avg10", "avg60", "avg300", "total"}, &metric.field);
    } else if (key == "cgroup_stat") {
      ++sources;
      metric.kind = MetricKind::kCgroupStat;
      s = word(value, "cgroup_stat", {"cpu.stat", "memory.stat", "io.stat"},
               &metric.resource);
    } else if (key == "key") {
      s = ReadString(value, what + ": key", &metric.key);
    } else if (key == "perf") {
      ++sources;
      metric.kind = MetricKind::kPerf;
      s = word(value, "perf", {"instructions", "cycles", "ipc"}, &metric.resource);
    } else if (key == "cgroup") {
      s = ReadString(value, what + ": cgroup", &metric.cgroup);
      if (s.ok() && (metric.cgroup.rfind("/sys/fs/cgroup", 0) != 0 ||
                     metric.cgroup.find("..") != std::string::npos))
        s = Error(value, what + ": cgroup must be a directory under /sys/fs/cgroup");
    } else if (key == "rate") {
      if (!value.IsScalar() || (value.Scalar() != "true" && value.Scalar() != "false"))
        s = Error(value, what + ": rate must be true or false");
      else
        metric.rate = value.Scalar() == "true";
    } else if (key == "guard") {
      s = ExpectMap(value, what + ": guard");
      for (auto g = value.begin(); s.ok() && g != value.end(); ++g) {
        const std::string bound = g->first.Scalar();
        double limit = 0;
        if (bound != "min" && bound != "max") {
          s = Error(g->first, what + ": guard takes min and max (the metric's limits)");
          break;
        }
        if (g->second.IsScalar() && g->second.Scalar().starts_with("baseline")) {
          // Relative to the baseline's own value (sync jobs): "baseline", or
          // "baseline - 2%" / "baseline + 5%".
          std::optional<double> pct = BaselineOffsetPct(g->second.Scalar());
          if (!pct) {
            s = Error(g->second,
                      what + ": guard." + bound +
                          " must be a number, 'baseline', or 'baseline - N%' / "
                          "'baseline + N%' (relative to the baseline's value)");
            break;
          }
          (bound == "min" ? metric.guard_min_baseline_pct
                          : metric.guard_max_baseline_pct) = *pct;
          continue;
        }
        s = ReadNumber(g->second, what + ": guard." + bound, &limit);
        if (s.ok() && !std::isfinite(limit))
          s = Error(g->second, what + ": guard." + bound + " must be finite");
        (bound == "min" ? metric.guard_min : metric.guard_max) = limit;
      }
    } else if (key == "sample_script") {
      ++sources;
      has_script = true;
      s = ReadString(value, what + ": sample_script", &metric.script);
    } else if (key == "pattern") {
      ++sources;
      has_pattern = true;
      s = ReadString(value, what + ": pattern", &metric.pattern);
      if (s.ok()) {
        Pattern check;
        Status compiled = Pattern::Compile(metric.pattern, &check);
        if (!compiled.ok()) s = Error(value, what + ": pattern " + compiled.message());
      }
    } else if (key == "source") {
      s = ReadString(value, what + ": source", &metric.source);
      if (s.ok() && metric.source != "stdout" && metric.source != "stderr")
        s = Error(value, what + ": source must be stdout or stderr");
    } else if (key == "partial") {
      if (!value.IsScalar() || (value.Scalar() != "true" && value.Scalar() != "false"))
        s = Error(value, what + ": partial must be true or false");
      else
        metric.partial = value.Scalar() == "true";
    } else if (key == "aggregated" || key == "description") {
      // Accepted for compatibility; every sample is one measurement.
    } else {
      WarnUnknown(it->first, what);
    }
  }
  if (!s.ok()) return s;
  if (sources != 1)
    return Error(node, what +
                           " needs exactly one of sample_script and pattern (or, for a "
                           "live job, push, pressure, cgroup_stat or perf)");
  if (has_script || has_pattern)
    metric.kind = has_script ? MetricKind::kScript : MetricKind::kPattern;
  if (metric.kind == MetricKind::kCgroupStat &&
      (metric.key.empty() || metric.cgroup.empty()))
    return Error(node, what +
                           ": cgroup_stat needs the cgroup directory and the key to read "
                           "(cgroup: /sys/fs/cgroup/..., key: usage_usec)");
  if ((metric.guard_min && metric.guard_max && *metric.guard_min > *metric.guard_max) ||
      (metric.guard_min_baseline_pct && metric.guard_max_baseline_pct &&
       *metric.guard_min_baseline_pct > *metric.guard_max_baseline_pct))
    return Error(node, what + ": guard.min is above guard.max");
  if (metric.partial && has_script)
    return Error(node, what + ": partial applies to pattern metrics only (hone reads "
                              "them while the workload runs; a sample_script runs after)");
  spec_->metrics.push_back(std::move(metric));
  return Status::OK();
}

Status ConfigReader::ReadTarget(const YAML::Node& node) {
  std::string goal;
  if (node.IsScalar()) {
    const std::string& text = node.Scalar();
    size_t colon = text.rfind(':');
    if (colon == std::string::npos)
      return Error(node, "target '" + text + "' needs a goal: write " + text +
                             ":max or " + text + ":min");
    spec_->target.metric = text.substr(0, colon);
    goal = text.substr(colon + 1);
  } else if (node.IsMap()) {
    Status s;
    if (node["name"]) s = ReadString(node["name"], "target.name", &spec_->target.metric);
    if (s.ok() && node["goal"]) s = ReadString(node["goal"], "target.goal", &goal);
    if (s.ok() && node["expression"]) {
      s = ReadString(node["expression"], "target.expression", &spec_->target_expression);
      if (s.ok() && spec_->target_expression.empty())
        s = Error(node["expression"], "target.expression is empty");
      if (s.ok() && spec_->target.metric.empty()) spec_->target.metric = "target";
    }
    if (!s.ok()) return s;
    if (spec_->target.metric.empty()) return Error(node, "target needs a name");
  } else {
    return Error(node,
                 "target must be 'metric:max', 'metric:min', {name, goal} or "
                 "{expression, goal}");
  }
  if (goal == "max")
    spec_->target.goal = Goal::kMax;
  else if (goal == "min")
    spec_->target.goal = Goal::kMin;
  else
    return Error(node, "target goal must be max or min, not '" + goal + "'");
  return Status::OK();
}

Status ConfigReader::ReadGlobalSettings(const YAML::Node& node) {
  Settings& settings = spec_->settings;
  Status s = ExpectMap(node, "global_settings");
  for (auto it = node.begin(); s.ok() && it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    const YAML::Node value = it->second;  // a copy: the iterator yields a temporary
    int64_t n = 0;
    if (key == "min_baseline_samples") {
      s = ReadInt(value, key, 1, &n);
      settings.min_baseline_samples = static_cast<int>(std::min<int64_t>(n, 1000));
    } else if (key == "min_samples_per_config") {
      s = ReadInt(value, key, 1, &n);
      settings.min_samples_per_config = static_cast<int>(std::min<int64_t>(n, 1000));
      settings.min_samples_per_config_given = true;
    } else if (key == "sampling_interval") {
      s = ReadSeconds(value, key, &settings.sampling_interval_s);
      if (s.ok() &&
          (settings.sampling_interval_s < 0.01 || settings.sampling_interval_s > 86400))
        s = Error(value, "sampling_interval must be between 10ms and 24h");
    } else if (key == "max_regression_pct") {
      s = ReadNumber(value, key, &settings.max_regression_pct);
      if (s.ok() &&
          !(settings.max_regression_pct > 0 && settings.max_regression_pct <= 100))
        s = Error(value,
                  "max_regression_pct must be a percentage above 0 and at most 100");
    } else if (key == "min_dwell") {
      s = ReadSeconds(value, key, &settings.min_dwell_s);
      if (s.ok() && settings.min_dwell_s > 7 * 86400)
        s = Error(value, "min_dwell must be at most a week");
    } else if (key == "max_changes_per_hour") {
      s = ReadInt(value, key, 2, &n);
      settings.max_changes_per_hour = static_cast<int>(std::min<int64_t>(n, 1000000));
    } else if (key == "mode") {
      s = ReadString(value, key, &settings.live_mode);
      if (s.ok() && settings.live_mode != "tune" && settings.live_mode != "recommend" &&
          settings.live_mode != "best" && settings.live_mode != "static-best")
        s = Error(value, "mode '" + settings.live_mode +
                             "' is not known; use tune, recommend, best or static-best "
                             "(live jobs only)");
    } else if (key == "phase_signature") {
      s = ReadString(value, key, &settings.phase_signature);
      if (s.ok() && settings.phase_signature != "processes" &&
          settings.phase_signature != "none")
        s = Error(value, "phase_signature '" + settings.phase_signature +
                             "' is not known; use processes (the programs that use the "
                             "CPU tell the workload's phases apart) or none (live jobs "
                             "only)");
    } else if (key == "target_improvement_pct") {
      s = ReadNumber(value, key, &settings.target_improvement_pct);
      if (s.ok() && !(settings.target_improvement_pct > 0))
        s = Error(value, "target_improvement_pct must be positive");
    } else if (key == "early_stop_pct") {
      s = ReadNumber(value, key, &settings.early_stop_pct);
      if (s.ok() && !(settings.early_stop_pct > 0))
        s = Error(value, "early_stop_pct must be positive (leave it out to never stop "
                         "a run early)");
    } else if (key == "max_interference_pct") {
      s = ReadNumber(value, key, &settings.max_interference_pct);
      if (s.ok() &&
          !(settings.max_interference_pct >= 0 && settings.max_interference_pct <= 100))
        s = Error(value,
                  "max_interference_pct must be a percentage from 0 (never flag "
                  "a sample) to 100");
    } else if (key == "interference_repeats") {
      s = ReadInt(value, key, 0, &n);
      if (s.ok() && n > 10) s = Error(value, "interference_repeats must be at most 10");
      settings.interference_repeats = static_cast<int>(std::min<int64_t>(n, 10));
    } else if (key == "quiet_wait") {
      s = ReadSeconds(value, key, &settings.quiet_wait_s);
      if (s.ok() && settings.quiet_wait_s > 3600)
        s = Error(value, "quiet_wait must be at most an hour");
    } else if (key == "converge_after") {
      s = ReadInt(value, key, 0, &n);
      settings.converge_after = static_cast<int>(std::min<int64_t>(n, 1000000));
    } else if (key == "confirm_samples") {
      s = ReadInt(value, key, 1, &n);
      settings.confirm_samples = static_cast<int>(std::min<int64_t>(n, 1000));
    } else if (key == "race_pct") {
      s = ReadInt(value, key, 0, &n);
      if (s.ok() && n > 50)
        s = Error(value, "race_pct must be at most 50 (percent of the samples kept for "
                         "the final race)");
      settings.race_pct = static_cast<int>(n);
    } else if (key == "max_configs") {
      s = ReadInt(value, key, 1, &settings.max_configs);
    } else if (key == "max_samples") {
      s = ReadInt(value, key, 1, &settings.max_samples);
    } else if (key == "max_minutes") {
      s = ReadNumber(value, key, &settings.max_minutes);
      if (s.ok() && !(settings.max_minutes > 0))
        s = Error(value, "max_minutes must be positive");
    } else if (key == "seed") {
      s = ReadInt(value, key, 0, &n);
      settings.seed = static_cast<uint64_t>(n);
    } else if (key == "script_timeout") {
      s = ReadSeconds(value, key, &settings.script_timeout_s);
    } else {
      WarnUnknown(it->first, "global_settings");
    }
  }
  return s;
}

Status ConfigReader::ReadWorkload(const YAML::Node& node) {
  Status s = ExpectMap(node, "workload");
  for (auto it = node.begin(); s.ok() && it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    const YAML::Node value = it->second;  // a copy: the iterator yields a temporary
    if (key == "kind") {
      std::string kind;
      s = ReadString(value, "workload.kind", &kind);
      if (s.ok() && kind != "sync" && kind != "live")
        s = Error(value, "workload.kind '" + kind +
                             "' is not known; use sync (honed runs "
                             "the workload for every sample) or live "
                             "(a service that runs on its own)");
      spec_->workload.live = kind == "live";
    } else if (key == "run") {
      s = ExpectMap(value, "workload.run");
      for (auto r = value.begin(); s.ok() && r != value.end(); ++r) {
        const std::string rkey = r->first.Scalar();
        if (rkey == "command") {
          const YAML::Node args = r->second;  // a copy: the iterator yields a temporary
          if (args.IsSequence()) {
            for (const YAML::Node& arg : args) {
              if (!arg.IsScalar()) {
                s = Error(arg, "workload.run.command: every argument must be a string");
                break;
              }
              spec_->workload.argv.push_back(arg.Scalar());
            }
          } else {
            s = ReadString(r->second, "workload.run.command", &spec_->workload.shell);
          }
        } else if (rkey == "timeout") {
          s = ReadSeconds(r->second, "workload.run.timeout", &spec_->workload.timeout_s);
        } else {
          WarnUnknown(r->first, "workload.run");
        }
      }
    } else {
      WarnUnknown(it->first, "workload");
    }
  }
  return s;
}

// Every scalar of the document (keys included) must be valid UTF-8: YAML's escapes
// ("\xff") can make bytes that JSON, the store and the protocol cannot carry. An
// explicit stack, not recursion: the document's depth is the sender's to choose.
Status CheckScalars(const YAML::Node& root, std::string_view filename) {
  // Aliases share nodes, so a small file can name a huge tree ("billion laughs"):
  // the walk stops past a bound no honest config comes near.
  constexpr size_t kMaxNodes = 1'000'000;
  size_t visited = 0;
  std::vector<YAML::Node> pending = {root};
  while (!pending.empty()) {
    if (++visited > kMaxNodes)
      return Status::InvalidArgument(std::string(filename) + ": more than " +
                                     std::to_string(kMaxNodes) +
                                     " values once aliases are expanded; that is the "
                                     "limit");
    YAML::Node node = pending.back();
    pending.pop_back();
    if (node.IsScalar()) {
      if (IsUtf8(node.Scalar())) continue;
      std::string where(filename);
      if (!node.Mark().is_null())
        where += ":" + std::to_string(node.Mark().line + 1) + ":" +
                 std::to_string(node.Mark().column + 1);
      return Status::InvalidArgument(where + ": the value is not valid UTF-8");
    }
    if (node.IsSequence()) {
      for (const YAML::Node& child : node) pending.push_back(child);
    } else if (node.IsMap()) {
      for (auto it = node.begin(); it != node.end(); ++it) {
        pending.push_back(it->first);
        pending.push_back(it->second);
      }
    }
  }
  return Status::OK();
}

}  // namespace

std::string_view GoalName(Goal goal) { return goal == Goal::kMax ? "max" : "min"; }

bool JobSpec::HasKind(KnobKind kind) const {
  for (const KnobSpec& k : knobs)
    if (k.kind == kind) return true;
  return kind == KnobKind::kBuiltin && !imports.empty();
}

const MetricSpec* JobSpec::FindMetric(std::string_view name) const {
  for (const MetricSpec& m : metrics)
    if (m.name == name) return &m;
  return nullptr;
}

Status ConfigReader::ReadOverride(const std::string& key, const std::string& value) {
  const KeyHome& global =
      *std::find_if(KeyHomes().begin(), KeyHomes().end(), [](const KeyHome& home) {
        return std::string(home.where) == "under global_settings";
      });
  bool known = std::find_if(global.keys.begin(), global.keys.end(),
                            [&](const char* k) { return key == k; }) != global.keys.end();
  if (key == "strategy") {
    YAML::Node root;
    root["strategy"] = value;
    YAML::Node node = root["strategy"];
    const std::string& name = value;
    if (name != "model" && name != "random" && name != "exhaustive")
      return Error(node, "strategy must be 'model', 'random' or 'exhaustive', not '" +
                             Printable(name, 40) + "'");
    spec_->settings.strategy = name;
    return Status::OK();
  }
  if (!known) {
    std::string keys;
    for (const char* k : global.keys) keys += std::string(keys.empty() ? "" : ", ") + k;
    return Status::InvalidArgument(filename_ + ": '" + Printable(key, 40) +
                                   "' is not a setting; --set takes strategy or a "
                                   "global_settings key: " +
                                   keys);
  }
  YAML::Node settings;
  settings[key] = value;
  return ReadGlobalSettings(settings);
}

Status ApplyOverrides(const std::vector<std::string>& overrides, JobSpec* spec) {
  if (overrides.size() > limits::kMaxOverrides)
    return Status::InvalidArgument("more than " + std::to_string(limits::kMaxOverrides) +
                                   " --set overrides");
  for (const std::string& override : overrides) {
    size_t eq = override.find('=');
    if (override.size() > limits::kMaxValueBytes || eq == std::string::npos || eq == 0)
      return Status::InvalidArgument("--set '" + Printable(override, 60) +
                                     "': write it as KEY=VALUE (--set max_configs=40)");
    std::string key = override.substr(0, eq), value = override.substr(eq + 1);
    try {
      ConfigReader reader("--set " + Printable(override, 60), spec);
      Status s = reader.ReadOverride(key, value);
      if (!s.ok()) return s;
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument("--set '" + Printable(override, 60) +
                                     "': " + e.what());
    }
  }
  return Status::OK();
}

Status ParseConfig(std::string_view text, std::string_view filename, JobSpec* spec) {
  *spec = JobSpec();
  if (text.size() > limits::kMaxConfigBytes)
    return Status::InvalidArgument(std::string(filename) + ": the config is " +
                                   std::to_string(text.size()) +
                                   " bytes; the limit is " +
                                   std::to_string(limits::kMaxConfigBytes));
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    std::string where(filename);
    if (!e.mark.is_null())
      where +=
          ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    return Status::InvalidArgument(where + ": invalid YAML: " + e.msg);
  }
  try {
    Status s = CheckScalars(root, filename);
    if (!s.ok()) return s;
    ConfigReader reader(filename, spec);
    return reader.ReadRoot(root);
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on some malformed shapes (e.g. a non-scalar mapping key).
    return Status::InvalidArgument(std::string(filename) + ": " + e.what());
  }
}

namespace {

Status CompleteLiveSpec(const std::vector<std::string>& command, JobSpec* spec);

// "target metric 'x' is not defined; defined: a, b" and `hint`.
Status UndefinedTarget(const JobSpec& spec, const std::string& hint) {
  std::string known;
  for (const MetricSpec& m : spec.metrics) known += (known.empty() ? "" : ", ") + m.name;
  return Status::InvalidArgument(
      "target metric '" + spec.target.metric + "' is not defined; " +
      (known.empty() ? std::string("no metrics are defined") : "defined: " + known) + hint);
}

}  // namespace

Status UnknownKeysError(const JobSpec& spec) {
  if (spec.unknown_keys.empty()) return Status::OK();
  std::string message;
  for (const std::string& key : spec.unknown_keys) message += "\n  " + key;
  return Status::InvalidArgument(
      std::to_string(spec.unknown_keys.size()) +
      " unknown key(s), which a job would ignore:" + message +
      "\nFix or remove them, or pass --allow-unknown to run with them ignored");
}

Status CompleteSpec(const std::vector<std::string>& command, JobSpec* spec) {
  if (spec->workload.live) return CompleteLiveSpec(command, spec);
  if (!spec->target_expression.empty())
    return Status::InvalidArgument(
        "target.expression: a target computed from other metrics is for live jobs "
        "(workload.kind: live); a sync job measures one metric");
  if (spec->settings.phase_signature != "none")
    return Status::InvalidArgument(
        "phase_signature tells the phases of a live job's workload apart; a sync job "
        "(this one) has none: remove it or set workload.kind: live");
  if (!command.empty()) {
    spec->workload.argv = command;
    spec->workload.shell.clear();
  }
  if (spec->workload.empty())
    return Status::InvalidArgument(
        "no workload: give the command after '--' (hone run knobs.yaml -- ./bench.sh) or "
        "set workload.run.command in the config");
  const std::string& target = spec->target.metric;
  if (target == "duration" && !spec->FindMetric("duration")) {
    MetricSpec duration;
    duration.name = "duration";
    duration.kind = MetricKind::kDuration;
    spec->metrics.push_back(duration);
  }
  const MetricSpec* metric = spec->FindMetric(target);
  if (!metric)
    return UndefinedTarget(*spec, " (the built-in 'duration' is always available)");
  for (const MetricSpec& m : spec->metrics)
    if (m.kind == MetricKind::kPush || m.kind == MetricKind::kPressure ||
        m.kind == MetricKind::kCgroupStat || m.kind == MetricKind::kPerf)
      return Status::InvalidArgument("metric '" + m.name +
                                     "' is read while a service runs on its own: push, "
                                     "pressure, cgroup_stat and perf metrics are for "
                                     "live jobs (workload.kind: live)");
  if (spec->settings.early_stop_pct > 0 && !CanStopEarly(*spec))
    return Status::InvalidArgument(
        "early_stop_pct: hone cannot tell part way through a run that '" + target +
        "' is worse; early stopping needs the built-in duration metric with goal min, "
        "or a pattern metric with partial: true (the workload prints the value as it "
        "goes)");
  return Status::OK();
}

namespace {

Status CompleteLiveSpec(const std::vector<std::string>& command, JobSpec* spec) {
  if (!command.empty() || !spec->workload.empty())
    return Status::InvalidArgument(
        "workload.kind is live: honed runs no workload, the service runs on its own; "
        "leave out the command after '--' and workload.run");
  for (const MetricSpec& m : spec->metrics)
    if (m.guard_min_baseline_pct || m.guard_max_baseline_pct)
      return Status::InvalidArgument(
          "metric '" + m.name +
          "': a guard relative to the baseline is for sync jobs; a live job's guard "
          "limits are numbers (its regressions are measured against the incumbent)");
  const std::string& target = spec->target.metric;
  const MetricSpec* made = spec->FindMetric(target);
  if (!spec->target_expression.empty() &&
      !(made && made->kind == MetricKind::kExpression)) {  // completed once already
    if (made)
      return Status::InvalidArgument("target.name '" + target +
                                     "' is a metric already; an expression target needs "
                                     "a name of its own");
    Expression check;
    Status s = Expression::Compile(
        spec->target_expression,
        [&](std::string_view name) {
          Expression::Variable v;
          for (size_t i = 0; i < spec->metrics.size(); ++i)
            if (spec->metrics[i].name == name) v.found = true, v.slot = i;
          return v;
        },
        &check, "metric");
    if (!s.ok())
      return s.WithContext("target.expression '" + spec->target_expression + "'");
    MetricSpec derived;
    derived.name = target;
    derived.kind = MetricKind::kExpression;
    derived.expression = spec->target_expression;
    spec->metrics.push_back(std::move(derived));
  }
  const MetricSpec* metric = spec->FindMetric(target);
  if (!metric) return UndefinedTarget(*spec, "");
  for (const MetricSpec& m : spec->metrics)
    if (m.kind == MetricKind::kPattern || m.kind == MetricKind::kDuration)
      return Status::InvalidArgument(
          "metric '" + m.name +
          "': a live job samples its metrics every sampling_interval "
          "(sample_script, push, pressure, cgroup_stat, perf); there is no workload run "
          "whose output or duration to read");
  if (spec->settings.early_stop_pct > 0)
    return Status::InvalidArgument("early_stop_pct applies to sync jobs only");
  if (spec->settings.min_dwell_s > 0 &&
      spec->settings.min_dwell_s < spec->settings.sampling_interval_s)
    return Status::InvalidArgument(
        "min_dwell is shorter than sampling_interval: no configuration can be held for "
        "less than one sample");
  return Status::OK();
}

}  // namespace

bool CanStopEarly(const JobSpec& spec) {
  const MetricSpec* metric = spec.FindMetric(spec.target.metric);
  if (!metric) return false;
  if (metric->kind == MetricKind::kDuration) return spec.target.goal == Goal::kMin;
  return metric->kind == MetricKind::kPattern && metric->partial;
}

Status ParseOptionList(std::string_view output, size_t limit, std::vector<json>* values) {
  values->clear();
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
                                   c == '\f' || c == '\v'; };
  size_t at = 0;
  while (at < output.size()) {
    while (at < output.size() && space(output[at])) ++at;
    size_t start = at;
    while (at < output.size() && !space(output[at])) ++at;
    if (at == start) break;
    std::string_view token = output.substr(start, at - start);
    if (!IsUtf8(token))
      return Status::InvalidArgument("option " + std::to_string(values->size() + 1) +
                                     " is not valid UTF-8");
    if (token.size() > limits::kMaxValueBytes)
      return Status::InvalidArgument(
          "option " + std::to_string(values->size() + 1) + " has " +
          std::to_string(token.size()) + " characters; the limit is " +
          std::to_string(limits::kMaxValueBytes));
    if (values->size() >= limit)
      return Status::InvalidArgument("more than " + std::to_string(limit) +
                                     " options; that is the limit");
    values->push_back(ParseScalar(token));
  }
  return Status::OK();
}

json ParseScalar(std::string_view text) {
  std::string s(text);
  if (IsInteger(s)) {
    int64_t value = 0;
    const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
    auto [ptr, ec] = std::from_chars(begin, s.data() + s.size(), value);
    if (ec == std::errc() && ptr == s.data() + s.size()) return value;
  }
  if (IsNumber(s)) {
    double value = std::strtod(s.c_str(), nullptr);
    if (std::isfinite(value)) return value;
  }
  return s;
}

bool ParseDurationSeconds(std::string_view text, double* seconds) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
                                   c == '\f' || c == '\v'; };
  size_t at = 0;
  while (at < text.size() && space(text[at])) ++at;
  size_t start = at;
  while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
  if (at == start) return false;
  if (at < text.size() && text[at] == '.') {
    ++at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
  }
  double value = std::strtod(std::string(text.substr(start, at - start)).c_str(), nullptr);
  while (at < text.size() && space(text[at])) ++at;
  std::string_view unit = text.substr(at);
  while (!unit.empty() && space(unit.back())) unit.remove_suffix(1);
  double scale = unit == "ms" ? 0.001 : unit == "m" ? 60 : unit == "h" ? 3600 : 1;
  if (!unit.empty() && unit != "ms" && unit != "s" && unit != "m" && unit != "h")
    return false;
  *seconds = value * scale;
  return true;
}

std::string ValueToString(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

}  // namespace hone
