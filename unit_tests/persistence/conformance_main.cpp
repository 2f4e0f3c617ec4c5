#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "actorstate/persistence/fault_injection.hpp"

#include "conformance.hpp"
#include "pg_test_support.hpp"

namespace actorstate::persistence::testing {

namespace {

class memory_env final : public plugin_env {
public:
  std::shared_ptr<store> open(const store_options& options) override { return open_store_or_fail("memory", options); }
};

class sqlite_env : public plugin_env {
public:
  // A missing parent directory: open_store must create it.
  std::shared_ptr<store> open(const store_options& options) override {
    return open_store_or_fail("sqlite:" + dir_.file("data/store.db"), options);
  }

private:
  temp_dir dir_;
};

class faulty_sqlite_env final : public sqlite_env {
public:
  // Without faults armed, the decorator must be invisible.
  std::shared_ptr<store> open(const store_options& options) override {
    return std::make_shared<faulty_store>(sqlite_env::open(options));
  }
};

class postgres_env final : public plugin_env {
public:
  // Every open() reaches the same database, which lives as long as the environment.
  std::shared_ptr<store> open(const store_options& options) override { return open_store_or_fail(db_.uri(), options); }

private:
  pg_temp_database db_;
};

}  // namespace

std::unique_ptr<plugin_env> make_memory_env() {
  return std::make_unique<memory_env>();
}

std::unique_ptr<plugin_env> make_sqlite_env() {
  return std::make_unique<sqlite_env>();
}

std::unique_ptr<plugin_env> make_faulty_sqlite_env() {
  return std::make_unique<faulty_sqlite_env>();
}

std::unique_ptr<plugin_env> make_postgres_env() {
  return std::make_unique<postgres_env>();
}

}  // namespace actorstate::persistence::testing
