// What the kinds of system knob share (knobs.cc: files and MSR fields;
// script_knob.cc: script-defined knobs). Private to daemon/knobs/.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "daemon/knobs/knobs.h"

namespace hone::knobs_internal {

using nlohmann::json;

inline constexpr const char* kScriptPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Bytes of a failing script's stderr quoted in its Status.
inline constexpr size_t kStderrTail = 400;

inline std::string Trim(std::string_view text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return std::string(text.substr(begin, end - begin));
}

inline std::vector<std::string> SplitWords(std::string_view text) {
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

inline bool ParseInt(const std::string& text, int64_t* value) {
  json parsed = ParseScalar(text);
  if (!parsed.is_number_integer()) return false;
  *value = parsed.get<int64_t>();
  return true;
}

// "0-3,8": the kernel's cpu list format.
inline std::string FormatCpuList(std::vector<int> cpus) {
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
inline std::string DescribeDomain(const std::vector<json>& domain) {
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

  friend Status LoadAccepted(const nlohmann::json& recipe, KnobBase* knob);
};

// The recipe's "accept" list: values the rebuilt knob takes besides its domain.
Status LoadAccepted(const json& recipe, KnobBase* knob);
// Checks a script knob's spec (names, scripts, options, timeout).
Status CheckScriptSpec(const ScriptKnobSpec& spec);
// The script knob a recipe describes (script_knob.cc).
Status ScriptKnobFromRecipe(const json& recipe, std::unique_ptr<SystemKnob>* knob);

}  // namespace hone::knobs_internal
