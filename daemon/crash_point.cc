#include "daemon/crash_point.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace hone {

namespace {
struct Plan {
  std::string name;
  long remaining = 0;
};

Plan LoadPlan(const char* variable) {
  Plan plan;
  const char* spec = std::getenv(variable);
  if (!spec) return plan;
  std::string text = spec;
  size_t colon = text.rfind(':');
  plan.name = text.substr(0, colon);
  plan.remaining = colon == std::string::npos ? 1 : std::atol(text.c_str() + colon + 1);
  return plan;
}
}  // namespace

void CrashPoint(const char* name) {
  static Plan plan = LoadPlan("HONE_TEST_CRASH_AT");
  if (plan.remaining <= 0 || plan.name != name) return;
  if (--plan.remaining == 0) kill(getpid(), SIGKILL);
}

void HoldPoint(const char* name) {
  static Plan plan = LoadPlan("HONE_TEST_HOLD_AT");
  if (plan.remaining <= 0 || plan.name != name) return;
  if (--plan.remaining != 0) return;
  const char* file = std::getenv("HONE_TEST_HOLD_FILE");
  if (!file) return;
  int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
  while (access(file, F_OK) == 0) usleep(10000);
}

void FailPoint(const char* name) {
  static Plan plan = LoadPlan("HONE_TEST_FAIL_AT");
  if (plan.remaining <= 0 || plan.name != name) return;
  if (--plan.remaining == 0) throw std::bad_alloc();
}

}  // namespace hone
