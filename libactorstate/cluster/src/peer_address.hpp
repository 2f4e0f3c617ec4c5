// A peer's address as `transport::call` takes it: "host:port" or "[v6-address]:port".
//
// Thread rules: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "actorstate/status.hpp"

namespace actorstate::cluster::detail {

struct peer_address {
  std::string host;  ///< Without brackets.
  uint16_t port = 0;
};

/// INVALID_ARGUMENT (naming the address) unless `text` is "host:port" with a port in 1..65535.
result<peer_address> parse_peer_address(std::string_view text);

}  // namespace actorstate::cluster::detail
