// PostgreSQL-specific behaviour: the versioned schema, group commit, what PostgreSQL cannot store, and connection
// loss. Connection loss is made deterministic with a relay that understands just enough of the wire protocol to cut a
// connection at a chosen message (before or after COMMIT), or to play a server that is down.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <latch>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pg_test_support.hpp"
#include "test_support.hpp"

using namespace actorstate;
using namespace actorstate::persistence;
using namespace actorstate::persistence::testing;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

uint16_t port_of(const std::string& uri) {
  auto colon = uri.rfind(':');
  REQUIRE(colon != std::string::npos);
  return static_cast<uint16_t>(std::stoi(uri.substr(colon + 1)));
}

// -- A wire-protocol relay --------------------------------------------------------------------------------------------

void send_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    auto sent = ::send(fd, data, n, MSG_NOSIGNAL);
    if (sent <= 0)
      return;
    data += sent;
    n -= static_cast<size_t>(sent);
  }
}

uint32_t be32(const std::string& buf, size_t at) {
  auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(buf[at + i])); };
  return byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
}

/// Relays TCP connections from 127.0.0.1:port() to a PostgreSQL server. Clients must disable SSL and GSS encryption
/// (the relay reads their messages). arm() cuts the next connection whose client sends a matching message; set_down()
/// plays a server that is gone. Any thread.
class pg_relay {
public:
  enum class cut_mode {
    drop_message,          ///< Close both sides without forwarding the message.
    after_server_replied,  ///< Forward it, swallow the server's answer up to ReadyForQuery, then close both sides.
  };

  explicit pg_relay(uint16_t upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~pg_relay() {
    stop_ = true;
    acceptor_.join();
    std::list<std::thread> pumps;
    {
      // Joined without the lock: a pump may still be checking the armed cut.
      std::lock_guard guard{mtx_};
      pumps.swap(pumps_);
    }
    for (auto& t : pumps)
      t.join();
    ::close(listen_fd_);
  }

  pg_relay(const pg_relay&) = delete;
  pg_relay& operator=(const pg_relay&) = delete;

  /// The URI of `db` through the relay.
  std::string uri(const pg_temp_database& db) const {
    // The fixture's URIs are "postgres://USER@127.0.0.1:PORT/DB".
    const auto& server = db.server_uri();
    auto user_begin = server.find("://") + 3;
    auto user = server.substr(user_begin, server.find('@') - user_begin);
    return "postgres://" + user + "@127.0.0.1:" + std::to_string(port_) + "/" + db.name() +
           "?sslmode=disable&gssencmode=disable";
  }

  /// Cuts, once, the connection whose client sends a message of `type` that contains `needle`.
  void arm(char type, std::string needle, cut_mode mode) {
    std::lock_guard guard{mtx_};
    armed_ = true;
    type_ = type;
    needle_ = std::move(needle);
    mode_ = mode;
    fired_ = false;
  }

  bool fired() const {
    std::lock_guard guard{mtx_};
    return fired_;
  }

  /// While down, open connections are cut and new ones closed at once. Returns when no connection is open.
  void set_down(bool down) {
    down_ = down;
    if (down)
      REQUIRE(eventually([&] { return active_ == 0; }, 5s));
  }

private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0)
        continue;
      int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0)
        continue;
      if (down_) {
        ::close(client);
        continue;
      }
      int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(upstream_port_);
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(server);
        ::close(client);
        continue;
      }
      // Forwarding message by message would otherwise meet Nagle's algorithm on every round trip.
      int one = 1;
      ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++active_;
      std::lock_guard guard{mtx_};
      pumps_.emplace_back([this, client, server] {
        pump(client, server);
        ::close(client);
        ::close(server);
        --active_;
      });
    }
  }

  // Whether `message` (type byte included) triggers the armed cut; disarms it if so.
  std::optional<cut_mode> triggered(const std::string& message) {
    std::lock_guard guard{mtx_};
    if (!armed_ || message[0] != type_ || message.find(needle_) == std::string::npos)
      return std::nullopt;
    armed_ = false;
    fired_ = true;
    return mode_;
  }

  void pump(int client, int server) {
    std::string from_client;
    bool started = false;  // the untyped startup message has passed
    char buf[65536];
    while (!stop_ && !down_) {
      pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(p, 2, 20) <= 0)
        continue;
      if (p[1].revents != 0) {
        auto n = ::recv(server, buf, sizeof buf, 0);
        if (n <= 0)
          return;
        send_all(client, buf, static_cast<size_t>(n));
      }
      if (p[0].revents != 0) {
        auto n = ::recv(client, buf, sizeof buf, 0);
        if (n <= 0)
          return;
        from_client.append(buf, static_cast<size_t>(n));
        // Forward complete messages one by one, looking at each.
        for (;;) {
          size_t header = started ? 5 : 4;
          if (from_client.size() < header)
            break;
          size_t size = started ? 1 + be32(from_client, 1) : be32(from_client, 0);
          if (from_client.size() < size)
            break;
          auto message = from_client.substr(0, size);
          from_client.erase(0, size);
          auto cut = started ? triggered(message) : std::nullopt;
          started = true;
          if (!cut) {
            send_all(server, message.data(), message.size());
            continue;
          }
          if (*cut == cut_mode::after_server_replied) {
            send_all(server, message.data(), message.size());
            swallow_reply(server);
          }
          return;
        }
      }
    }
  }

  // Reads the server's messages up to and including ReadyForQuery ('Z') and drops them (bounded).
  void swallow_reply(int server) {
    std::string from_server;
    char buf[65536];
    auto deadline = steady::now() + 10s;
    while (steady::now() < deadline) {
      for (size_t at = 0; at + 5 <= from_server.size();) {
        if (from_server[at] == 'Z')
          return;
        at += 1 + be32(from_server, at + 1);
      }
      pollfd p{server, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0)
        continue;
      auto n = ::recv(server, buf, sizeof buf, 0);
      if (n <= 0)
        return;
      from_server.append(buf, static_cast<size_t>(n));
    }
  }

  uint16_t upstream_port_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> down_{false};
  std::atomic<int> active_{0};
  std::thread acceptor_;

  mutable std::mutex mtx_;
  std::list<std::thread> pumps_;
  bool armed_ = false;
  char type_ = 0;
  std::string needle_;
  cut_mode mode_ = cut_mode::drop_message;
  bool fired_ = false;
};

