// The plugin conformance suite: every contract item of store.hpp is written once, as a CONFORMANCE_TEST body, and
// registered as one doctest case per plugin, named "<plugin>.<group>.<item>" (ctest: "conformance.<plugin>....").
//
// Adding a plugin: write a make_<plugin>_env() in conformance_main.cpp and add X(<plugin>, ...) to
// ACTORSTATE_CONFORMANCE_PLUGINS, and to ACTORSTATE_DURABLE_PLUGINS if its data survives close(). A plugin that needs
// a server (postgres) gets its ctest label and fixture in CMakeLists.txt.
#pragma once

#include <memory>
#include <utility>

#include "test_support.hpp"

namespace actorstate::persistence::testing {

/// One plugin under test with its own backing data (e.g. a database file in a temporary directory).
class plugin_env {
public:
  virtual ~plugin_env() = default;

  /// Opens a store on this environment's data; for durable plugins, opening again after close() sees the same data.
  virtual std::shared_ptr<store> open(const store_options& options) = 0;

  std::shared_ptr<store> open() { return open(store_options{}); }
};

std::unique_ptr<plugin_env> make_memory_env();
std::unique_ptr<plugin_env> make_sqlite_env();
std::unique_ptr<plugin_env> make_faulty_sqlite_env();
/// A fresh database per environment on the throwaway server of the ctest fixture `postgres_server`.
std::unique_ptr<plugin_env> make_postgres_env();

/// What a conformance test body gets: the environment and an open store on it.
struct fixture {
  explicit fixture(std::unique_ptr<plugin_env> e) : env(std::move(e)), s(env->open()) {}

  std::unique_ptr<plugin_env> env;
  // After env: closed before the environment removes its data.
  sync_store s;
};

}  // namespace actorstate::persistence::testing

// Every plugin the suite runs against.
#define ACTORSTATE_CONFORMANCE_PLUGINS(X, group, item) \
  X(memory, group, item) X(sqlite, group, item) X(faulty_sqlite, group, item) X(postgres, group, item)

// The plugins whose data survives close() and a new open().
#define ACTORSTATE_DURABLE_PLUGINS(X, group, item) \
  X(sqlite, group, item) X(faulty_sqlite, group, item) X(postgres, group, item)

#define ACTORSTATE_CONFORMANCE_CASE(plugin, group, item)                                                      \
  TEST_CASE(#plugin "." #group "." #item) {                                                                   \
    ::actorstate::persistence::testing::fixture f{::actorstate::persistence::testing::make_##plugin##_env()}; \
    conformance_##group##_##item(f);                                                                          \
  }

// clang-format off
// (clang-format cannot tell that the plugin-list expansion ends before the body's signature.)
#define ACTORSTATE_CONFORMANCE_TEST(plugins, group, item)                                                              \
  static void conformance_##group##_##item(::actorstate::persistence::testing::fixture& f);                            \
  plugins(ACTORSTATE_CONFORMANCE_CASE, group, item)                                                                    \
  static void conformance_##group##_##item(::actorstate::persistence::testing::fixture& f)
// clang-format on

/// Defines a contract item checked against every plugin; the body sees `f` (a fixture).
#define CONFORMANCE_TEST(group, item) ACTORSTATE_CONFORMANCE_TEST(ACTORSTATE_CONFORMANCE_PLUGINS, group, item)

/// Defines a contract item checked against the durable plugins only.
#define DURABLE_CONFORMANCE_TEST(group, item) ACTORSTATE_CONFORMANCE_TEST(ACTORSTATE_DURABLE_PLUGINS, group, item)
