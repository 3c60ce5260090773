// honed's configuration file, /etc/honed/honed.conf: `key = value` lines, one
// setting each, with the same names as honed's flags (socket, socket-group, ...).
// Blank lines and lines whose first non-blank character is '#' are ignored. The
// flags given on the command line override the file, at start and at every reload
// (SIGHUP, `systemctl reload honed`).
//
// The file is read as untrusted text: at most kMaxDaemonConfigBytes, every error
// names the file, the line and what to fix, and a file with any error sets nothing.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "daemon/daemon.h"

namespace hone {

inline constexpr const char* kDefaultDaemonConfig = "/etc/honed/honed.conf";
inline constexpr size_t kMaxDaemonConfigBytes = 64 << 10;

// The keys a file may set, in the order the documentation lists them.
std::vector<std::string> DaemonConfigKeys();

// Whether a reload applies the key at once (log-level, admin-group, retain-jobs,
// on-stop); the others (sockets, state directory, workload cgroup) take effect when
// honed starts again.
bool DaemonConfigKeyIsLive(const std::string& key);

// The value of `key` in `options`, as the file would write it.
std::string DaemonConfigValue(const DaemonOptions& options, const std::string& key);

// Sets `key` to `value` in `options`. Errors: InvalidArgument naming the key and the
// values it takes.
Status SetDaemonConfigValue(const std::string& key, const std::string& value,
                            DaemonOptions* options);

// Applies the text of a config file (read from `path`, for messages) to `options`,
// and adds the keys it set to `*set` (may be null). Errors: InvalidArgument
// "PATH:LINE: ..." for the first bad line; `options` is then unchanged.
Status ParseDaemonConfig(std::string_view text, const std::string& path,
                         DaemonOptions* options, std::set<std::string>* set = nullptr);

// Reads the file at `path` and applies it. A missing file is fine when `required` is
// false (honed runs on its defaults); otherwise NotFound.
Status LoadDaemonConfig(const std::string& path, bool required, DaemonOptions* options,
                        std::set<std::string>* set = nullptr);

// The options a reload gives: the defaults, then the file at `path`, then the
// command line's values from `running` (the keys in running.from_command_line).
// Errors are LoadDaemonConfig's; `*out` is then unchanged.
Status ReloadDaemonConfig(const DaemonOptions& running, DaemonOptions* out);

}  // namespace hone
