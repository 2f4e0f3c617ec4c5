// Process-level chores every server binary shares (node, user function): signal set-up and the port file.
//
// Thread rules: `block_termination_signals` from main() before any other thread starts; the rest from any thread.
#pragma once

#include <cstdint>
#include <string>

namespace actorstate::ops {

/// Blocks SIGINT and SIGTERM in the calling thread (threads created afterwards inherit the mask, so the signals
/// stay pending until a `sigtimedwait` takes them) and ignores SIGPIPE.
void block_termination_signals();

/// Writes `port` and a newline to `path` atomically (write a temporary file, then rename), so a reader polling for
/// the file never sees it half written.
bool write_port_file(const std::string& path, uint16_t port);

}  // namespace actorstate::ops
