#include "peer_address.hpp"

#include <charconv>

namespace actorstate::cluster::detail {

result<peer_address> parse_peer_address(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return status{status_code::invalid_argument,
                  "peer address \"" + std::string{text} + "\" " + std::string{why} + " (expected host:port)"};
  };
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return invalid("has no port");
  auto host = text.substr(0, colon);
  auto port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string_view::npos)
    return invalid("is an IPv6 address without brackets");
  if (host.empty())
    return invalid("has no host");
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
    return invalid("has no valid port");
  return peer_address{std::string{host}, static_cast<uint16_t>(port)};
}

}  // namespace actorstate::cluster::detail
