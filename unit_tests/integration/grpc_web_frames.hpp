// gRPC and gRPC-web message framing for the tests' clients: a flag byte and a 4-byte big-endian length before each
// message (flag 0x80: gRPC-web's trailers frame), and the base64 of the "-text" variants.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace actorstate::it {

// One uncompressed data frame.
std::string frame(const std::string& message);
// The frames of a body: (flag, payload) pairs.
std::vector<std::pair<int, std::string>> frames(const std::string& body);
std::string base64(const std::string& in);
std::string unbase64(const std::string& in);

}  // namespace actorstate::it
