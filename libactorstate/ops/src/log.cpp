#include "actorstate/ops/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace actorstate::log {

namespace {

std::atomic<int> current_level{static_cast<int>(level::info)};

const char* name(level lvl) {
  switch (lvl) {
    case level::debug:
      return "debug";
    case level::info:
      return "info";
    case level::warn:
      return "warn";
    case level::error:
      return "error";
  }
  return "info";
}

void append_value(std::string& out, std::string_view value) {
  bool quote = value.empty() || value.find_first_of(" \"=\t\n") != std::string_view::npos;
  if (!quote) {
    out += value;
    return;
  }
  out += '"';
  for (char c : value) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
}

}  // namespace

bool parse_level(std::string_view text, level& out) {
  for (auto lvl : {level::debug, level::info, level::warn, level::error}) {
    if (text == name(lvl)) {
      out = lvl;
      return true;
    }
  }
  return false;
}

void set_level(level lvl) {
  current_level = static_cast<int>(lvl);
}

bool enabled(level lvl) {
  return static_cast<int>(lvl) >= current_level.load(std::memory_order_relaxed);
}

void write(level lvl, std::string_view message, std::initializer_list<field> fields) {
  if (!enabled(lvl))
    return;
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[40];
  std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line;
  line.reserve(128);
  line += "ts=";
  line += ts;
  char ms[8];
  std::snprintf(ms, sizeof(ms), ".%03dZ", static_cast<int>(millis));
  line += ms;
  line += " level=";
  line += name(lvl);
  line += " msg=";
  append_value(line, message);
  for (auto& [key, value] : fields) {
    line += ' ';
    line += key;
    line += '=';
    append_value(line, value);
  }
  line += '\n';
  auto rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

}  // namespace actorstate::log
