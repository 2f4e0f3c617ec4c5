// Examples: the validity rules, the handler-facing mappings (full_delta, diff), LWW clocks, delta sizes, deletion
// and parsing of garbage.
#include "helpers.hpp"

#include <doctest/doctest.h>

#include <limits>

using namespace crdt_test;
using actorstate::status_code;

namespace {

const change_context at_a{"a#1", 1000};
const change_context at_b{"b#1", 1000};
const voters only_a{"a#1", {}};

replicated made(const std::vector<pb::CrdtDelta>& changes, const change_context& ctx = at_a) {
  replicated s;
  for (const auto& c : changes)
    REQUIRE(apply_change(s, c, ctx).ok());
  return s;
}

// The change fails with invalid_argument mentioning `what`, and leaves the state as it was.
void check_invalid(replicated state, const pb::CrdtDelta& change, const std::string& what) {
  replicated before = state;
  auto r = apply_change(state, change, at_a);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code() == status_code::invalid_argument);
  CHECK_MESSAGE(r.error().message().find(what) != std::string::npos, r.error().message());
  CHECK(state == before);
}

std::string text(const std::optional<pb::CrdtDelta>& d) {
  return d ? crdt_test::text(*d) : "nullopt";
}

}  // namespace

TEST_SUITE("basics") {
  TEST_CASE("names and the empty state") {
    CHECK(to_string(crdt_type::gcounter) == "GCounter");
    CHECK(to_string(crdt_type::pncounter) == "PNCounter");
    CHECK(to_string(crdt_type::gset) == "GSet");
    CHECK(to_string(crdt_type::orset) == "ORSet");
    CHECK(to_string(crdt_type::lwwregister) == "LWWRegister");
    CHECK(to_string(crdt_type::flag) == "Flag");
    CHECK(to_string(crdt_type::ormap) == "ORMap");
    CHECK(to_string(crdt_type::vote) == "Vote");
    replicated s;
    CHECK(s.empty());
    CHECK_FALSE(s.deleted());
    CHECK_FALSE(s.type());
    CHECK_FALSE(full_delta(s, only_a));
    auto d = apply_change(s, orset({"x"}), at_a);
    REQUIRE(d.ok());
    CHECK(s.type() == crdt_type::orset);
    CHECK(d.value().type() == crdt_type::orset);
    replicated moved = std::move(s);
    CHECK(s.empty());  // a moved-from state is empty, still usable
    CHECK(moved.type() == crdt_type::orset);
  }

  TEST_CASE("deletion wins every merge and is final") {
    replicated s = made({gcounter(3)});
    REQUIRE(merge(s, deletion()).ok());
    CHECK(s.deleted());
    CHECK_FALSE(s.empty());
    CHECK_FALSE(s.type());
    CHECK(merge(s, made({gcounter(5)})).ok());
    CHECK(s.deleted());
    CHECK_FALSE(full_delta(s, only_a));
    check_invalid(s, gcounter(1), "deleted");
    replicated fresh;
    REQUIRE(merge(fresh, deletion()).ok());
    CHECK(fresh == s);
    auto back = parse(serialize(s));
    REQUIRE(back.ok());
    CHECK(back.value().deleted());
  }
}