// -- A private server -------------------------------------------------------------------------------------------------

/// Terminates every session on `db` but the caller's and waits until they are gone.
void terminate_sessions(pg_admin& admin, const pg_temp_database& db) {
  admin.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
             {db.name()});
  REQUIRE(eventually([&] {
    return admin.text("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                      {db.name()}) == "0";
  }));
}

/// Waits until `n` sessions on `db` wait for a lock (a store's writer behind a test's transaction).
void wait_for_lock_waiter(pg_admin& admin, const pg_temp_database& db, int n = 1) {
  REQUIRE(eventually([&] {
    return admin.text("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
                      {db.name()}) == std::to_string(n);
  }));
}

/// Records the top-level transaction of every journal insert (txid_current() is the same in every savepoint), so a
/// test can count the transactions a group of writes took.
void log_transactions(pg_admin& admin) {
  admin.exec("CREATE TABLE tx_log (persistence_id text, xid bigint)");
  admin.exec(
      "CREATE FUNCTION log_tx() RETURNS trigger LANGUAGE plpgsql AS"
      " $$BEGIN INSERT INTO tx_log VALUES (NEW.persistence_id, txid_current()); RETURN NEW; END$$");
  admin.exec("CREATE TRIGGER log_tx BEFORE INSERT ON journal FOR EACH ROW EXECUTE FUNCTION log_tx()");
}

std::string transactions_of(pg_admin& admin, const std::string& pid_pattern) {
  return admin.text("SELECT count(DISTINCT xid) FROM tx_log WHERE persistence_id LIKE $1", {pid_pattern});
}

template <class F>
std::chrono::milliseconds timed(F&& f) {
  auto start = steady::now();
  f();
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
}

}  // namespace

// -- Schema -----------------------------------------------------------------------------------------------------------

TEST_CASE("store.schema_is_versioned") {
  pg_temp_database db;
  {
    sync_store s{open_store_or_fail(db.uri())};
    CHECK(s->name() == "postgres");
    REQUIRE_OK(s.append("p", evs(1, 2)));
  }
  pg_admin admin{db.uri()};
  CHECK(admin.text("SELECT version FROM schema_version") == "4");
  CHECK(admin.text("SELECT count(*) FROM schema_version") == "1");
  CHECK(admin.text("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename IN"
                   " ('schema_version', 'journal', 'journal_highest', 'snapshots', 'kv', 'cluster_meta',"
                   " 'cluster_members', 'cluster_shards', 'applied_commands', 'cluster_shard_history')") == "10");
  CHECK(admin.text("SELECT highest_seq FROM journal_highest WHERE persistence_id = 'p'") == "2");
  // The fence is a key, not only a check in code.
  CHECK(admin.try_exec("INSERT INTO journal (persistence_id, seq, type, payload, metadata)"
                       " VALUES ('p', 2, 't', '', '')") == "23505");
  // Reopening leaves the schema as it is.
  sync_store s{open_store_or_fail(db.uri())};
  CHECK(value_of(s.replay("p")) == evs(1, 2));
  CHECK(admin.text("SELECT count(*) FROM schema_version") == "1");
}

TEST_CASE("store.version_1_schema_is_migrated") {
  // A database as the first release left it: the schema of version 1 only.
  pg_temp_database db;
  {
    sync_store s{open_store_or_fail(db.uri())};
    REQUIRE_OK(s.append("p", evs(1, 2)));
  }
  pg_admin admin{db.uri()};
  admin.exec("DROP TABLE cluster_meta, cluster_members, cluster_shards, applied_commands");
  admin.exec("ALTER TABLE journal DROP COLUMN shard, DROP COLUMN epoch");
  admin.exec("DROP TABLE cluster_shard_history");
  admin.exec("UPDATE schema_version SET version = 1");
  store_options options;
  options.cluster = "c1";
  sync_store s{open_store_or_fail(db.uri(), options)};
  CHECK(admin.text("SELECT version FROM schema_version") == "4");
  CHECK(value_of(s.replay("p")) == evs(1, 2));
  sync_cluster c{s, "c1"};
  CHECK(value_of(c.init(2)) == 2);
  REQUIRE(value_of(c.join("a")) == 1);
  REQUIRE_OK(s.append("p", {ev(3)}, write_fence{0, value_of(c.claim(0, "a", 1, 0))}));
}

