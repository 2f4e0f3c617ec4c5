// A SQLite VFS for tests that wraps the default one and can make file writes or syncs fail or syncs slow, and counts
// syncs. Name it
// in store_options::sqlite_vfs. The controls are process-wide atomics; reset() them at the start of each test.
#pragma once

#include <atomic>

namespace actorstate::persistence::testing {

struct fault_vfs_controls {
  /// Non-zero: every xWrite fails with this SQLite result code (e.g. SQLITE_FULL).
  std::atomic<int> write_error{0};
  /// Non-zero: every xSync fails with this SQLite result code (e.g. SQLITE_IOERR_FSYNC).
  std::atomic<int> sync_error{0};
  /// Non-zero: every xSync first sleeps this long (a slow disk).
  std::atomic<int> sync_delay_ms{0};
  /// xSync calls so far.
  std::atomic<int> syncs{0};

  void reset() {
    write_error = 0;
    sync_error = 0;
    sync_delay_ms = 0;
    syncs = 0;
  }
};

inline constexpr const char* fault_vfs_name = "actorstate_test_fault";

/// Registers the VFS on first use (not as the default) and returns its controls.
fault_vfs_controls& fault_vfs();

}  // namespace actorstate::persistence::testing
