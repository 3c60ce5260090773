// Helpers for tests of the process runner (daemon/process/process.h).
#pragma once

#include <chrono>
#include <string>

#include "daemon/process/process.h"

namespace hone::test {

// `command` run with /bin/sh -c, a plain PATH and a 30 s timeout.
inline ProcessSpec Shell(const std::string& command) {
  ProcessSpec spec;
  spec.argv = ShellArgv(command);
  spec.env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}};
  spec.timeout = std::chrono::seconds(30);
  return spec;
}

}  // namespace hone::test