TEST_SUITE("validity") {
  TEST_CASE("a change of another type") {
    check_invalid(made({gcounter(1)}), orset({"x"}), "ORSet change to a GCounter");
    check_invalid(made({ormap({{"k", gcounter(1)}})}), ormap({}, {{"k", orset({"x"})}}), "ORSet change to a GCounter");
    check_invalid(made({ormap({{"k", gcounter(1)}})}), ormap({{"k", flag(true)}}), "Flag change to a GCounter");
    // Two levels down.
    check_invalid(made({ormap({{"k", ormap({{"j", vote(true)}})}})}),
                  ormap({}, {{"k", ormap({}, {{"j", pncounter(1)}})}}), "PNCounter change to a Vote");
  }

  TEST_CASE("an empty CrdtDelta at any level") {
    check_invalid(replicated{}, pb::CrdtDelta{}, "empty CrdtDelta");
    check_invalid(made({gset({"x"})}), pb::CrdtDelta{}, "empty CrdtDelta");
    check_invalid(made({ormap({{"k", gcounter(1)}})}), ormap({{"j", pb::CrdtDelta{}}}), "empty CrdtDelta");
    check_invalid(made({ormap({{"k", ormap({})}})}), ormap({}, {{"k", ormap({{"j", pb::CrdtDelta{}}})}}),
                  "empty CrdtDelta");
  }

  TEST_CASE("a GCounter increment beyond int64") {
    check_invalid(made({gcounter(1)}), gcounter(uint64_t{1} << 63), "GCounter increment");
    check_invalid(replicated{}, gcounter(std::numeric_limits<uint64_t>::max()), "GCounter increment");
    replicated s;
    CHECK(apply_change(s, gcounter(std::numeric_limits<int64_t>::max()), at_a).ok());
  }

  TEST_CASE("switching an enabled Flag off") {
    check_invalid(made({flag(true)}), flag(false), "switching an enabled Flag off");
    check_invalid(made({ormap({{"k", flag(true)}})}), ormap({}, {{"k", flag(false)}}), "switching an enabled Flag off");
    // Off while off is no change.
    replicated s = made({flag(false)});
    CHECK(text(full_delta(s, only_a)) == "flag { }");
  }

  TEST_CASE("ORMap entries without key or delta") {
    replicated s = made({ormap({{"k", gcounter(1)}})});
    pb::CrdtDelta no_key;
    no_key.mutable_ormap()->add_added()->mutable_delta()->mutable_gcounter()->set_increment(1);
    check_invalid(s, no_key, "without a key");
    pb::CrdtDelta no_delta;
    *no_delta.mutable_ormap()->add_updated()->mutable_key() = any("k");
    check_invalid(s, no_delta, "without a delta");
    pb::CrdtDelta untyped_key;
    auto* entry = untyped_key.mutable_ormap()->add_added();
    entry->mutable_key()->set_value("k");  // bytes, but no type URL
    entry->mutable_delta()->mutable_gcounter()->set_increment(1);
    check_invalid(s, untyped_key, "an unsupported key type");
  }

  TEST_CASE("a failing change halfway leaves the state as it was") {
    // The removal and the first entry are fine; the second entry is not.
    replicated s = made({ormap({{"k", gcounter(1)}, {"j", orset({"x"})}})});
    check_invalid(s, ormap({{"n", gcounter(2)}, {"j", gcounter(1)}}, {}, {"k"}), "GCounter change to a ORSet");
  }

  TEST_CASE("ORMap: updated of an absent key creates it, added of a present key updates it") {
    replicated s = made({ormap({}, {{"k", gcounter(2)}})});
    CHECK(text(full_delta(s, only_a)) == text(ormap({{"k", gcounter(2)}})));
    REQUIRE(apply_change(s, ormap({{"k", gcounter(3)}}), at_a).ok());
    CHECK(text(full_delta(s, only_a)) == text(ormap({{"k", gcounter(5)}})));
  }
}

