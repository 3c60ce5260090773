// `hone export N --format ...`: a job's best settings as the files the tools already
// on a server read, from honed's `export` reply (docs/protocol.md: the best
// configuration knob by knob, with each knob's kind, backend and files).
//
// The reply is read as untrusted: knob names and values come from a job's config,
// and the files may be loaded as root (sysctl -p, TuneD). A name or value that the
// format cannot carry safely (a control character, which would start a line of its
// own) is left out, and a comment says which and why. Comments quote names through
// Printable. Every function is pure and never throws on a malformed reply.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace hone {

// A sysctl.d file (/etc/sysctl.d/90-hone.conf, `sysctl -p FILE`): `name = value`
// for each sysctl knob; the job's other knobs are listed in comments.
std::string FormatExportSysctl(const nlohmann::json& exported);

// A TuneD profile's tuned.conf: [main] with a summary, [sysctl] for sysctl knobs,
// [sysfs] with each file of a sysfs knob, and [script] for script knobs, which runs
// `script.sh` beside it; `*script` gets that script (start: the best values; stop:
// the values the job started from), or "" when no script knob has its set_script in
// the reply. MSR knobs and application knobs are listed in comments (TuneD has no
// plugin for MSR bit fields; `hone apply` keeps those).
std::string FormatExportTuned(const nlohmann::json& exported, std::string* script);

// An environment file of the application knobs, for systemd's EnvironmentFile= and
// for `. FILE` in sh: each under its own name (when that is a valid variable name)
// and as HONE_KNOB_<NAME>, in double quotes with \, ", $ and ` escaped.
std::string FormatExportEnv(const nlohmann::json& exported);

}  // namespace hone
