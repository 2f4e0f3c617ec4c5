// Test helpers: building Cloudstate changes, and the handler side's plain view of a CRDT (what a user function holds),
// with the handler's rules for applying a CrdtDelta to it, so diff can be checked against full_delta.
#pragma once

#include <actorstate/crdt/replicated.hpp>

#include <google/protobuf/text_format.h>

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>

namespace crdt_test {

namespace pb = cloudstate::crdt;
using namespace actorstate::crdt;

/// One line of text format, Any left unexpanded (the test's element type is not a known message).
inline std::string text(const google::protobuf::Message& m) {
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  printer.SetExpandAny(false);
  std::string out;
  printer.PrintToString(m, &out);
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

inline google::protobuf::Any any(const std::string& v) {
  google::protobuf::Any a;
  a.set_type_url("type.googleapis.com/test.Element");
  a.set_value(v);
  return a;
}

inline std::pair<std::string, std::string> key_of(const google::protobuf::Any& a) {
  return {a.type_url(), a.value()};
}

inline pb::CrdtDelta gcounter(uint64_t inc) {
  pb::CrdtDelta d;
  d.mutable_gcounter()->set_increment(inc);
  return d;
}
inline pb::CrdtDelta pncounter(int64_t change) {
  pb::CrdtDelta d;
  d.mutable_pncounter()->set_change(change);
  return d;
}
inline pb::CrdtDelta gset(std::initializer_list<std::string> added) {
  pb::CrdtDelta d;
  auto* g = d.mutable_gset();
  for (const auto& a : added)
    *g->add_added() = any(a);
  return d;
}
inline pb::CrdtDelta orset(std::initializer_list<std::string> added, std::initializer_list<std::string> removed = {},
                           bool cleared = false) {
  pb::CrdtDelta d;
  auto* o = d.mutable_orset();
  o->set_cleared(cleared);
  for (const auto& a : removed)
    *o->add_removed() = any(a);
  for (const auto& a : added)
    *o->add_added() = any(a);
  return d;
}
inline pb::CrdtDelta lww(const std::string& v, pb::CrdtClock clock = pb::DEFAULT, int64_t custom = 0) {
  pb::CrdtDelta d;
  *d.mutable_lwwregister()->mutable_value() = any(v);
  d.mutable_lwwregister()->set_clock(clock);
  d.mutable_lwwregister()->set_custom_clock_value(custom);
  return d;
}
inline pb::CrdtDelta flag(bool on) {
  pb::CrdtDelta d;
  d.mutable_flag()->set_value(on);
  return d;
}
inline pb::CrdtDelta vote(bool v) {
  pb::CrdtDelta d;
  d.mutable_vote()->set_self_vote(v);
  return d;
}
struct entry_change {
  std::string key;
  pb::CrdtDelta delta;
};
inline pb::CrdtDelta ormap(std::vector<entry_change> added, std::vector<entry_change> updated = {},
                           std::initializer_list<std::string> removed = {}, bool cleared = false) {
  pb::CrdtDelta d;
  auto* m = d.mutable_ormap();
  m->set_cleared(cleared);
  for (const auto& r : removed)
    *m->add_removed() = any(r);
  for (auto& e : updated) {
    auto* ed = m->add_updated();
    *ed->mutable_key() = any(e.key);
    *ed->mutable_delta() = e.delta;
  }
  for (auto& e : added) {
    auto* ed = m->add_added();
    *ed->mutable_key() = any(e.key);
    *ed->mutable_delta() = e.delta;
  }
  return d;
}

/// The handler side's value: what a user function holds for a CRDT.
struct view {
  int kind = -1;  // CrdtDelta::delta_case
  uint64_t gcounter = 0;
  int64_t pncounter = 0;
  std::set<std::pair<std::string, std::string>> elements;
  std::optional<std::pair<std::string, std::string>> lww;
  bool flag = false;
  bool self_vote = false;
  int32_t votes_for = 0;
  int32_t total_voters = 0;
  std::map<std::pair<std::string, std::string>, view> entries;
  friend bool operator==(const view&, const view&) = default;
};

inline std::ostream& operator<<(std::ostream& os, const view& v) {
  os << "{kind " << v.kind << " g " << v.gcounter << " pn " << v.pncounter << " elements";
  for (const auto& e : v.elements)
    os << " " << e.second;
  if (v.lww)
    os << " lww " << v.lww->second;
  os << " flag " << v.flag << " vote " << v.self_vote << "/" << v.votes_for << "/" << v.total_voters;
  for (const auto& [k, e] : v.entries)
    os << " [" << k.second << ": " << e << "]";
  return os << "}";
}

/// The handler's rules for a delta pushed to it (Cloudstate's SDKs): false when the delta does not fit the view.
inline bool apply_to_view(view& v, const pb::CrdtDelta& d) {
  if (v.kind == -1)
    v.kind = d.delta_case();
  if (v.kind != d.delta_case())
    return false;
  switch (d.delta_case()) {
    case pb::CrdtDelta::kGcounter:
      v.gcounter += d.gcounter().increment();
      return true;
    case pb::CrdtDelta::kPncounter:
      v.pncounter = static_cast<int64_t>(static_cast<uint64_t>(v.pncounter) +
                                         static_cast<uint64_t>(d.pncounter().change()));  // wraps, like Java's long
      return true;
    case pb::CrdtDelta::kGset:
      for (const auto& a : d.gset().added())
        v.elements.insert(key_of(a));
      return true;
    case pb::CrdtDelta::kOrset:
      if (d.orset().cleared())
        v.elements.clear();
      for (const auto& a : d.orset().removed())
        v.elements.erase(key_of(a));
      for (const auto& a : d.orset().added())
        v.elements.insert(key_of(a));
      return true;
    case pb::CrdtDelta::kLwwregister:
      if (d.lwwregister().has_value())
        v.lww = key_of(d.lwwregister().value());
      else
        v.lww.reset();
      return true;
    case pb::CrdtDelta::kFlag:
      v.flag = d.flag().value();
      return true;
    case pb::CrdtDelta::kVote:
      v.self_vote = d.vote().self_vote();
      v.votes_for = d.vote().votes_for();
      v.total_voters = d.vote().total_voters();
      return true;
    case pb::CrdtDelta::kOrmap: {
      const auto& m = d.ormap();
      if (m.cleared())
        v.entries.clear();
      for (const auto& k : m.removed())
        if (!v.entries.erase(key_of(k)))
          return false;
      for (const auto& e : m.updated()) {
        auto it = v.entries.find(key_of(e.key()));
        if (it == v.entries.end() || !apply_to_view(it->second, e.delta()))
          return false;
      }
      for (const auto& e : m.added()) {
        if (v.entries.count(key_of(e.key())))
          return false;
        if (!apply_to_view(v.entries[key_of(e.key())], e.delta()))
          return false;
      }
      return true;
    }
    case pb::CrdtDelta::DELTA_NOT_SET:
      break;
  }
  return false;
}

inline view view_of(const std::optional<pb::CrdtDelta>& full) {
  view v;
  if (full)
    apply_to_view(v, *full);
  return v;
}

}  // namespace crdt_test