TEST_SUITE("merge") {
  TEST_CASE("different types fail and leave the state as it was") {
    replicated s = made({gcounter(1)});
    replicated before = s;
    auto st = merge(s, made({orset({"x"})}, at_b));
    CHECK(st.code() == status_code::failed_precondition);
    CHECK(st.message().find("ORSet") != std::string::npos);
    CHECK(st.message().find("GCounter") != std::string::npos);
    CHECK(s == before);

    // One ORMap key created with two types at two replicas.
    replicated m = made({ormap({{"k", gcounter(1)}, {"j", gcounter(1)}})});
    replicated other = made({ormap({{"j", gcounter(1)}, {"k", flag(true)}})}, at_b);
    replicated m_before = m;
    st = merge(m, other);
    CHECK(st.code() == status_code::failed_precondition);
    CHECK(st.message().find("Flag") != std::string::npos);
    CHECK(m == m_before);
  }

  TEST_CASE("an ORMap removal concurrent with an update: the update survives with its replica's part") {
    replicated a = made({ormap({{"k", gcounter(5)}})});
    replicated b;
    REQUIRE(merge(b, a).ok());
    auto removal = apply_change(a, ormap({}, {}, {"k"}), at_a);
    auto update = apply_change(b, ormap({}, {{"k", gcounter(1)}}), at_b);
    REQUIRE(removal.ok());
    REQUIRE(update.ok());
    REQUIRE(merge(a, update.value()).ok());
    REQUIRE(merge(b, removal.value()).ok());
    CHECK(a == b);
    CHECK(text(full_delta(a, only_a)) == text(ormap({{"k", gcounter(1)}})));
  }

  TEST_CASE("an ORMap entry that changed type merges in any order") {
    replicated a = made({ormap({{"k", gcounter(1)}, {"j", flag(true)}})});
    auto a_more = apply_change(a, ormap({}, {{"k", gcounter(2)}}), at_a);
    REQUIRE(a_more.ok());
    replicated b;
    REQUIRE(merge(b, a).ok());  // b has seen everything a did
    auto retype = apply_change(b, ormap({{"k", orset({"x"})}}, {}, {"k"}), at_b);
    REQUIRE(retype.ok());
    // Late arrivals of a's old delta, b's delta before a's state, states either way: all the same.
    replicated x = a, y = b, z;
    REQUIRE(merge(x, retype.value()).ok());
    REQUIRE(merge(x, a_more.value()).ok());
    REQUIRE(merge(y, a).ok());
    REQUIRE(merge(y, a_more.value()).ok());
    REQUIRE(merge(z, retype.value()).ok());
    REQUIRE(merge(z, a).ok());
    CHECK(x == y);
    CHECK(y == b);
    CHECK(z.type() == crdt_type::ormap);
    REQUIRE(merge(z, b).ok());
    CHECK(z == b);
    CHECK(text(full_delta(x, only_a)) == text(ormap({{"j", flag(true)}, {"k", orset({"x"})}})));
  }

  TEST_CASE("an ORSet add wins over a concurrent remove") {
    replicated a = made({orset({"x", "y"})});
    replicated b = a;
    auto rm = apply_change(a, orset({}, {"x", "y"}), at_a);
    auto add = apply_change(b, orset({"x"}), at_b);
    REQUIRE(merge(a, add.value()).ok());
    REQUIRE(merge(b, rm.value()).ok());
    CHECK(a == b);
    CHECK(text(full_delta(a, only_a)) == text(orset({"x"})));
  }

  TEST_CASE("counters saturate instead of overflowing") {
    replicated a = made({gcounter(std::numeric_limits<int64_t>::max()), gcounter(std::numeric_limits<int64_t>::max()),
                         gcounter(std::numeric_limits<int64_t>::max())});
    REQUIRE(merge(a, made({gcounter(std::numeric_limits<int64_t>::max())}, at_b)).ok());
    CHECK(full_delta(a, only_a)->gcounter().increment() == std::numeric_limits<uint64_t>::max());
    replicated p =
        made({pncounter(std::numeric_limits<int64_t>::min()), pncounter(std::numeric_limits<int64_t>::min())});
    CHECK(full_delta(p, only_a)->pncounter().change() == std::numeric_limits<int64_t>::min());
    replicated q = made({pncounter(std::numeric_limits<int64_t>::max()), pncounter(5)});
    CHECK(full_delta(q, only_a)->pncounter().change() == std::numeric_limits<int64_t>::max());
  }
}

