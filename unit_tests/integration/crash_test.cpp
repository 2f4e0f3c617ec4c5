// Crash durability of the shopping-cart node on SQLite (the embedded default): see crash_loop.hpp.
#include <doctest/doctest.h>

#include "crash_loop.hpp"

TEST_CASE("shopping_cart.kill9_keeps_acknowledged_changes") {
  actorstate::it::crash_loop({});
}
