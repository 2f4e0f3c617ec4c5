// serialize and parse: the state as an actorstate.crdt.wire.State (replica.proto). Parsing checks everything a join
// relies on (types, dots inside the causal context, no duplicates), so bytes from anywhere cannot break a merge.
#include "state.hpp"

#include <actorstate/crdt/replica.pb.h>

#include <limits>
#include <map>
#include <optional>
#include <set>

namespace actorstate::crdt {

using detail::causal_context;
using detail::dot;
using detail::dot_set;
using detail::element;
using detail::entry;
using detail::leaf;
using detail::store;

namespace {

constexpr uint32_t format_version = 1;

wire::Type to_wire(crdt_type t) {
  switch (t) {
    case crdt_type::gcounter:
      return wire::GCOUNTER;
    case crdt_type::pncounter:
      return wire::PNCOUNTER;
    case crdt_type::gset:
      return wire::GSET;
    case crdt_type::orset:
      return wire::ORSET;
    case crdt_type::lwwregister:
      return wire::LWWREGISTER;
    case crdt_type::flag:
      return wire::FLAG;
    case crdt_type::ormap:
      return wire::ORMAP;
    case crdt_type::vote:
      return wire::VOTE;
  }
  return wire::TYPE_NONE;
}

std::optional<crdt_type> from_wire(int t) {
  switch (t) {
    case wire::GCOUNTER:
      return crdt_type::gcounter;
    case wire::PNCOUNTER:
      return crdt_type::pncounter;
    case wire::GSET:
      return crdt_type::gset;
    case wire::ORSET:
      return crdt_type::orset;
    case wire::LWWREGISTER:
      return crdt_type::lwwregister;
    case wire::FLAG:
      return crdt_type::flag;
    case wire::ORMAP:
      return crdt_type::ormap;
    case wire::VOTE:
      return crdt_type::vote;
    default:
      return std::nullopt;
  }
}

bool uses_leaves(crdt_type t) {
  return t == crdt_type::gcounter || t == crdt_type::pncounter || t == crdt_type::lwwregister || t == crdt_type::flag ||
         t == crdt_type::vote;
}
bool uses_elements(crdt_type t) {
  return t == crdt_type::gset || t == crdt_type::orset;
}

// ---- writing ----

struct writer {
  wire::State& out;
  std::map<std::string, uint32_t> index;

  uint32_t replica(const std::string& r) {
    auto [it, fresh] = index.emplace(r, static_cast<uint32_t>(index.size()));
    if (fresh)
      out.add_replicas(r);
    return it->second;
  }
  void put(const dot& d, wire::Dot* w) {
    w->set_replica(replica(d.replica));
    w->set_counter(d.counter);
  }
  static void put(const element& e, wire::Element* w) {
    w->set_type_url(e.type_url);
    w->set_value(e.value);
  }
  void put(const store& s, wire::Store* w) {
    w->set_type(to_wire(s.type));
    for (const auto& [d, l] : s.fun) {
      auto* wl = w->add_leaves();
      put(d, wl->mutable_dot());
      wl->set_p(l.p);
      wl->set_n(l.n);
      wl->set_vote(l.vote);
      if (s.type == crdt_type::lwwregister)
        put(l.value, wl->mutable_value());
      wl->set_timestamp(l.timestamp);
    }
    for (const auto& [el, dots] : s.elements) {
      auto* we = w->add_elements();
      put(el, we->mutable_element());
      for (const auto& d : dots)
        put(d, we->add_dots());
    }
    for (const auto& [key, en] : s.entries) {
      auto* we = w->add_entries();
      put(key, we->mutable_key());
      for (const auto& d : en.presence)
        put(d, we->add_presence());
      put(en.value, we->mutable_value());
    }
  }
};

// ---- reading ----

status garbage(std::string what) {
  return status{status_code::invalid_argument, "not a CRDT state: " + what};
}

struct reader {
  const wire::State& in;
  std::set<dot> seen;  // a dot has one place in a store

  result<dot> get(const wire::Dot& w) const {
    if (w.replica() >= static_cast<uint32_t>(in.replicas_size()))
      return garbage("a dot's replica index " + std::to_string(w.replica()) + " is out of range");
    if (w.counter() == 0)
      return garbage("a dot with counter 0");
    return dot{in.replicas(static_cast<int>(w.replica())), w.counter()};
  }
  result<dot> get_stored(const wire::Dot& w) {
    auto d = get(w);
    if (d.ok() && !seen.insert(d.value()).second)
      return garbage("a dot in two places");
    return d;
  }
  static element get(const wire::Element& w) { return element{w.type_url(), w.value()}; }

  status get(const google::protobuf::RepeatedPtrField<wire::Dot>& ws, dot_set& out) {
    for (const auto& wd : ws) {
      auto d = get_stored(wd);
      if (!d.ok())
        return d.error();
      if (!out.insert(std::move(d).value()).second)
        return garbage("a dot twice in one set");
    }
    return {};
  }