TEST_CASE("store.version_2_schema_is_migrated") {
  // A database as the cluster release left it: no idempotency records.
  pg_temp_database db;
  {
    sync_store s{open_store_or_fail(db.uri())};
    REQUIRE_OK(s.append("p", evs(1, 2)));
  }
  pg_admin admin{db.uri()};
  admin.exec("DROP TABLE applied_commands");
  admin.exec("ALTER TABLE journal DROP COLUMN shard, DROP COLUMN epoch");
  admin.exec("DROP TABLE cluster_shard_history");
  admin.exec("UPDATE schema_version SET version = 2");
  sync_store s{open_store_or_fail(db.uri())};
  CHECK(admin.text("SELECT version FROM schema_version") == "4");
  CHECK(value_of(s.replay("p")) == evs(1, 2));
  REQUIRE_OK(s.append("p", {ev(3)}, write_options{unfenced, applied_command{"k1", "r"}}));
  CHECK(value_of(s.find_applied(applied_scope::journal, "p", "k1")) == std::optional<std::string>{"r"});
}

TEST_CASE("store.version_3_schema_is_migrated") {
  // A database as the idempotency release left it: writes do not record their fence.
  pg_temp_database db;
  {
    sync_store s{open_store_or_fail(db.uri())};
    REQUIRE_OK(s.append("p", evs(1, 2), write_options{unfenced, applied_command{"k1", "r"}}));
  }
  pg_admin admin{db.uri()};
  admin.exec("ALTER TABLE journal DROP COLUMN shard, DROP COLUMN epoch");
  admin.exec("DROP TABLE cluster_shard_history");
  admin.exec("ALTER TABLE applied_commands DROP COLUMN shard, DROP COLUMN epoch, DROP COLUMN ordering");
  admin.exec("UPDATE schema_version SET version = 3");
  store_options options;
  options.cluster = "c1";
  sync_store s{open_store_or_fail(db.uri(), options)};
  CHECK(admin.text("SELECT version FROM schema_version") == "4");
  CHECK(value_of(s.replay("p")) == evs(1, 2));
  CHECK(value_of(s.find_applied(applied_scope::journal, "p", "k1")) == std::optional<std::string>{"r"});
  // Rows written before the migration have no fence (and the old records an order).
  CHECK(admin.text("SELECT count(*) FROM journal WHERE shard IS NULL AND epoch IS NULL") == "2");
  CHECK(admin.text("SELECT count(*) FROM applied_commands WHERE epoch IS NULL AND ordering IS NOT NULL") == "1");
  sync_cluster c{s, "c1"};
  CHECK(value_of(c.init(2)) == 2);
  REQUIRE(value_of(c.join("a")) == 1);
  auto epoch = value_of(c.claim(1, "a", 1, 0));
  REQUIRE_OK(s.append("p", {ev(3)}, write_options{write_fence{1, epoch}, applied_command{"k2", "r"}}));
  CHECK(admin.text("SELECT shard || '/' || epoch FROM journal WHERE seq = 3") == "1/" + std::to_string(epoch));
}

TEST_CASE("store.fenced_writes_record_their_shard_and_epoch") {
  // The audit trail of scripts/check-single-writer.sh: which epoch of which shard wrote each event and each applied
  // command, in commit order.
  pg_temp_database db;
  store_options options;
  options.cluster = "c1";
  sync_store s{open_store_or_fail(db.uri(), options)};
  audit_sample sample{s};
  auto first = sample.first, second = sample.second;
  // A re-recorded key (its first record expired) takes a new place in the order.
  REQUIRE_OK(s.append("p", {ev(4)}, write_options{write_fence{3, second}, applied_command{"k1", "r5"}}));
  pg_admin admin{db.uri()};
  auto e1 = std::to_string(first), e2 = std::to_string(second);
  CHECK(admin.text("SELECT string_agg(seq || ':' || shard || '/' || epoch, ' ' ORDER BY seq) FROM journal"
                   " WHERE persistence_id = 'p'") == "1:3/" + e1 + " 2:3/" + e1 + " 3:3/" + e2 + " 4:3/" + e2);
  CHECK(admin.text("SELECT count(*) FROM journal WHERE persistence_id = 'unfenced' AND shard IS NULL"
                   " AND epoch IS NULL") == "1");
  CHECK(admin.text("SELECT string_agg(convert_from(key, 'UTF8') || ':' || coalesce(shard || '/' || epoch, '-'), ' '"
                   " ORDER BY ordering) FROM applied_commands") == "k2:3/" + e1 + " k3:- k4:3/" + e2 + " k1:3/" + e2);
  // A stale owner's write is refused and records nothing.
  CHECK_CODE(s.append("p", {ev(5)}, write_options{write_fence{3, first}, applied_command{"k5", "r5"}}),
             status_code::conflict);
  CHECK(admin.text("SELECT count(*) FROM applied_commands WHERE key = 'k5'") == "0");
  // Every change of owner is in the history (the release in between has no owner), and its marks separate the writes
  // of the epochs before it from those after.
  CHECK(admin.text("SELECT string_agg(epoch || ':' || owner || '/' || owner_incarnation, ' ' ORDER BY epoch)"
                   " FROM cluster_shard_history WHERE cluster = 'c1' AND shard = 3") ==
        e1 + ":a/1 " + std::to_string(first + 1) + ":/0 " + e2 + ":b/1");
  auto misplaced = [&](const std::string& table, const std::string& mark) {
    return admin.text("SELECT count(*) FROM " + table + " w JOIN cluster_shard_history h ON h.shard = w.shard" +
                      " WHERE (h.epoch <= w.epoch AND w.ordering <= h." + mark + ") OR (h.epoch > w.epoch AND" +
                      " w.ordering > h." + mark + ")");
  };
  CHECK(misplaced("journal", "journal_mark") == "0");
  CHECK(misplaced("applied_commands", "applied_mark") == "0");
  CHECK(admin.text("SELECT count(*) FROM journal w JOIN cluster_shard_history h ON h.shard = w.shard") == "12");
}

