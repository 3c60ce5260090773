#include "daemon/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace hone {

namespace {
struct Plan {
  std::string name;
  long remaining = 0;
};

Plan LoadPlan() {
  Plan plan;
  const char* spec = std::getenv("HONE_TEST_CRASH_AT");
  if (!spec) return plan;
  std::string text = spec;
  size_t colon = text.rfind(':');
  plan.name = text.substr(0, colon);
  plan.remaining = colon == std::string::npos ? 1 : std::atol(text.c_str() + colon + 1);
  return plan;
}
}  // namespace

void CrashPoint(const char* name) {
  static Plan plan = LoadPlan();
  if (plan.remaining <= 0 || plan.name != name) return;
  if (--plan.remaining == 0) kill(getpid(), SIGKILL);
}

}  // namespace hone
