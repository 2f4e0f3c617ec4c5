// Structured logging: one line per record on stderr, logfmt style (`ts=... level=info msg="..." key=value`), so
// operators can grep and log shippers can parse. Thread-safe; a record is written with one write(2) call.
//
// Thread rules: any thread; records from different threads never interleave within a line.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace actorstate::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

/// Parses "debug", "info", "warn" or "error"; returns false for anything else.
bool parse_level(std::string_view text, level& out);
void set_level(level lvl);
bool enabled(level lvl);

using field = std::pair<std::string_view, std::string>;

void write(level lvl, std::string_view message, std::initializer_list<field> fields = {});

inline void debug(std::string_view message, std::initializer_list<field> fields = {}) {
  if (enabled(level::debug))
    write(level::debug, message, fields);
}
inline void info(std::string_view message, std::initializer_list<field> fields = {}) {
  write(level::info, message, fields);
}
inline void warn(std::string_view message, std::initializer_list<field> fields = {}) {
  write(level::warn, message, fields);
}
inline void error(std::string_view message, std::initializer_list<field> fields = {}) {
  write(level::error, message, fields);
}

}  // namespace actorstate::log