TEST_CASE("store.expired_idempotency_records_are_deleted_by_later_keyed_writes") {
  pg_temp_database db;
  store_options options;
  options.idempotency_retention = std::chrono::milliseconds{200};
  sync_store s{open_store_or_fail(db.uri(), options)};
  for (int i = 1; i <= 3; ++i)
    REQUIRE_OK(s.append("p", {ev(i)}, write_options{unfenced, applied_command{"k" + std::to_string(i), "r"}}));
  pg_admin admin{db.uri()};
  CHECK(admin.text("SELECT count(*) FROM applied_commands") == "3");
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  REQUIRE_OK(s.append("q", {ev(1)}, write_options{unfenced, applied_command{"k", "r"}}));
  CHECK(admin.text("SELECT count(*) FROM applied_commands") == "1");
}

TEST_CASE("store.newer_schema_version_is_refused") {
  pg_temp_database db;
  { sync_store s{open_store_or_fail(db.uri())}; }
  pg_admin{db.uri()}.exec("UPDATE schema_version SET version = 99");
  auto s = open_store(db.uri());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code() == status_code::data_loss);
  CHECK_MESSAGE(
      s.error().message().find("schema version 99 is newer than this build supports (4)") != std::string::npos,
      s.error().message());
  CHECK_MESSAGE(s.error().message().find(db.name()) != std::string::npos, s.error().message());
}

TEST_CASE("store.foreign_tables_are_refused") {
  pg_temp_database db;
  pg_admin admin{db.uri()};
  admin.exec("CREATE TABLE journal (id integer PRIMARY KEY)");
  auto s = open_store(db.uri());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code() == status_code::data_loss);
  CHECK_MESSAGE(s.error().message().find("not an actorstate database") != std::string::npos, s.error().message());
  // Nothing was created next to the foreign table.
  CHECK(admin.text("SELECT to_regclass('schema_version') IS NULL") == "t");
}

TEST_CASE("store.concurrent_opens_create_the_schema_once") {
  for (int round = 0; round < 3; ++round) {
    pg_temp_database db;
    constexpr int n = 6;
    std::vector<std::optional<result<std::shared_ptr<store>>>> opened(n);
    std::latch start{n};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        opened[i].emplace(open_store(db.uri()));
      });
    for (auto& t : threads)
      t.join();
    std::vector<std::unique_ptr<sync_store>> stores;
    for (auto& o : opened) {
      REQUIRE_MESSAGE(o->ok(), o->error().to_string());
      stores.push_back(std::make_unique<sync_store>(o->value()));
    }
    pg_admin admin{db.uri()};
    CHECK(admin.text("SELECT count(*) FROM schema_version") == "1");
    CHECK(admin.text("SELECT version FROM schema_version") == "4");
    // Every store works, and they fence each other.
    for (int i = 0; i < n; ++i)
      CHECK_OK(stores[i]->append("p", {ev(i + 1)}));
    CHECK_CODE(stores[0]->append("p", {ev(1)}), status_code::conflict);
  }
}

// -- Group commit and what PostgreSQL cannot store --------------------------------------------------------------------

/// Holds the fence row of "blocker" in `admin`'s transaction and appends event `seq` to it (creating the journal
/// first when `seq` is 2), so the writer stalls on the row and the writes that follow pile up into one batch;
/// `admin.exec("COMMIT")` lets it go, and `blocked` then succeeds.
void stall_writer(sync_store& s, pg_admin& admin, pg_temp_database& db, waiter<status>& blocked, int64_t seq = 2) {
  if (seq == 2)
    REQUIRE_OK(s.append("blocker", evs(1, 1)));
  admin.exec("BEGIN");
  admin.exec("SELECT * FROM journal_highest WHERE persistence_id = 'blocker' FOR UPDATE");
  s->append("blocker", {ev(seq)}, unfenced, blocked.cb());
  wait_for_lock_waiter(admin, db);
}

/// Appends a first event to one new journal per waiter, named `prefix` and the waiter's index.
void start_journals(sync_store& s, const std::string& prefix, std::vector<waiter<status>>& waiters) {
  for (size_t i = 0; i < waiters.size(); ++i)
    s->append(prefix + std::to_string(i), {ev(1)}, unfenced, waiters[i].cb());
}

void check_all_ok(std::vector<waiter<status>>& waiters) {
  for (auto& w : waiters)
    CHECK_OK(w.get());
}

/// Queues `group` (a mixed_group or a fenced_group) behind a stalled writer, runs `while_stalled`, lets the writer go,
/// and checks the group's outcomes and that its writes ("pid-…") took one transaction.
template <class Group, class F>
void check_group_commit(sync_store& s, pg_admin& admin, pg_temp_database& db, Group& group, F while_stalled) {
  log_transactions(admin);
  waiter<status> blocked;
  stall_writer(s, admin, db, blocked);
  group.queue(s);
  while_stalled();
  CHECK_FALSE(group.good.back().ready());
  admin.exec("COMMIT");
  CHECK_OK(blocked.get());
  group.check_outcomes();
  CHECK(transactions_of(admin, "pid-%") == "1");
  group.check_stored(s);
}

