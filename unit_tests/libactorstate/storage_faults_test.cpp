// Storage faults under a running runtime, through SQLite on a fault-injecting VFS (failed writes, a full disk, failed
// and slow fsyncs). The contract: commands whose writes fail get UNAVAILABLE and nothing of them is stored; entities
// that need no write (or only reads) keep being served; when the fault ends the entity recovers from what is durable.
// What needs no real I/O (a lost outcome and the re-read after it) is tested deterministically in
// deterministic_test.cpp.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <filesystem>
#include <future>

#include "fault_vfs.hpp"
#include "test_entities.hpp"

using namespace actorstate;
using namespace actorstate::testing;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;

AppendText append(const std::string& id, const std::string& text) {
  AppendText a;
  a.set_id(id);
  a.set_text(text);
  return a;
}

command append_cmd(const std::string& id, const std::string& text) {
  return make_command(id, "Append", append(id, text));
}

command get_cmd(const std::string& id) {
  GetText g;
  g.set_id(id);
  return make_command(id, "Get", g);
}

std::string text_of(const command_result& r) {
  TextReply reply;
  REQUIRE_MESSAGE(r.ok(), to_string(r.status.code()) << " " << r.status.message());
  REQUIRE(reply.ParseFromString(r.payload));
  return reply.value();
}

/// A SQLite database in a fresh directory, opened on the fault VFS.
struct sqlite_on_faulty_disk {
  sqlite_on_faulty_disk() : dir(fs::temp_directory_path() / ("actorstate-faults-" + std::to_string(::getpid()))) {
    fs::remove_all(dir);
    fs::create_directories(dir);
    vfs().reset();
  }
  ~sqlite_on_faulty_disk() {
    vfs().reset();
    fs::remove_all(dir);
  }

  static persistence::testing::fault_vfs_controls& vfs() { return persistence::testing::fault_vfs(); }

  std::shared_ptr<persistence::store> open() const {
    persistence::store_options o;
    o.sqlite_vfs = persistence::testing::fault_vfs_name;
    auto s = persistence::open_store("sqlite:" + (dir / "store.db").string(), o);
    REQUIRE_MESSAGE(s.ok(), s.error().to_string());
    return s.value();
  }

  /// What a fresh store on the same file replays for `pid`, as text.
  std::string durable_text(const std::string& entity_id) const {
    auto s = open();
    std::promise<std::string> p;
    s->replay("text-log|" + entity_id, 1, INT64_MAX, 1000, [&](result<std::vector<persistence::event>> r) {
      std::string text;
      if (r.ok())
        for (const auto& e : r.value()) {
          TextAppended ev;
          ev.ParseFromString(e.payload);
          text += ev.text();
        }
      p.set_value(text);
    });
    auto text = p.get_future().get();
    s->close();
    return text;
  }

  fs::path dir;
};

/// A failing disk (`code` on every write) fails the writes, serves what needs no write, and recovers.
void check_failing_disk(int code) {
  sqlite_on_faulty_disk disk;
  {
    harness h{disk.open()};
    auto region = h.region(text_log().model());
    REQUIRE(text_of(h.call(region, append_cmd("a", "1"))) == "1");
    REQUIRE(text_of(h.call(region, append_cmd("b", "1"))) == "1");

    disk.vfs().write_error = code;
    auto failed = h.call(region, append_cmd("a", "2"));
    CHECK(failed.status.code() == status_code::unavailable);
    CHECK(h.call(region, append_cmd("b", "2")).status.code() == status_code::unavailable);
    // Reads of a live entity need no disk: still served.
    CHECK(text_of(h.call(region, get_cmd("b"))) == "1");

    disk.vfs().write_error = 0;
    // Recovered: the failed commands left nothing, the next ones are written.
    CHECK(text_of(h.call(region, append_cmd("a", "3"))) == "13");
    CHECK(text_of(h.call(region, append_cmd("b", "3"))) == "13");
  }
  CHECK(disk.durable_text("a") == "13");
  CHECK(disk.durable_text("b") == "13");
}

}  // namespace

TEST_CASE("storage_faults.write_errors_fail_commands_then_recover") {
  check_failing_disk(SQLITE_IOERR_WRITE);
}

TEST_CASE("storage_faults.full_disk_fails_commands_then_recovers") {
  check_failing_disk(SQLITE_FULL);
}

TEST_CASE("storage_faults.failed_fsync_fails_commands_then_recovers") {
  sqlite_on_faulty_disk disk;
  harness h{disk.open()};
  auto region = h.region(text_log().model());
  REQUIRE(text_of(h.call(region, append_cmd("f", "1"))) == "1");
  disk.vfs().sync_error = SQLITE_IOERR_FSYNC;
  CHECK(h.call(region, append_cmd("f", "2")).status.code() == status_code::unavailable);
  disk.vfs().sync_error = 0;
  // Whether the unsynced page made it to the file is the disk's business; the entity re-read what is there.
  auto after = text_of(h.call(region, append_cmd("f", "3")));
  CHECK((after == "13" || after == "123"));
}

TEST_CASE("storage_faults.slow_fsync_does_not_stall_other_entities") {
  sqlite_on_faulty_disk disk;
  harness h{disk.open()};
  auto region = h.region(text_log().model());
  REQUIRE(text_of(h.call(region, append_cmd("live", "1"))) == "1");
  REQUIRE(text_of(h.call(region, append_cmd("cold", "1"))) == "1");
  disk.vfs().sync_delay_ms = 1500;
  auto slow = h.call_async(region, append_cmd("slow", "1"));
  std::this_thread::sleep_for(100ms);  // the slow write is in its fsync now
  auto began = std::chrono::steady_clock::now();
  // A live entity's read needs no store; a passivated entity's recovery reads beside the writer.
  CHECK(text_of(h.call(region, get_cmd("live"))) == "1");
  auto took = std::chrono::steady_clock::now() - began;
  CHECK(slow.wait_for(0ms) == std::future_status::timeout);
  CHECK(took < 1000ms);
  disk.vfs().sync_delay_ms = 0;
  CHECK(text_of(slow.get()) == "1");
}
