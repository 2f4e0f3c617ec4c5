// Writing JSON by hand where a message type would be overkill (error bodies, /cluster): a string as a JSON string
// literal, with quotes, backslashes and control characters escaped. Bytes of 0x80 and above pass through (UTF-8).
//
// Thread rules: a pure function.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace actorstate::ops {

inline std::string json_quoted(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

}  // namespace actorstate::ops