TEST_CASE("store.group_commit_rejects_only_the_bad_write") {
  pg_temp_database db;
  sync_store s{open_store_or_fail(db.uri())};
  REQUIRE_OK(s.append("seeded", evs(1, 3)));
  REQUIRE_OK(s.append("read-only", evs(1, 2)));
  pg_admin admin{db.uri()};
  mixed_group group;
  check_group_commit(s, admin, db, group, [&] {
    // Reads have their own connections: a stalled writer does not delay them.
    CHECK(value_of(s.replay("read-only")) == evs(1, 2));
    CHECK_OK(s.ping());
  });
}

TEST_CASE("store.pipelined_group_commit_rejects_only_the_stale_writes") {
  // One-event appends, snapshots and value puts are pipelined. A rejected one voids the pipelined transaction; the
  // same writes then run one at a time, so the outcomes and messages are those of an unpipelined run.
  pg_temp_database db;
  sync_store s{open_store_or_fail(db.uri())};
  REQUIRE_OK(s.append("seeded", evs(1, 3)));
  REQUIRE_OK(s.put_value("kept", "t", "v1", 0));
  pg_admin admin{db.uri()};
  log_transactions(admin);
  waiter<status> blocked;
  stall_writer(s, admin, db, blocked);
  constexpr int n = 100;  // 302 writes: more than one pipeline round (pipeline_depth) in the same transaction
  std::vector<waiter<status>> appends(n);
  std::vector<waiter<status>> snapshots(n);
  std::vector<waiter<result<int64_t>>> puts(n);
  waiter<status> stale_append;
  waiter<result<int64_t>> stale_put;
  for (int i = 0; i < n; ++i) {
    auto pid = "pid-" + std::to_string(i);
    s->append(pid, {ev(1)}, unfenced, appends[i].cb());
    s->save_snapshot(pid, snapshot{1, "t", "s" + std::to_string(i)}, unfenced, snapshots[i].cb());
    s->put_value("key-" + std::to_string(i), "t", "v", 0, unfenced, puts[i].cb());
    if (i == n / 2) {
      s->append("seeded", {ev(2)}, unfenced, stale_append.cb());
      s->put_value("kept", "t", "v2", 7, unfenced, stale_put.cb());
    }
  }
  admin.exec("COMMIT");
  CHECK_OK(blocked.get());
  for (int i = 0; i < n; ++i) {
    CHECK_OK(appends[i].get());
    CHECK_OK(snapshots[i].get());
    auto put = puts[i].get();
    REQUIRE(put.ok());
    CHECK(put.value() == 1);
  }
  auto append_outcome = stale_append.get();
  CHECK_CODE(append_outcome, status_code::conflict);
  CHECK_CODE(stale_put.get(), status_code::conflict);
  // The same message as the write run alone.
  CHECK(append_outcome.message() == s.append("seeded", {ev(2)}).message());
  CHECK(transactions_of(admin, "pid-%") == "1");
  for (int i = 0; i < n; ++i) {
    auto pid = "pid-" + std::to_string(i);
    CHECK(value_of(s.replay(pid)) == evs(1, 1));
    auto snap = value_of(s.load_snapshot(pid));
    REQUIRE(snap.has_value());
    CHECK(snap->payload == "s" + std::to_string(i));
    CHECK(value_of(s.get_value("key-" + std::to_string(i)))->version == 1);
  }
  CHECK(value_of(s.replay("seeded")) == evs(1, 3));
  CHECK(value_of(s.get_value("kept"))->payload == "v1");
  // Pipelined appends keep the fence: the next one-event appends follow on.
  REQUIRE_OK(s.append("pid-0", {ev(2)}));
  CHECK_CODE(s.append("pid-0", {ev(2)}), status_code::conflict);
  CHECK(value_of(s.replay("pid-0")) == evs(1, 2));
  // Without a rejected write, several pipeline rounds commit as one transaction.
  waiter<status> blocked_again;
  stall_writer(s, admin, db, blocked_again, 3);
  std::vector<waiter<status>> more(600);
  start_journals(s, "more-", more);
  admin.exec("COMMIT");
  CHECK_OK(blocked_again.get());
  check_all_ok(more);
  CHECK(transactions_of(admin, "more-%") == "1");
}

TEST_CASE("store.group_commit_refuses_only_the_stale_fenced_writes") {
  pg_temp_database db;
  store_options options;
  options.cluster = "c1";
  sync_store s{open_store_or_fail(db.uri(), options)};
  sync_cluster c{s, "c1"};
  fenced_group group;
  group.prepare(s, c);
  pg_admin admin{db.uri()};
  check_group_commit(s, admin, db, group, [] {});
}

TEST_CASE("store.fence_check_refused_by_the_server_fails_only_the_fenced_writes") {
  // PostgreSQL refuses a cluster name that is not UTF-8, which fails the batch's fence check itself: the fenced writes
  // fail with that error, the writes batched with them still commit.
  pg_temp_database db;
  store_options options;
  options.cluster = "c\xff";
  sync_store s{open_store_or_fail(db.uri(), options)};
  pg_admin admin{db.uri()};
  waiter<status> blocked;
  stall_writer(s, admin, db, blocked);
  waiter<status> fenced;
  waiter<status> unfenced_append;
  waiter<result<int64_t>> unfenced_put;
  s->append("p", {ev(1)}, write_fence{0, 1}, fenced.cb());
  s->append("q", {ev(1)}, unfenced, unfenced_append.cb());
  s->put_value("k", "t", "v", 0, unfenced, unfenced_put.cb());
  admin.exec("COMMIT");
  CHECK_OK(blocked.get());
  CHECK_CODE(fenced.get(), status_code::invalid_argument);
  CHECK_OK(unfenced_append.get());
  CHECK(value_of(unfenced_put.get()) == 1);
  CHECK(value_of(s.highest("p")) == 0);
  CHECK(value_of(s.replay("q")) == evs(1, 1));
}

