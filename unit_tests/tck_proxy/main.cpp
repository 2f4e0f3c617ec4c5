// doctest's main, followed by the orderly teardown of the fixture's processes (proxy, interceptor, tck-model)
// while gRPC and the test process are still fully alive.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "fixture.hpp"

int main(int argc, char** argv) {
  doctest::Context context{argc, argv};
  int result = context.run();
  tck_proxy::fixture::shutdown();
  return result;
}
