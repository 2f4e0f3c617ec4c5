#include "grpc_web_frames.hpp"

#include <cstring>

namespace actorstate::it {

std::string frame(const std::string& message) {
  std::string out(5, '\0');
  auto n = message.size();
  out[1] = static_cast<char>((n >> 24) & 0xff);
  out[2] = static_cast<char>((n >> 16) & 0xff);
  out[3] = static_cast<char>((n >> 8) & 0xff);
  out[4] = static_cast<char>(n & 0xff);
  return out + message;
}

std::vector<std::pair<int, std::string>> frames(const std::string& body) {
  std::vector<std::pair<int, std::string>> out;
  size_t pos = 0;
  while (pos + 5 <= body.size()) {
    size_t n = 0;
    for (size_t i = 1; i <= 4; ++i)
      n = (n << 8) | static_cast<unsigned char>(body[pos + i]);
    out.emplace_back(static_cast<unsigned char>(body[pos]), body.substr(pos + 5, n));
    pos += 5 + n;
  }
  return out;
}

std::string base64(const std::string& in) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {a[v >> 18], a[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], '='};
  }
  return out;
}

std::string unbase64(const std::string& in) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char* p = std::strchr(a, c);
    if (c == '=') {
      // Padding ends a chunk (a streamed "-text" answer is one padded chunk per frame): its leftover bits are fill.
      acc = 0;
      bits = 0;
      continue;
    }
    if (p == nullptr || c == '\0')
      continue;
    acc = (acc << 6) | static_cast<unsigned>(p - a);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace actorstate::it