TEST_CASE("store.claim_waits_for_an_open_fenced_write") {
  // Member "a" owns shard 0; its writer has checked (and share-locked) the shard's epoch for a fenced write, which is
  // not committed yet. A claim by "b", through another store, must wait until it is: then "b" recovers state that
  // includes the write, and "a"'s next write is refused.
  pg_temp_database db;
  store_options options;
  options.cluster = "c1";
  sync_store a{open_store_or_fail(db.uri(), options)};
  sync_store b{open_store_or_fail(db.uri(), options)};
  sync_cluster ca{a, "c1"};
  sync_cluster cb{b, "c1"};
  REQUIRE(value_of(ca.init(2)) == 2);
  REQUIRE(value_of(ca.join("a")) == 1);
  REQUIRE(value_of(cb.join("b")) == 1);
  auto epoch = value_of(ca.claim(0, "a", 1, 0));
  REQUIRE_OK(a.append("held", evs(1, 1)));
  // "a"'s writer stalls on "blocker"; the fenced write and an append to "held" (whose row the test also locks) queue
  // up behind it as the next group, which then stalls on "held" after its fence check and the fenced write.
  pg_admin admin{db.uri()};
  pg_admin held_lock{db.uri()};
  waiter<status> blocked;
  stall_writer(a, admin, db, blocked);
  held_lock.exec("BEGIN");
  held_lock.exec("SELECT * FROM journal_highest WHERE persistence_id = 'held' FOR UPDATE");
  waiter<status> fenced;
  waiter<status> held;
  a->append("p", {ev(1)}, write_fence{0, epoch}, fenced.cb());
  a->append("held", {ev(2)}, unfenced, held.cb());
  admin.exec("COMMIT");
  CHECK_OK(blocked.get());
  wait_for_lock_waiter(admin, db);
  // "a" renews no more: its renewal is older than 1 ms by now.
  waiter<result<int64_t>> claimed;
  cb->claim_shard("c1", 0, "b", 1, epoch, std::chrono::milliseconds{1}, claimed.cb());
  wait_for_lock_waiter(admin, db, 2);
  CHECK_FALSE(claimed.ready());
  CHECK_FALSE(fenced.ready());
  held_lock.exec("COMMIT");
  CHECK_OK(fenced.get());
  CHECK_OK(held.get());
  auto taken = claimed.get();
  REQUIRE(taken.ok());
  CHECK(taken.value() == epoch + 1);
  CHECK(value_of(b.replay("p")) == evs(1, 1));
  CHECK_CODE(a.append("p", {ev(2)}, write_fence{0, epoch}), status_code::conflict);
}

TEST_CASE("store.a_liveness_token_outlives_the_members_working_sessions") {
  // The server ends a session that idles in a transaction (a member stopped or cut off mid-transaction) after 2 s; the
  // member's process lives, so its liveness token must not end with that session: the others would confirm it gone
  // and take its shards while its lease still runs. The token lives on a session of its own, which only the
  // process's death ends.
  pg_temp_database db;
  store_options options;
  options.cluster = "c1";
  auto a = std::make_unique<sync_store>(open_store_or_fail(db.uri(), options));
  sync_store b{open_store_or_fail(db.uri(), options)};
  auto ca = std::make_unique<sync_cluster>(*a, "c1");
  sync_cluster cb{b, "c1"};
  REQUIRE(value_of(ca->init(2)) == 2);
  REQUIRE(value_of(ca->join("a")) == 1);
  REQUIRE(value_of(cb.join("b")) == 1);
  pg_admin admin{db.server_uri()};
  CHECK(admin.text("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = "
                   "'actorstate liveness'",
                   {db.name()}) == "2");  // one per member
  // Every session of the store "a" but the token's ends, as the timeout ends a stalled writer's.
  admin.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() "
             "AND application_name = 'actorstate'",
             {db.name()});
  REQUIRE(eventually([&] {
    return admin.text("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'actorstate'",
                      {db.name()}) == "0";
  }));
  CHECK_FALSE(value_of(cb.confirm_gone("a", 1)));  // b's store reconnects; a's token is still held
  // "a" carries on: its next renewal reconnects, and its token was never lost.
  CHECK_OK(ca->renew("a", 1));
  CHECK_FALSE(value_of(cb.confirm_gone("a", 1)));
  // The token's own session ends (the server restarted, say): the next renewal takes the token back.
  admin.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() "
             "AND application_name = 'actorstate liveness'",
             {db.name()});
  REQUIRE(eventually([&] {
    return admin.text("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = "
                      "'actorstate liveness'",
                      {db.name()}) == "0";
  }));
  CHECK_OK(ca->renew("a", 1));
  CHECK_FALSE(value_of(cb.confirm_gone("a", 1)));
  // The process ends: the token goes with it, once the server has ended the closed session (a moment later).
  ca.reset();
  a.reset();
  CHECK(eventually([&] { return value_of(cb.confirm_gone("a", 1)); }));
}

TEST_CASE("store.max_batch_bounds_a_transaction") {
  pg_temp_database db;
  store_options options;
  options.max_batch = 5;
  sync_store s{open_store_or_fail(db.uri(), options)};
  pg_admin admin{db.uri()};
  log_transactions(admin);
  waiter<status> blocked;
  stall_writer(s, admin, db, blocked);
  std::vector<waiter<status>> writes(20);
  start_journals(s, "pid-", writes);
  admin.exec("COMMIT");
  CHECK_OK(blocked.get());
  check_all_ok(writes);
  CHECK(transactions_of(admin, "pid-%") == "4");
}

