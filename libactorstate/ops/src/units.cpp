#include "actorstate/ops/units.hpp"

#include <charconv>
#include <string>

namespace actorstate::ops {

namespace {

bool split_number(std::string_view text, double& number, std::string_view& unit) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  if (i == 0)
    return false;
  try {
    number = std::stod(std::string{text.substr(0, i)});
  } catch (...) {
    return false;
  }
  unit = text.substr(i);
  return true;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  double n = 0;
  std::string_view unit;
  if (!split_number(text, n, unit))
    return std::nullopt;
  double ms = 0;
  if (unit == "ms")
    ms = n;
  else if (unit == "s" || unit.empty())
    ms = n * 1000;
  else if (unit == "m" || unit == "min")
    ms = n * 60000;
  else if (unit == "h")
    ms = n * 3600000;
  else if (unit == "us")
    ms = n / 1000;
  else
    return std::nullopt;
  return std::chrono::milliseconds{static_cast<int64_t>(ms)};
}

std::optional<size_t> parse_size(std::string_view text) {
  double n = 0;
  std::string_view unit;
  if (!split_number(text, n, unit))
    return std::nullopt;
  double mult = 1;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "KiB" || unit == "K" || unit == "k")
    mult = 1024;
  else if (unit == "MiB" || unit == "M")
    mult = 1024 * 1024;
  else if (unit == "GiB" || unit == "G")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "KB" || unit == "kB")
    mult = 1000;
  else if (unit == "MB")
    mult = 1000 * 1000;
  else
    return std::nullopt;
  return static_cast<size_t>(n * mult);
}

}  // namespace actorstate::ops
