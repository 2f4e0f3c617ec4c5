// Idempotency keys (store.hpp, "Idempotency keys"): the record of a command travels with its write and exists exactly
// when the write committed; a lookup answers it while it is younger than the retention.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "conformance.hpp"

using namespace actorstate;
using namespace actorstate::persistence;
using namespace actorstate::persistence::testing;
using namespace std::chrono_literals;

namespace {

write_options keyed(std::string key, std::string reply, std::optional<write_fence> fence = unfenced) {
  return write_options{fence, applied_command{std::move(key), std::move(reply)}};
}

std::optional<std::string> found(sync_store& s, applied_scope scope, const std::string& entity,
                                 const std::string& key) {
  return value_of(s.find_applied(scope, entity, key));
}

store_options with_retention(std::chrono::milliseconds retention, std::string cluster = {}) {
  store_options options;
  options.idempotency_retention = retention;
  options.cluster = std::move(cluster);
  return options;
}

}  // namespace

CONFORMANCE_TEST(idempotency, unknown_key_is_nullopt) {
  CHECK_FALSE(found(f.s, applied_scope::journal, "p", "k1").has_value());
  CHECK_FALSE(found(f.s, applied_scope::value, "v", "k1").has_value());
}

CONFORMANCE_TEST(idempotency, stored_with_an_append) {
  std::string reply{"\0reply\xff", 7};
  REQUIRE_OK(f.s.append("p", evs(1, 2), keyed("k1", reply)));
  CHECK(found(f.s, applied_scope::journal, "p", "k1") == reply);
  // Per entity, per scope, per key.
  CHECK_FALSE(found(f.s, applied_scope::journal, "p", "k2").has_value());
  CHECK_FALSE(found(f.s, applied_scope::journal, "q", "k1").has_value());
  CHECK_FALSE(found(f.s, applied_scope::value, "p", "k1").has_value());
  // The write itself happened as without a key.
  CHECK(value_of(f.s.replay("p")) == evs(1, 2));
}

CONFORMANCE_TEST(idempotency, stored_with_a_value_put_and_delete) {
  CHECK(value_of(f.s.put_value("v", "t", "one", 0, keyed("put", "r-put"))) == 1);
  REQUIRE_OK(f.s.delete_value("v", 1, keyed("del", "r-del")));
  CHECK(found(f.s, applied_scope::value, "v", "put") == std::optional<std::string>{"r-put"});
  CHECK(found(f.s, applied_scope::value, "v", "del") == std::optional<std::string>{"r-del"});
  CHECK_FALSE(found(f.s, applied_scope::journal, "v", "put").has_value());
  CHECK_FALSE(value_of(f.s.get_value("v")).has_value());
}

CONFORMANCE_TEST(idempotency, binary_keys_round_trip) {
  std::string key{"k\0\xff\xfe", 4};
  REQUIRE_OK(f.s.append("p", evs(1, 1), keyed(key, "r")));
  CHECK(found(f.s, applied_scope::journal, "p", key) == std::optional<std::string>{"r"});
  CHECK_FALSE(found(f.s, applied_scope::journal, "p", "k").has_value());
}

CONFORMANCE_TEST(idempotency, a_refused_write_records_nothing) {
  REQUIRE_OK(f.s.append("p", evs(1, 1)));
  // A sequence conflict.
  CHECK_CODE(f.s.append("p", {ev(1)}, keyed("k1", "r")), status_code::conflict);
  // A version conflict, of a put and of a delete.
  CHECK(value_of(f.s.put_value("v", "t", "one", 0)) == 1);
  CHECK_CODE(f.s.put_value("v", "t", "two", 0, keyed("k2", "r")), status_code::conflict);
  CHECK_CODE(f.s.delete_value("v", 7, keyed("k3", "r")), status_code::conflict);
  // An invalid write.
  CHECK_CODE(f.s.append("q", {}, keyed("k4", "r")), status_code::invalid_argument);
  CHECK_FALSE(found(f.s, applied_scope::journal, "p", "k1").has_value());
  CHECK_FALSE(found(f.s, applied_scope::value, "v", "k2").has_value());
  CHECK_FALSE(found(f.s, applied_scope::value, "v", "k3").has_value());
  CHECK_FALSE(found(f.s, applied_scope::journal, "q", "k4").has_value());
}

