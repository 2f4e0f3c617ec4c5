#include "http/grpc_web.hpp"

#include "http/wire.hpp"

#include <cctype>
#include <cstdint>

namespace actorstate::http {

std::string ascii_lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_plain_grpc(std::string_view content_type) {
  constexpr std::string_view prefix = "application/grpc";
  auto ct = ascii_lower(content_type);
  return ct.compare(0, prefix.size(), prefix) == 0 &&
         (ct.size() == prefix.size() || ct[prefix.size()] == '+' || ct[prefix.size()] == ';');
}

}  // namespace actorstate::http

namespace actorstate::http::grpc_web {

namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string frame(unsigned char flag, std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 5);
  out.push_back(static_cast<char>(flag));
  auto n = static_cast<uint32_t>(payload.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(payload);
  return out;
}

}  // namespace

bool is_grpc_web(std::string_view content_type, bool& text) {
  auto ct = ascii_lower(content_type.substr(0, content_type.find(';')));
  while (!ct.empty() && ct.back() == ' ')
    ct.pop_back();
  if (ct == "application/grpc-web" || ct == "application/grpc-web+proto") {
    text = false;
    return true;
  }
  if (ct == "application/grpc-web-text" || ct == "application/grpc-web-text+proto") {
    text = true;
    return true;
  }
  return false;
}

std::optional<std::vector<std::string>> messages(std::string_view body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    if (body.size() - pos < 5)
      return std::nullopt;
    auto flag = static_cast<unsigned char>(body[pos]);
    uint32_t n = 0;
    for (size_t i = 1; i <= 4; ++i)
      n = (n << 8) | static_cast<unsigned char>(body[pos + i]);
    pos += 5;
    if (body.size() - pos < n || (flag & 0x01) != 0)
      return std::nullopt;
    if ((flag & 0x80) == 0)
      out.emplace_back(body.substr(pos, n));
    pos += n;
  }
  return out;
}

std::string data_frame(std::string_view message) {
  return frame(0x00, message);
}

std::string trailers_frame(status_code code, std::string_view message) {
  std::string trailers = "grpc-status:" + std::to_string(static_cast<int>(code)) + "\r\n";
  if (!message.empty())
    trailers += "grpc-message:" + encode_message(message) + "\r\n";
  return frame(0x80, trailers);
}

std::string encode_message(std::string_view message) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : message) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0x0f]);
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6)
      out.push_back(alphabet[(v >> shift) & 0x3f]);
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size())
      v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out.push_back(alphabet[(v >> 18) & 0x3f]);
    out.push_back(alphabet[(v >> 12) & 0x3f]);
    out.push_back(i + 1 < bytes.size() ? alphabet[(v >> 6) & 0x3f] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  // A client may send several padded chunks one after another: decode them one by one.
  std::string out;
  std::string part;
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('=', start);
    end = end == std::string_view::npos ? text.size() : text.find_first_not_of('=', end);
    if (end == std::string_view::npos)
      end = text.size();
    if (!detail::base64_decode(text.substr(start, end - start), part))
      return std::nullopt;
    out += part;
    start = end;
  }
  return out;
}

}  // namespace actorstate::http::grpc_web
