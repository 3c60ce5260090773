#include "common/export.h"

#include <algorithm>
#include <vector>

#include "common/config.h"
#include "common/report.h"
#include "common/scan.h"
#include "common/space.h"

namespace hone {

using nlohmann::json;

namespace {

constexpr size_t kQuoted = 80;  // bytes of a name or value quoted in a comment

std::string Str(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_string()) return "";
  return object[key].get<std::string>();
}

// The knobs of the reply that are objects with a string name and a value.
std::vector<json> Knobs(const json& exported) {
  std::vector<json> knobs;
  if (!exported.is_object() || !exported.contains("knobs") ||
      !exported["knobs"].is_array())
    return knobs;
  for (const json& k : exported["knobs"])
    if (k.is_object() && k.contains("name") && k["name"].is_string() &&
        k.contains("value"))
      knobs.push_back(k);
  return knobs;
}

bool Control(const std::string& text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
}

// What a line of a key-value file may hold: no control character, and neither
// leading nor trailing blanks (which the readers would strip).
bool Carries(const std::string& text) {
  return !text.empty() && !Control(text) && text.front() != ' ' && text.back() != ' ';
}

// The same in tuned.conf, which TuneD reads with Python's configparser: '#' starts an
// inline comment there, and '=' ends a key.
bool CarriesInTuned(const std::string& text) {
  return Carries(text) && text.find('#') == std::string::npos;
}
bool TunedKey(const std::string& text) {
  return CarriesInTuned(text) && text.find('=') == std::string::npos &&
         text.front() != '[';
}

std::string Quoted(const std::string& text) { return Printable(text, kQuoted); }

// The job's number as the reply has it, when it is a whole number; "?" otherwise
// (a float, even a whole one, is not converted: it may be out of any integer's range).
std::string JobNumber(const json& exported) {
  if (!exported.is_object() || !exported.contains("job") ||
      !exported["job"].is_number_integer())
    return "?";
  return exported["job"].dump();
}

// "# hone job 3 (completed): best for shell.rate (max), +4.3% [1.2, 7.4]"
std::string Header(const json& exported, const std::string& comment) {
  std::string line = comment + " hone job " + JobNumber(exported);
  std::string state = Str(exported, "state");
  if (!state.empty()) line += " (" + Quoted(state) + ")";
  line += ": its best settings";
  const json target =
      exported.is_object() && exported.contains("target") ? exported["target"] : json();
  if (target.is_object()) {
    line += " for " + Quoted(Str(target, "metric"));
    std::string goal = Str(target, "goal");
    if (!goal.empty()) line += " (" + Quoted(goal) + ")";
  }
  if (exported.is_object() && exported.contains("improvement_pct") &&
      exported["improvement_pct"].is_number()) {
    double pct = exported["improvement_pct"].get<double>();
    line += std::string(", ") + (pct >= 0 ? "+" : "") + FormatValue(pct) + "%";
    const json ci = exported.contains("improvement_ci95_pct")
                        ? exported["improvement_ci95_pct"]
                        : json();
    if (ci.is_array() && ci.size() == 2 && ci[0].is_number() && ci[1].is_number())
      line += " [" + FormatValue(ci[0].get<double>()) + ", " +
              FormatValue(ci[1].get<double>()) + "]";
  }
  return line + "\n";
}

std::string LeftOut(const std::string& comment, const json& knob,
                    const std::string& why) {
  return comment + " " + Quoted(Str(knob, "name")) + " = " +
         Quoted(ValueToString(knob["value"])) + ": " + why + "\n";
}

std::string Kind(const json& knob) { return Str(knob, "kind"); }
std::string Backend(const json& knob) { return Str(knob, "backend"); }

}  // namespace

std::string FormatExportSysctl(const json& exported) {
  std::string out = Header(exported, "#");
  out +=
      "# A sysctl.d file: copy it to /etc/sysctl.d/90-hone.conf, or load it with\n"
      "# `sysctl -p FILE`.\n";
  std::string body, others;
  for (const json& knob : Knobs(exported)) {
    std::string name = Str(knob, "name");
    std::string value = ValueToString(knob["value"]);
    if (Kind(knob) == "builtin" && Backend(knob) == "sysctl") {
      if (Carries(name) && Carries(value) && name.find('=') == std::string::npos)
        body += name + " = " + value + "\n";
      else
        others += LeftOut("#", knob, "left out, a sysctl.d line cannot carry it");
    } else {
      std::string kind = Kind(knob) == "application" ? "an application knob"
                         : Kind(knob) == "script"    ? "a script knob"
                                                     : Quoted(Backend(knob)) + " knob";
      others += LeftOut("#", knob, "not a sysctl (" + kind + ")");
    }
  }
  if (!others.empty()) out += "# Not in this file:\n" + others;
  return out + body;
}

