// The kill -9 loop shared by the crash tests of every store: a shopping-cart node (started with `node_args`) under
// concurrent AddItem load is SIGKILLed at a random moment, restarted on the same store, and every acknowledged
// command must be present exactly once. Fails the calling test (doctest CHECK/REQUIRE) otherwise. The kill delay is
// random; the seed is printed and can be pinned with ACTORSTATE_CRASH_SEED, the number of kill/restart rounds set
// with ACTORSTATE_CRASH_ITERATIONS (default 20).
#pragma once

#include <string>
#include <vector>

namespace actorstate::it {

void crash_loop(const std::vector<std::string>& node_args);

}  // namespace actorstate::it
