// FUZZ_CHECK: a property the fuzz targets assert about hone's code (a round trip, an
// agreement between two functions). A broken one aborts, so that libFuzzer saves the
// input as a crash; it does not depend on NDEBUG.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                  \
  do {                                                                         \
    if (!(condition)) {                                                        \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, \
                   #condition);                                                \
      std::abort();                                                            \
    }                                                                          \
  } while (0)
