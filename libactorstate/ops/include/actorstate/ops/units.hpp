// Parsing human-written durations ("100ms", "30s", "2m", "1h") and sizes ("12MiB", "512KiB", "1048576").
//
// Thread rules: pure functions; any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

namespace actorstate::ops {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
std::optional<size_t> parse_size(std::string_view text);

}  // namespace actorstate::ops