TEST_SUITE("handler view") {
  TEST_CASE("full_delta of each type") {
    CHECK(text(full_delta(made({gcounter(2), gcounter(3)}), only_a)) == "gcounter { increment: 5 }");
    CHECK(text(full_delta(made({pncounter(2), pncounter(-7)}), only_a)) == "pncounter { change: -5 }");
    CHECK(text(full_delta(made({gset({"x"}), gset({"y", "x"})}), only_a)) == text(gset({"x", "y"})));
    CHECK(text(full_delta(made({orset({"x", "y"}), orset({"z"}, {"x"})}), only_a)) == text(orset({"y", "z"})));
    CHECK(full_delta(made({lww("v1"), lww("v2")}), only_a)->lwwregister().value().value() == "v2");
    CHECK(text(full_delta(made({flag(true)}), only_a)) == "flag { value: true }");
    CHECK(text(full_delta(made({vote(true)}), only_a)) == "vote { self_vote: true votes_for: 1 total_voters: 1 }");
    auto m = made({ormap({{"k", ormap({{"j", orset({"x"})}})}, {"c", gcounter(4)}})});
    CHECK(text(full_delta(m, only_a)) == text(ormap({{"c", gcounter(4)}, {"k", ormap({{"j", orset({"x"})}})}})));
  }

  TEST_CASE("diff: counters by difference, sets by new elements") {
    replicated a = made({gcounter(2)});
    replicated b = a;
    REQUIRE(merge(b, made({gcounter(5)}, at_b)).ok());
    CHECK(text(diff(a, b, only_a, only_a)) == "gcounter { increment: 5 }");
    CHECK_FALSE(diff(b, b, only_a, only_a));

    replicated p = made({pncounter(2)});
    replicated q = p;
    REQUIRE(merge(q, made({pncounter(-5)}, at_b)).ok());
    CHECK(text(diff(p, q, only_a, only_a)) == "pncounter { change: -5 }");

    replicated g = made({gset({"x"})});
    replicated h = g;
    REQUIRE(merge(h, made({gset({"x", "y"})}, at_b)).ok());
    CHECK(text(diff(g, h, only_a, only_a)) == text(gset({"y"})));

    CHECK(text(diff(replicated{}, g, only_a, only_a)) == text(gset({"x"})));  // nothing seen yet: everything
  }

  TEST_CASE("diff: ORSet removed/added, or cleared + all when shorter") {
    replicated a = made({orset({"1", "2", "3", "4", "5"})});
    replicated b = a;
    auto small = apply_change(b, orset({"6"}, {"1"}), at_b);
    REQUIRE(small.ok());
    replicated a1 = a;
    REQUIRE(merge(a1, small.value()).ok());
    CHECK(text(diff(a, a1, only_a, only_a)) == text(orset({"6"}, {"1"})));
    auto big = apply_change(b, orset({"7"}, {}, true), at_b);
    replicated a2 = a1;
    REQUIRE(merge(a2, big.value()).ok());
    CHECK(text(diff(a1, a2, only_a, only_a)) == text(orset({"7"}, {}, true)));
  }

  TEST_CASE("diff: LWW new value, Flag on") {
    replicated a = made({lww("v1")});
    replicated b = a;
    REQUIRE(merge(b, made({lww("v2", pb::CUSTOM, 5000)}, at_b)).ok());
    auto d = diff(a, b, only_a, only_a);
    REQUIRE(d);
    CHECK(d->lwwregister().value().value() == "v2");
    replicated f = made({flag(false)});
    replicated g = f;
    REQUIRE(merge(g, made({flag(true)}, at_b)).ok());
    CHECK(text(diff(f, g, only_a, only_a)) == "flag { value: true }");
  }

  TEST_CASE("diff: ORMap removed/updated/added, and an entry whose type changed is removed and added") {
    replicated a = made({ormap({{"k", gcounter(1)}, {"r", flag(true)}, {"u", orset({"x"})}})});
    replicated b;
    REQUIRE(merge(b, a).ok());
    auto change =
        apply_change(b, ormap({{"k", orset({"y"})}, {"n", lww("v")}}, {{"u", orset({"z"}, {"x"})}}, {"k", "r"}), at_b);
    REQUIRE(change.ok());
    replicated a2 = a;
    REQUIRE(merge(a2, change.value()).ok());
    auto d = diff(a, a2, only_a, only_a);
    REQUIRE(d);
    view before = view_of(full_delta(a, only_a));
    REQUIRE(apply_to_view(before, *d));
    CHECK(before == view_of(full_delta(a2, only_a)));
    const auto& m = d->ormap();
    CHECK_FALSE(m.cleared());
    REQUIRE(m.removed_size() == 2);  // r, and k (a GCounter, now an ORSet)
    CHECK(m.removed(0).value() == "r");
    CHECK(m.removed(1).value() == "k");
    REQUIRE(m.updated_size() == 1);
    CHECK(text(m.updated(0).delta()) == text(orset({"z"}, {}, true)));  // {x} -> {z}: cleared + z is shorter
    REQUIRE(m.added_size() == 2);
    CHECK(m.added(0).key().value() == "k");
    CHECK(text(m.added(0).delta()) == text(orset({"y"})));
    CHECK(m.added(1).key().value() == "n");
  }

  TEST_CASE("diff: a nested counter that went down is removed and added") {
    replicated a = made({ormap({{"k", gcounter(5)}})});
    replicated b;
    REQUIRE(merge(b, a).ok());
    auto removal = apply_change(a, ormap({}, {}, {"k"}), at_a);
    auto update = apply_change(b, ormap({}, {{"k", gcounter(1)}}), at_b);
    replicated b_before = b;
    REQUIRE(merge(b, removal.value()).ok());
    // b saw 6 (5 from a, 1 of its own); a's removal takes a's 5 away: a GCounter cannot say -5.
    auto d = diff(b_before, b, only_a, only_a);
    REQUIRE(d);
    CHECK(d->ormap().removed_size() == 1);
    REQUIRE(d->ormap().added_size() == 1);
    CHECK(text(d->ormap().added(0).delta()) == "gcounter { increment: 1 }");
  }

  TEST_CASE("diff: Vote, the whole view, also when only the live set changed") {
    replicated a = made({vote(true)});
    REQUIRE(merge(a, made({vote(true)}, at_b)).ok());  // dot (b#1, 1)
    voters two{"a#1", {"a#1", "b#1"}};
    voters three{"a#1", {"a#1", "b#1", "c#1"}};
    voters alone{"a#1", {"a#1"}};
    CHECK(text(full_delta(a, two)) == "vote { self_vote: true votes_for: 2 total_voters: 2 }");
    CHECK(text(diff(a, a, two, three)) == "vote { self_vote: true votes_for: 2 total_voters: 3 }");
    CHECK(text(diff(a, a, two, alone)) == "vote { self_vote: true votes_for: 1 total_voters: 1 }");
    CHECK_FALSE(diff(a, a, two, two));
    replicated b = a;
    REQUIRE(merge(b, made({vote(true), vote(false)}, at_b)).ok());  // b#1 changed its mind: dot (b#1, 2)
    CHECK(text(diff(a, b, two, two)) == "vote { self_vote: true votes_for: 1 total_voters: 2 }");
  }
}