TEST_CASE("store.failed_event_insert_rolls_back_the_whole_batch") {
  pg_temp_database db;
  sync_store s{open_store_or_fail(db.uri())};
  REQUIRE_OK(s.append("p", evs(1, 2)));
  // A row the fence does not know about: the batch's second event collides with it.
  pg_admin admin{db.uri()};
  admin.exec("INSERT INTO journal (persistence_id, seq, type, payload, metadata) VALUES ('p', 4, 't', '', '')");
  waiter<status> other;
  waiter<status> batch;
  s->append("q", evs(1, 1), unfenced, other.cb());
  s->append("p", evs(3, 5), unfenced, batch.cb());
  CHECK_OK(other.get());
  CHECK_CODE(batch.get(), status_code::conflict);
  CHECK(value_of(s.highest("p")) == 2);
  CHECK(seqs(value_of(s.replay("p"))) == std::vector<int64_t>{1, 2, 4});
  admin.exec("DELETE FROM journal WHERE persistence_id = 'p' AND seq = 4");
  REQUIRE_OK(s.append("p", evs(3, 5)));
  CHECK(value_of(s.replay("p")) == evs(1, 5));
  CHECK(value_of(s.replay("q")) == evs(1, 1));
}

TEST_CASE("store.text_postgres_cannot_store_is_invalid_argument") {
  pg_temp_database db;
  sync_store s{open_store_or_fail(db.uri())};
  waiter<status> nul_pid;
  waiter<status> fine;
  waiter<result<int64_t>> bad_key;
  // In one group commit: the rejected writes are undone alone.
  s->append(std::string{"a\0b", 3}, {ev(1)}, unfenced, nul_pid.cb());
  s->append("fine", {ev(1)}, unfenced, fine.cb());
  s->put_value("\xff\xfe", "t", "v", 0, unfenced, bad_key.cb());
  CHECK_CODE(nul_pid.get(), status_code::invalid_argument);
  CHECK_OK(fine.get());
  CHECK_CODE(bad_key.get(), status_code::invalid_argument);
  event bad_type = ev(2);
  bad_type.type = std::string{"t\0", 2};
  CHECK_CODE(s.append("fine", {bad_type}), status_code::invalid_argument);
  CHECK(value_of(s.replay("fine")) == evs(1, 1));
  REQUIRE_OK(s.append("fine", {ev(2)}));
}

// -- Connection loss --------------------------------------------------------------------------------------------------

/// A store whose connection runs through a relay that can cut it, with journal "p" holding event 1.
struct relayed_store {
  pg_temp_database db;
  pg_relay relay{port_of(db.server_uri())};
  sync_store s{open_store_or_fail(relay.uri(db))};

  relayed_store() { REQUIRE_OK(s.append("p", evs(1, 1))); }
};

TEST_CASE("store.connection_lost_after_commit_was_executed_is_unknown_outcome") {
  relayed_store rs;
  auto& [db, relay, s] = rs;
  relay.arm('Q', "COMMIT", pg_relay::cut_mode::after_server_replied);
  CHECK_CODE(s.append("p", {ev(2)}), status_code::unknown_outcome);
  CHECK(relay.fired());
  // The server did commit; the caller re-reads and carries on, the writer on a new connection.
  CHECK(value_of(s.highest("p")) == 2);
  REQUIRE_OK(s.append("p", {ev(3)}));
  CHECK(value_of(s.replay("p")) == evs(1, 3));
}

TEST_CASE("store.commit_lost_in_transit_is_unknown_outcome") {
  relayed_store rs;
  auto& [db, relay, s] = rs;
  REQUIRE_OK(s.put_value("k", "t", "v1", 0));
  relay.arm('Q', "COMMIT", pg_relay::cut_mode::drop_message);
  // Both writes share the transaction whose COMMIT never arrives.
  waiter<status> append;
  waiter<result<int64_t>> put;
  s->append("p", {ev(2)}, unfenced, append.cb());
  s->put_value("k", "t", "v2", 1, unfenced, put.cb());
  CHECK_CODE(append.get(), status_code::unknown_outcome);
  auto put_result = put.get();
  CHECK_MESSAGE((put_result.ok() || put_result.error().code() == status_code::unknown_outcome), status_of(put_result));
  CHECK(relay.fired());
  // This time nothing was committed.
  CHECK(value_of(s.highest("p")) == 1);
  REQUIRE_OK(s.append("p", {ev(2)}));
  CHECK(value_of(s.replay("p")) == evs(1, 2));
}

TEST_CASE("store.connection_lost_before_commit_is_unavailable") {
  relayed_store rs;
  auto& [db, relay, s] = rs;
  // Cut while an event row of a several-event append (sent statement by statement, after BEGIN answered) is on its
  // way: the transaction never reaches COMMIT.
  relay.arm('B', "insert_event", pg_relay::cut_mode::drop_message);
  CHECK_CODE(s.append("p", evs(2, 3)), status_code::unavailable);
  CHECK(relay.fired());
  CHECK(value_of(s.highest("p")) == 1);
  REQUIRE_OK(s.append("p", evs(2, 3)));
  CHECK(value_of(s.replay("p")) == evs(1, 3));
}

