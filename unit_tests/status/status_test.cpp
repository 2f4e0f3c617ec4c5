// actorstate's one error type: reading the value of a failed result is an error the caller hears about, not
// undefined behaviour, and the store's own codes never reach a client as such.
#include <doctest/doctest.h>

#include <string>

#include "actorstate/status.hpp"

using namespace actorstate;

TEST_CASE("status.value_of_a_failed_result_throws_naming_the_error") {
  result<int64_t> failed{status{status_code::unavailable, "disk gone"}};
  CHECK_FALSE(failed.ok());
  CHECK(failed.error().code() == status_code::unavailable);
  CHECK_THROWS_WITH_AS(failed.value(), "value() of a failed result: UNAVAILABLE: disk gone", bad_result_access);
  const auto& same = failed;
  CHECK_THROWS_AS(same.value(), bad_result_access);
  CHECK_THROWS_AS(std::move(failed).value(), bad_result_access);
}

TEST_CASE("status.a_result_with_a_value_is_ok_and_its_error_is_ok") {
  result<std::string> r{std::string{"v"}};
  REQUIRE(r.ok());
  CHECK(r.value() == "v");
  CHECK(r->size() == 1);
  CHECK(r.error().ok());
  std::string moved = std::move(r).value();
  CHECK(moved == "v");
}

TEST_CASE("status.a_result_built_from_an_ok_status_is_an_error_not_an_empty_value") {
  result<int64_t> r{status{}};
  CHECK_FALSE(r.ok());
  CHECK(r.error().code() == status_code::internal);
  CHECK_THROWS_AS(r.value(), bad_result_access);
}

TEST_CASE("status.a_client_hears_unavailable_for_the_stores_own_codes_and_grpcs_codes_unchanged") {
  CHECK(client_code(status_code::conflict) == status_code::unavailable);
  CHECK(client_code(status_code::unknown_outcome) == status_code::unavailable);
  for (int32_t c = 0; c <= 16; ++c)
    CHECK(client_code(static_cast<status_code>(c)) == static_cast<status_code>(c));
  // A number no enumerator has (say, read from a peer) is no code a client understands either.
  CHECK(client_code(static_cast<status_code>(42)) == status_code::unknown);
  CHECK(client_code(static_cast<status_code>(-1)) == status_code::unknown);
}

TEST_CASE("status.to_string_names_the_code_and_the_message") {
  CHECK(status{}.to_string() == "OK");
  CHECK(status{status_code::conflict, "seq 4 expected, 3 given"}.to_string() == "CONFLICT: seq 4 expected, 3 given");
  CHECK(to_string(status_code::unknown_outcome) == "UNKNOWN_OUTCOME");
  CHECK(to_string(status_code::data_loss) == "DATA_LOSS");
  CHECK(status{status_code::internal, "x"} == status{status_code::internal, "x"});
  CHECK_FALSE(status{status_code::internal, "x"} == status{status_code::internal, "y"});
}
