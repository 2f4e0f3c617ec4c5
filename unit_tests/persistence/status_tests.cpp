// The store's status and result: reading the value of a failed result is an error the caller hears about, not
// undefined behaviour.
#include <doctest/doctest.h>

#include "actorstate/persistence/store.hpp"

using namespace actorstate::persistence;

TEST_CASE("status.value_of_a_failed_result_throws_naming_the_error") {
  result<int64_t> failed{status{code::unavailable, "disk gone"}};
  CHECK_FALSE(failed.ok());
  CHECK(failed.error().error_code() == code::unavailable);
  CHECK_THROWS_WITH_AS(failed.value(), "value() of a failed result: unavailable: disk gone", bad_result_access);
  const auto& same = failed;
  CHECK_THROWS_AS(same.value(), bad_result_access);
}

TEST_CASE("status.a_result_with_a_value_is_ok_and_its_error_is_ok") {
  result<std::string> r{std::string{"v"}};
  REQUIRE(r.ok());
  CHECK(r.value() == "v");
  CHECK(r->size() == 1);
  CHECK(r.error().ok());
}

TEST_CASE("status.a_result_built_from_an_ok_status_is_an_error_not_an_empty_value") {
  result<int64_t> r{status{}};
  CHECK_FALSE(r.ok());
  CHECK(r.error().error_code() == code::invalid_argument);
  CHECK_THROWS_AS(r.value(), bad_result_access);
}
