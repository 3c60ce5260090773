#include "daemon/daemon_config.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>

#include "common/scan.h"

namespace hone {

namespace {

constexpr size_t kMaxConfigLineBytes = 4096;

struct Key {
  const char* name;
  bool live;
  std::function<std::string(const DaemonOptions&)> get;
  std::function<Status(const std::string&, DaemonOptions*)> set;
};

Status NotEmpty(const std::string& key, const std::string& value, bool empty_ok) {
  if (value.empty() && !empty_ok) return Status::InvalidArgument(key + " needs a value");
  if (value.size() > 4000 || value.find('\0') != std::string::npos)
    return Status::InvalidArgument(key + " is too long or holds a NUL byte");
  return Status::OK();
}

// A key whose value is a string; `check` may refuse it. With `empty_ok`, an empty
// value is the default (chosen by honed).
Key Text(const char* name, bool live, std::string DaemonOptions::*member,
         std::function<Status(const std::string&)> check = nullptr,
         bool empty_ok = false) {
  return Key{name, live, [member](const DaemonOptions& o) { return o.*member; },
             [name, member, check, empty_ok](const std::string& v, DaemonOptions* o) {
               Status s = NotEmpty(name, v, empty_ok);
               if (s.ok() && check && !v.empty()) s = check(v);
               if (s.ok()) o->*member = v;
               return s;
             }};
}

Status AbsolutePath(const std::string& key, const std::string& v) {
  if (v.front() != '/')
    return Status::InvalidArgument(key + " must be an absolute path, not '" +
                                   Printable(v, 80) + "'");
  return Status::OK();
}

const std::vector<Key>& Keys() {
  static const std::vector<Key> keys = {
      Text("socket", false, &DaemonOptions::socket_path,
           [](const std::string& v) { return AbsolutePath("socket", v); }),
      Text("socket-group", false, &DaemonOptions::socket_group),
      Text("admin-group", true, &DaemonOptions::admin_group),
      Text("state-dir", false, &DaemonOptions::state_dir,
           [](const std::string& v) { return AbsolutePath("state-dir", v); }),
      Text("log-level", true, &DaemonOptions::log_level,
           [](const std::string& v) {
             static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
             if (std::find(std::begin(kLevels), std::end(kLevels), v) !=
                 std::end(kLevels))
               return Status::OK();
             return Status::InvalidArgument("log-level '" + Printable(v, 40) +
                                            "' is not trace, debug, info, warn or error");
           }),
      Key{"on-stop", true,
          [](const DaemonOptions& o) {
            return std::string(o.resume ? "resume" : "interrupt");
          },
          [](const std::string& v, DaemonOptions* o) {
            if (v != "resume" && v != "interrupt")
              return Status::InvalidArgument(
                  "on-stop '" + Printable(v, 40) +
                  "' is not resume (a job running at the stop continues when honed "
                  "starts again) or interrupt (it stays interrupted); either way its "
                  "knobs go back at the stop");
            o->resume = v == "resume";
            return Status::OK();
          }},
      Text(
          "metrics-socket", false, &DaemonOptions::metrics_socket,
          [](const std::string& v) {
            return v == "none" ? Status::OK() : AbsolutePath("metrics-socket", v);
          },
          true),
      Key{"retain-jobs", true,
          [](const DaemonOptions& o) { return std::to_string(o.retain_jobs); },
          [](const std::string& v, DaemonOptions* o) {
            if (v.empty() || v.size() > 9 ||
                v.find_first_not_of("0123456789") != std::string::npos)
              return Status::InvalidArgument(
                  "retain-jobs must be a whole number of jobs below 10^9 (0: keep all), "
                  "not '" +
                  Printable(v, 40) + "'");
            o->retain_jobs = std::stoul(v);
            return Status::OK();
          }},
      Text(
          "workload-cgroup", false, &DaemonOptions::workload_cgroup,
          [](const std::string& v) {
            return v == "none" ? Status::OK() : AbsolutePath("workload-cgroup", v);
          },
          true),
  };
  return keys;
}

const Key* Find(const std::string& name) {
  for (const Key& k : Keys())
    if (name == k.name) return &k;
  return nullptr;
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

std::vector<std::string> DaemonConfigKeys() {
  std::vector<std::string> names;
  for (const Key& k : Keys()) names.push_back(k.name);
  return names;
}

bool DaemonConfigKeyIsLive(const std::string& key) {
  const Key* k = Find(key);
  return k && k->live;
}

std::string DaemonConfigValue(const DaemonOptions& options, const std::string& key) {
  const Key* k = Find(key);
  return k ? k->get(options) : "";
}

Status SetDaemonConfigValue(const std::string& key, const std::string& value,
                            DaemonOptions* options) {
  const Key* k = Find(key);
  if (!k) {
    std::string known;
    for (const Key& each : Keys())
      known += (known.empty() ? "" : ", ") + std::string(each.name);
    return Status::InvalidArgument("unknown key '" + Printable(key, 60) +
                                   "' (known: " + known + ")");
  }
  return k->set(value, options);
}

Status ParseDaemonConfig(std::string_view text, const std::string& path,
                         DaemonOptions* options, std::set<std::string>* set) {
  if (text.size() > kMaxDaemonConfigBytes)
    return Status::InvalidArgument(path + ": longer than " +
                                   std::to_string(kMaxDaemonConfigBytes) +
                                   " bytes, which no honed.conf is");
  DaemonOptions result = *options;
  std::map<std::string, size_t> seen;  // key -> its line
  size_t number = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++number;
    auto error = [&](const std::string& what) {
      return Status::InvalidArgument(path + ":" + std::to_string(number) + ": " + what);
    };
    if (line.size() > kMaxConfigLineBytes)
      return error("a line longer than " + std::to_string(kMaxConfigLineBytes) +
                   " bytes");
    std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    size_t equals = trimmed.find('=');
    if (equals == std::string::npos)
      return error("expected 'key = value', not '" + Printable(trimmed, 80) + "'");
    std::string key = Trim(std::string_view(trimmed).substr(0, equals));
    std::string value = Trim(std::string_view(trimmed).substr(equals + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    if (auto it = seen.find(key); it != seen.end())
      return error(key + " is set twice (first on line " + std::to_string(it->second) +
                   ")");
    Status s = SetDaemonConfigValue(key, value, &result);
    if (!s.ok()) return error(s.message());
    seen[key] = number;
  }
  *options = result;
  if (set)
    for (const auto& [key, line] : seen) set->insert(key);
  return Status::OK();
}

Status LoadDaemonConfig(const std::string& path, bool required, DaemonOptions* options,
                        std::set<std::string>* set) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    int error = errno;
    if (error == ENOENT && !required) return Status::OK();
    if (error == ENOENT) return Status::NotFound("no config file " + path);
    return Status::IOError("cannot read " + path + ": " + std::strerror(error));
  }
  std::string text;
  char buffer[8192];
  Status s;
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = Status::IOError("cannot read " + path + ": " + std::strerror(errno));
      break;
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxDaemonConfigBytes) break;  // ParseDaemonConfig says so
  }
  close(fd);
  if (!s.ok()) return s;
  return ParseDaemonConfig(text, path, options, set);
}

Status ReloadDaemonConfig(const DaemonOptions& running, DaemonOptions* out) {
  DaemonOptions fresh;
  fresh.connection_limits = running.connection_limits;
  fresh.root = running.root;
  fresh.config_path = running.config_path;
  fresh.config_required = running.config_required;
  fresh.from_command_line = running.from_command_line;
  Status s = LoadDaemonConfig(running.config_path, running.config_required, &fresh);
  if (!s.ok()) return s;
  for (const std::string& key : running.from_command_line) {
    s = SetDaemonConfigValue(key, DaemonConfigValue(running, key), &fresh);
    if (!s.ok()) return s;
  }
  *out = std::move(fresh);
  return Status::OK();
}

}  // namespace hone