TEST_CASE("store.connection_lost_in_a_first_pipelined_round_is_retried_once") {
  // A one-event append travels with BEGIN in one pipelined round. Losing the connection there looks exactly like a
  // connection that died while idle, and no COMMIT was sent: the writer retries once on a new connection.
  relayed_store rs;
  auto& [db, relay, s] = rs;
  relay.arm('B', "append_next", pg_relay::cut_mode::drop_message);
  CHECK_OK(s.append("p", {ev(2)}));
  CHECK(relay.fired());
  CHECK(value_of(s.replay("p")) == evs(1, 2));
  REQUIRE_OK(s.append("p", {ev(3)}));
  CHECK(value_of(s.replay("p")) == evs(1, 3));
}

TEST_CASE("store.unavailable_fast_while_the_server_is_down") {
  relayed_store rs;
  auto& [db, relay, s] = rs;
  REQUIRE_OK(s.put_value("k", "t", "v1", 0));
  relay.set_down(true);
  // Every operation fails at once (no queueing behind a dead server), reads and pings included.
  for (int i = 0; i < 20; ++i) {
    auto took = timed([&] {
      CHECK_CODE(s.append("p", {ev(2)}), status_code::unavailable);
      CHECK_CODE(s.put_value("k", "t", "v2", 1), status_code::unavailable);
      CHECK_CODE(s.replay("p"), status_code::unavailable);
      CHECK_CODE(s.get_value("k"), status_code::unavailable);
      CHECK_CODE(s.ping(), status_code::unavailable);
    });
    CHECK_MESSAGE(took < 2s, "round " << i << " took " << took.count() << " ms");
  }
  relay.set_down(false);
  // Back within the longest backoff (2 s) of each connection; nothing of the failed writes was stored.
  CHECK(eventually([&] { return s.append("p", {ev(2)}).ok(); }));
  CHECK(eventually([&] {
    auto events = s.replay("p");
    return events.ok() && events.value() == evs(1, 2);
  }));
  CHECK(eventually([&] {
    auto v = s.get_value("k");
    return v.ok() && v.value() && v.value()->payload == "v1";
  }));
  CHECK(value_of(s.put_value("k", "t", "v2", 1)) == 2);
  CHECK(eventually([&] { return s.ping().ok(); }));
}

TEST_CASE("store.reconnects_after_sessions_are_terminated") {
  pg_temp_database db;
  sync_store s{open_store_or_fail(db.uri())};
  REQUIRE_OK(s.append("p", evs(1, 1)));
  REQUIRE_OK(s.put_value("k", "t", "v1", 0));
  pg_admin admin{db.server_uri()};
  terminate_sessions(admin, db);
  // A connection found dead before anything was sent is replaced transparently.
  CHECK_OK(s.append("p", {ev(2)}));
  CHECK_OK(s.replay("p"));
  CHECK_OK(s.ping());
  CHECK(value_of(s.get_value("k"))->version == 1);
  terminate_sessions(admin, db);
  CHECK(value_of(s.put_value("k", "t", "v2", 1)) == 2);
  CHECK(value_of(s.replay("p")) == evs(1, 2));
}

TEST_CASE("store.survives_server_restart_and_downtime") {
  pg_private_server server;
  pg_temp_database db{server.uri()};
  sync_store s{open_store_or_fail(db.uri())};
  REQUIRE_OK(s.append("p", evs(1, 1)));
  server.restart();
  CHECK(eventually([&] { return s.append("p", {ev(2)}).ok(); }));
  CHECK(value_of(s.replay("p")) == evs(1, 2));
  server.pause();
  for (int i = 0; i < 5; ++i) {
    auto took = timed([&] {
      CHECK_CODE(s.append("p", {ev(3)}), status_code::unavailable);
      CHECK_CODE(s.highest("p"), status_code::unavailable);
    });
    CHECK_MESSAGE(took < 2s, "took " << took.count() << " ms");
  }
  server.resume();
  CHECK(eventually([&] { return s.append("p", {ev(3)}).ok(); }));
  CHECK(eventually([&] {
    auto events = s.replay("p");
    return events.ok() && events.value() == evs(1, 3);
  }));
}

// -- URIs and lifetime ------------------------------------------------------------------------------------------------

TEST_CASE("store.uris") {
  pg_temp_database db;
  auto uri = db.uri();
  REQUIRE(uri.starts_with("postgres://"));
  {
    // Both schemes; the URI goes to libpq as it is, query parameters included.
    sync_store s{open_store_or_fail("postgresql://" + uri.substr(11) + "?application_name=conformance")};
    REQUIRE_OK(s.append("p", evs(1, 1)));
  }
  auto bad = open_store(uri + "?no_such_parameter=1");
  REQUIRE_FALSE(bad.ok());
  CHECK_MESSAGE(bad.error().code() == status_code::invalid_argument, bad.error().to_string());
  // A port nobody listens on: the error names the server but never the password.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  auto closed_port = std::to_string(ntohs(addr.sin_port));
  std::optional<result<std::shared_ptr<store>>> refused;
  auto took =
      timed([&] { refused.emplace(open_store("postgres://someone:s3cret-pw@127.0.0.1:" + closed_port + "/x")); });
  ::close(fd);
  REQUIRE_FALSE(refused->ok());
  CHECK(refused->error().code() == status_code::unavailable);
  CHECK(took < 5s);
  CHECK_MESSAGE(refused->error().message().find("s3cret-pw") == std::string::npos, refused->error().message());
  CHECK_MESSAGE(refused->error().message().find("127.0.0.1:" + closed_port) != std::string::npos,
                refused->error().message());
}

TEST_CASE("store.released_in_own_callback") {
  pg_temp_database db;
  check_released_in_own_callback(open_store_or_fail(db.uri()));
}