TEST_SUITE("lww") {
  TEST_CASE("clocks") {
    // DEFAULT: the wall clock, but never behind the current timestamp; a later write at the same ms still wins.
    replicated s;
    REQUIRE(apply_change(s, lww("v1"), change_context{"a#1", 1000}).ok());
    REQUIRE(apply_change(s, lww("v2"), change_context{"a#1", 900}).ok());
    CHECK(full_delta(s, only_a)->lwwregister().value().value() == "v2");
    // Concurrent writes: the greater (timestamp, replica) wins.
    replicated early;
    REQUIRE(apply_change(early, lww("early", pb::CUSTOM, 10), at_a).ok());
    replicated late;
    REQUIRE(apply_change(late, lww("late", pb::CUSTOM, 20), at_b).ok());
    replicated m1 = early, m2 = late;
    REQUIRE(merge(m1, late).ok());
    REQUIRE(merge(m2, early).ok());
    CHECK(m1 == m2);
    CHECK(full_delta(m1, only_a)->lwwregister().value().value() == "late");
    // A tie on the timestamp: the greater replica id wins.
    replicated t1, t2;
    REQUIRE(apply_change(t1, lww("from-a", pb::CUSTOM, 7), at_a).ok());
    REQUIRE(apply_change(t2, lww("from-b", pb::CUSTOM, 7), at_b).ok());
    REQUIRE(merge(t1, t2).ok());
    CHECK(full_delta(t1, only_a)->lwwregister().value().value() == "from-b");
    // REVERSE: the earliest write wins among concurrent ones (timestamp -now).
    replicated r1, r2;
    REQUIRE(apply_change(r1, lww("first", pb::REVERSE), change_context{"a#1", 100}).ok());
    REQUIRE(apply_change(r2, lww("second", pb::REVERSE), change_context{"b#1", 200}).ok());
    REQUIRE(merge(r1, r2).ok());
    CHECK(full_delta(r1, only_a)->lwwregister().value().value() == "first");
    // CUSTOM_AUTO_INCREMENT: never behind the current timestamp, so it beats a concurrent write at the old one + 1 - 1.
    replicated c;
    REQUIRE(apply_change(c, lww("c1", pb::CUSTOM, 50), at_a).ok());
    replicated c_other = c;
    REQUIRE(apply_change(c, lww("c2", pb::CUSTOM_AUTO_INCREMENT, 3), at_a).ok());  // timestamp 51
    REQUIRE(apply_change(c_other, lww("c3", pb::CUSTOM, 50), at_b).ok());          // 50, concurrent
    REQUIRE(merge(c, c_other).ok());
    CHECK(full_delta(c, only_a)->lwwregister().value().value() == "c2");
    // A register's first write takes the given value as it is.
    replicated e;
    REQUIRE(apply_change(e, lww("e", pb::CUSTOM_AUTO_INCREMENT, -40), at_a).ok());
    replicated e_other;
    REQUIRE(apply_change(e_other, lww("f", pb::CUSTOM, -41), at_b).ok());
    REQUIRE(merge(e, e_other).ok());
    CHECK(full_delta(e, only_a)->lwwregister().value().value() == "e");
    // An unknown clock is refused.
    pb::CrdtDelta bad = lww("x");
    bad.mutable_lwwregister()->set_clock(static_cast<pb::CrdtClock>(9));
    check_invalid(e, bad, "unknown clock");
  }
}