CONFORMANCE_TEST(idempotency, a_write_refused_by_its_fence_records_nothing) {
  sync_store s{f.env->open(with_retention(24h, "c1"))};
  sync_cluster c{s, "c1"};
  REQUIRE(value_of(c.init(4)) == 4);
  REQUIRE(value_of(c.join("a")) == 1);
  REQUIRE(value_of(c.join("b")) == 1);
  auto old = value_of(c.claim(1, "a", 1, 0));
  auto released = value_of(c.release(1, "a", 1, old));
  auto current = value_of(c.claim(1, "b", 1, released));
  write_fence stale{1, old};
  CHECK_CODE(s.append("p", evs(1, 1), keyed("k1", "r", stale)), status_code::conflict);
  CHECK_CODE(s.put_value("v", "t", "x", 0, keyed("k2", "r", stale)), status_code::conflict);
  CHECK_CODE(s.delete_value("v", 0, keyed("k3", "r", stale)), status_code::conflict);
  CHECK_FALSE(found(s, applied_scope::journal, "p", "k1").has_value());
  CHECK_FALSE(found(s, applied_scope::value, "v", "k2").has_value());
  CHECK_FALSE(found(s, applied_scope::value, "v", "k3").has_value());
  // The owner's write records its key.
  REQUIRE_OK(s.append("p", evs(1, 1), keyed("k1", "ok", write_fence{1, current})));
  CHECK(found(s, applied_scope::journal, "p", "k1") == std::optional<std::string>{"ok"});
}

CONFORMANCE_TEST(idempotency, a_later_write_with_the_same_key_replaces_the_record) {
  REQUIRE_OK(f.s.append("p", evs(1, 1), keyed("k1", "first")));
  REQUIRE_OK(f.s.append("p", {ev(2)}, keyed("k1", "second")));
  CHECK(found(f.s, applied_scope::journal, "p", "k1") == std::optional<std::string>{"second"});
}

CONFORMANCE_TEST(idempotency, a_lookup_sees_the_writes_issued_before_it) {
  // Issued back to back without waiting: the lookup is ordered after the write of its entity.
  waiter<status> written;
  waiter<result<std::optional<std::string>>> looked_up;
  f.s->append("p", evs(1, 1), keyed("k1", "r"), written.cb());
  f.s->find_applied(applied_scope::journal, "p", "k1", looked_up.cb());
  REQUIRE_OK(written.get());
  auto r = looked_up.get();
  REQUIRE_OK(r);
  CHECK(r.value() == std::optional<std::string>{"r"});
}

CONFORMANCE_TEST(idempotency, records_expire_after_the_retention) {
  // Long enough that the write and the first lookup fit in it also under a sanitizer on a loaded machine (300 ms
  // did not, once, in CI's ASan pass).
  sync_store s{f.env->open(with_retention(2s))};
  REQUIRE_OK(s.append("old", evs(1, 1), keyed("k1", "r")));
  REQUIRE(found(s, applied_scope::journal, "old", "k1").has_value());
  std::this_thread::sleep_for(2200ms);
  CHECK_FALSE(found(s, applied_scope::journal, "old", "k1").has_value());
  // A later write prunes expired records, and its own is answered.
  REQUIRE_OK(s.append("new", evs(1, 1), keyed("k2", "r2")));
  CHECK(found(s, applied_scope::journal, "new", "k2") == std::optional<std::string>{"r2"});
  CHECK_FALSE(found(s, applied_scope::journal, "old", "k1").has_value());
  // An expired key may be applied again.
  REQUIRE_OK(s.append("old", {ev(2)}, keyed("k1", "again")));
  CHECK(found(s, applied_scope::journal, "old", "k1") == std::optional<std::string>{"again"});
}

CONFORMANCE_TEST(idempotency, zero_retention_stores_nothing) {
  sync_store s{f.env->open(with_retention(0ms))};
  REQUIRE_OK(s.append("p", evs(1, 1), keyed("k1", "r")));
  CHECK(value_of(s.put_value("v", "t", "x", 0, keyed("k2", "r"))) == 1);
  CHECK_FALSE(found(s, applied_scope::journal, "p", "k1").has_value());
  CHECK_FALSE(found(s, applied_scope::value, "v", "k2").has_value());
  CHECK(value_of(s.replay("p")) == evs(1, 1));
}

DURABLE_CONFORMANCE_TEST(idempotency, records_survive_reopen) {
  REQUIRE_OK(f.s.append("p", evs(1, 1), keyed("k1", "r1")));
  CHECK(value_of(f.s.put_value("v", "t", "x", 0, keyed("k2", "r2"))) == 1);
  f.s.reset(f.env->open());
  CHECK(found(f.s, applied_scope::journal, "p", "k1") == std::optional<std::string>{"r1"});
  CHECK(found(f.s, applied_scope::value, "v", "k2") == std::optional<std::string>{"r2"});
}
