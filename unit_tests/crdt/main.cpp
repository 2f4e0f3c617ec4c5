#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

int main(int argc, char** argv) {
  // Bounds the property runs (about 5 s for the suite; a failing seed is printed for replay) unless the caller set
  // RC_PARAMS itself. RapidCheck reads it on first use, after this.
  setenv("RC_PARAMS", "max_success=1000 max_size=100", 0);
  return doctest::Context{argc, argv}.run();
}