  status get(const wire::Store& w, store& out) {
    auto type = from_wire(w.type());
    if (!type)
      return garbage("unknown CRDT type " + std::to_string(w.type()));
    out.type = *type;
    if (!uses_leaves(*type) && w.leaves_size() != 0)
      return garbage(std::string("leaves in a ") + std::string(to_string(*type)));
    if (!uses_elements(*type) && w.elements_size() != 0)
      return garbage(std::string("elements in a ") + std::string(to_string(*type)));
    if (*type != crdt_type::ormap && w.entries_size() != 0)
      return garbage(std::string("entries in a ") + std::string(to_string(*type)));
    for (const auto& wl : w.leaves()) {
      auto d = get_stored(wl.dot());
      if (!d.ok())
        return d.error();
      leaf l{.p = wl.p(), .n = wl.n(), .vote = wl.vote(), .value = get(wl.value()), .timestamp = wl.timestamp()};
      if (!out.fun.emplace(std::move(d).value(), std::move(l)).second)
        return garbage("a leaf dot twice");
    }
    for (const auto& we : w.elements()) {
      dot_set dots;
      if (auto st = get(we.dots(), dots); !st.ok())
        return st;
      if (dots.empty())
        continue;
      if (!out.elements.emplace(get(we.element()), std::move(dots)).second)
        return garbage("an element twice");
    }
    for (const auto& we : w.entries()) {
      entry e;
      if (auto st = get(we.presence(), e.presence); !st.ok())
        return st;
      if (!we.has_value())
        return garbage("an ORMap entry without a value");
      if (auto st = get(we.value(), e.value); !st.ok())
        return st;
      if (e.presence.empty() && e.value.bottom())
        continue;
      if (!out.entries.emplace(get(we.key()), std::move(e)).second)
        return garbage("an ORMap key twice");
    }
    return {};
  }
};

// Every dot a store holds must be in its context: joins treat a dot outside the other side's context as new.
bool inside(const store& s, const causal_context& c) {
  for (const auto& [d, l] : s.fun)
    if (!c.contains(d))
      return false;
  for (const auto& [el, dots] : s.elements)
    for (const auto& d : dots)
      if (!c.contains(d))
        return false;
  for (const auto& [k, en] : s.entries) {
    for (const auto& d : en.presence)
      if (!c.contains(d))
        return false;
    if (!inside(en.value, c))
      return false;
  }
  return true;
}

}  // namespace

std::string serialize(const replicated& state) {
  const auto& s = state.impl();
  wire::State out;
  out.set_version(format_version);
  writer w{out, {}};
  if (s.deleted) {
    out.set_deleted(true);
  } else if (s.typed) {
    w.put(s.value, out.mutable_value());
    for (const auto& [r, counter] : s.context.vv) {
      auto* e = out.add_vv();
      e->set_replica(w.replica(r));
      e->set_counter(counter);
    }
    for (const auto& d : s.context.cloud)
      w.put(d, out.add_cloud());
    if (s.touched) {
      out.set_hinted(true);
      for (const auto& el : *s.touched)
        writer::put(el, out.add_touched());
    }
  }
  std::string bytes;
  out.SerializeToString(&bytes);
  return bytes;
}

result<replicated> parse(std::string_view bytes) {
  wire::State in;
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      !in.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return garbage("undecodable bytes");
  if (in.version() != format_version)
    return garbage("format version " + std::to_string(in.version()) + " (this build reads version " +
                   std::to_string(format_version) + ")");
  replicated r;
  auto& s = r.impl();
  if (in.deleted()) {
    s.deleted = true;
    return r;
  }
  reader rd{in};
  if (!in.has_value()) {
    if (in.vv_size() != 0 || in.cloud_size() != 0)
      return garbage("a causal context without a CRDT");
    return r;
  }
  s.typed = true;
  if (auto st = rd.get(in.value(), s.value); !st.ok())
    return st;
  for (const auto& e : in.vv()) {
    if (e.replica() >= static_cast<uint32_t>(in.replicas_size()))
      return garbage("a version vector entry's replica index is out of range");
    if (e.counter() == 0)
      continue;
    auto& c = s.context.vv[in.replicas(static_cast<int>(e.replica()))];
    c = std::max(c, e.counter());
  }
  for (const auto& wd : in.cloud()) {
    auto d = rd.get(wd);
    if (!d.ok())
      return d.error();
    s.context.cloud.insert(std::move(d).value());
  }
  s.context.compact();
  if (!inside(s.value, s.context))
    return garbage("a dot outside the causal context");
  if (in.hinted()) {
    s.touched.emplace();
    for (const auto& el : in.touched())
      s.touched->insert(reader::get(el));
  }
  return r;
}

}  // namespace actorstate::crdt
