#include <doctest/doctest.h>

#include "peer_address.hpp"

namespace actorstate::cluster::detail {

TEST_CASE("peer_address.host_and_port") {
  auto a = parse_peer_address("10.0.0.7:9300");
  REQUIRE(a.ok());
  CHECK(a->host == "10.0.0.7");
  CHECK(a->port == 9300);
  auto named = parse_peer_address("member-2.cluster.local:1");
  REQUIRE(named.ok());
  CHECK(named->host == "member-2.cluster.local");
  auto v6 = parse_peer_address("[::1]:65535");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 65535);
}

TEST_CASE("peer_address.malformed_addresses_name_themselves") {
  for (auto bad : {"", "host", "host:", ":9300", "[]:9300", "host:0", "host:65536", "host:-1", "host:9x", "::1:9300"}) {
    CAPTURE(bad);
    auto r = parse_peer_address(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code() == status_code::invalid_argument);
    CHECK(r.error().message().find(std::string{"\""} + bad + "\"") != std::string::npos);
  }
}

}  // namespace actorstate::cluster::detail