TEST_SUITE("sizes") {
  TEST_CASE("an add to a 10,000-element ORSet is a small delta") {
    replicated small = made({orset({"a", "b", "c"})});
    replicated big;
    pb::CrdtDelta many;
    for (int i = 0; i < 10000; ++i)
      *many.mutable_orset()->add_added() = any("element-" + std::to_string(i));
    REQUIRE(apply_change(big, many, at_a).ok());
    REQUIRE(merge(big, made({orset({"from-b"})}, at_b)).ok());
    auto d_small = apply_change(small, orset({"new"}), at_a);
    auto d_big = apply_change(big, orset({"new"}), at_a);
    REQUIRE(d_small.ok());
    REQUIRE(d_big.ok());
    // Only the dots' counters (varints) grow with the history.
    CHECK(serialize(d_big.value()).size() <= serialize(d_small.value()).size() + 4);
    CHECK(serialize(d_big.value()).size() < 100);
    // Re-adding and removing an existing element is small too.
    auto d_readd = apply_change(big, orset({"element-5000"}), at_a);
    auto d_remove = apply_change(big, orset({}, {"element-42"}), at_a);
    CHECK(serialize(d_readd.value()).size() < 120);
    CHECK(serialize(d_remove.value()).size() < 100);
    CHECK(big.dot_count() == 10001);  // 10,000 + from-b + new - element-42
    CHECK(big.serialized_size() == serialize(big).size());
  }
}

TEST_SUITE("bytes") {
  TEST_CASE("garbage does not parse") {
    CHECK(parse("").error().code() == status_code::invalid_argument);  // no version
    CHECK(parse("\xff\xff\xff").error().code() == status_code::invalid_argument);
    std::string good = serialize(made({ormap({{"k", orset({"x"})}})}));
    for (std::size_t cut = 0; cut < good.size(); ++cut)
      (void)parse(good.substr(0, cut));  // never crashes
    std::string flipped = good;
    for (std::size_t i = 0; i < good.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        flipped[i] = static_cast<char>(good[i] ^ (1 << bit));
        auto r = parse(flipped);
        if (r.ok())
          CHECK(parse(serialize(r.value())).ok());
      }
      flipped[i] = good[i];
    }
    // A later format version is refused, not misread.
    std::string v2 = good;
    REQUIRE(v2[0] == 0x08);  // field 1 (version), varint
    v2[1] = 2;
    CHECK(parse(v2).error().message().find("format version 2") != std::string::npos);
    auto back = parse(good);
    REQUIRE(back.ok());
    CHECK(serialize(back.value()) == good);
    CHECK(parse(serialize(replicated{})).value().empty());
  }
}