std::string FormatExportTuned(const json& exported, std::string* script) {
  script->clear();
  std::string sysctl, sysfs, others, start, stop;
  for (const json& knob : Knobs(exported)) {
    std::string name = Str(knob, "name");
    std::string value = ValueToString(knob["value"]);
    if (Kind(knob) == "builtin" && Backend(knob) == "sysctl") {
      if (TunedKey(name) && CarriesInTuned(value))
        sysctl += name + "=" + value + "\n";
      else
        others += LeftOut("#", knob, "left out, a tuned.conf line cannot carry it");
    } else if (Kind(knob) == "builtin" && Backend(knob) == "sysfs" &&
               knob.contains("files") && knob["files"].is_array() &&
               !knob["files"].empty()) {
      bool ok = CarriesInTuned(value);
      std::string lines;
      for (const json& file : knob["files"]) {
        std::string path = file.is_string() ? file.get<std::string>() : "";
        ok = ok && path.starts_with("/sys/") && TunedKey(path);
        lines += path + "=" + value + "\n";
      }
      if (ok)
        sysfs += "# " + Quoted(name) + "\n" + lines;
      else
        others += LeftOut("#", knob, "left out, a tuned.conf line cannot carry it");
    } else if (Kind(knob) == "script" && knob.contains("set_script") &&
               knob["set_script"].is_string()) {
      std::string set = knob["set_script"].get<std::string>();
      std::string tag = "    # " + Quoted(name) + "\n";
      start += tag + "    KNOB_VAL=" + ShellQuote(value) + " /bin/sh -c " +
               ShellQuote(set) + " || status=1\n";
      if (knob.contains("baseline"))
        stop += tag + "    KNOB_VAL=" + ShellQuote(ValueToString(knob["baseline"])) +
                " /bin/sh -c " + ShellQuote(set) + " || status=1\n";
    } else if (Kind(knob) == "script") {
      others += LeftOut("#", knob,
                        "a script knob whose set_script only its owner or "
                        "root may export");
    } else if (Kind(knob) == "application") {
      others += LeftOut("#", knob, "an application knob: hone export --format env");
    } else {
      others += LeftOut("#", knob,
                        "TuneD has no plugin for it (" + Quoted(Backend(knob)) +
                            "): `hone apply` keeps it");
    }
  }
  std::string job = JobNumber(exported);
  std::string out = Header(exported, "#");
  out += "# A TuneD profile: put this directory in /etc/tuned/hone-job-" + job +
         "/ and run\n# `tuned-adm profile hone-job-" + job + "`.\n";
  if (!others.empty()) out += "# Not in this profile:\n" + others;
  out += "\n[main]\nsummary=hone job " + job + ": its best settings\n";
  if (!sysctl.empty()) out += "\n[sysctl]\n" + sysctl;
  if (!sysfs.empty()) out += "\n[sysfs]\n" + sysfs;
  if (!start.empty()) {
    out += "\n[script]\nscript=${i:PROFILE_DIR}/script.sh\n";
    *script = Header(exported, "#!/bin/sh\n#").substr(0) +
              "# TuneD's [script] plugin runs this with `start` when the profile is "
              "applied\n# (the job's best values) and `stop` when it is unloaded (the "
              "values the job\n# started from). Each script knob's set_script gets its "
              "value in KNOB_VAL.\nstatus=0\ncase \"$1\" in\n  start)\n" +
              start + "    ;;\n  stop)\n" + stop + "    ;;\nesac\nexit $status\n";
  }
  return out;
}

std::string FormatExportEnv(const json& exported) {
  std::string out = Header(exported, "#");
  out += "# Application knobs, for EnvironmentFile= (systemd) or `. FILE` (sh).\n";
  std::string body, others;
  for (const json& knob : Knobs(exported)) {
    if (Kind(knob) != "application") {
      others += LeftOut("#", knob, "a system knob: hone export --format tuned or sysctl");
      continue;
    }
    std::string name = Str(knob, "name");
    std::string value = ValueToString(knob["value"]);
    if (Control(value)) {
      others += LeftOut("#", knob, "left out, its value has a control character");
      continue;
    }
    std::string escaped;
    for (char c : value) {
      if (c == '\\' || c == '"' || c == '$' || c == '`') escaped += '\\';
      escaped += c;
    }
    std::vector<std::string> names;
    if (IsShellIdentifier(name)) names.push_back(name);
    names.push_back(KnobEnvName(name));
    for (const std::string& n : names) body += n + "=\"" + escaped + "\"\n";
  }
  if (!others.empty()) out += "# Not in this file:\n" + others;
  return out + body;
}

}  // namespace hone
