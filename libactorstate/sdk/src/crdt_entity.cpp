// The user side of the Cloudstate CRDT protocol for SDK entities (crdt_entity.hpp): the local value of each CRDT
// type with the delta of the current call, remote deltas applied as Cloudstate's support libraries apply them, and
// the conversation that runs commands, subscriptions and cancellations. Delta bookkeeping follows Cloudstate's Java
// support so that replies match what its TCK expects (e.g. an ORSet emptied by a removal reports `cleared`; a
// register write that changes neither value nor clock records nothing; a new ORMap entry carries its whole delta
// from empty). Unlike the Java support, a failed call rolls the local state back (a copy taken at the call's first
// change) instead of ending the stream, and a handler that throws fails only its command.
#include "actorstate/crdt_entity.hpp"

#include <algorithm>
#include <set>
#include <type_traits>

#include <google/protobuf/wrappers.pb.h>

#include "actorstate/ops/log.hpp"
#include "cloudstate/crdt.pb.h"

namespace actorstate {

namespace pb = cloudstate::crdt;

// ---------------------------------------------------------------------------------------------------------------
// Primitive values

namespace crdt {

namespace {

constexpr std::string_view primitive_prefix = "p.cloudstate.io/";

template <class Wrapper, class T>
value primitive(std::string_view name, T v) {
  Wrapper w;
  w.set_value(v);
  return {std::string{primitive_prefix} + std::string{name}, w.SerializeAsString()};
}

template <class Wrapper>
auto from_primitive(std::string_view name, const value& v) -> std::optional<std::decay_t<decltype(Wrapper{}.value())>> {
  Wrapper w;
  if (v.type != std::string{primitive_prefix} + std::string{name} || !w.ParseFromString(v.payload))
    return std::nullopt;
  return w.value();
}

}  // namespace

value of_string(std::string_view s) {
  return primitive<google::protobuf::StringValue>("string", std::string{s});
}
value of_bytes(std::string_view b) {
  return primitive<google::protobuf::BytesValue>("bytes", std::string{b});
}
value of_int32(int32_t i) {
  return primitive<google::protobuf::Int32Value>("int32", i);
}
value of_int64(int64_t i) {
  return primitive<google::protobuf::Int64Value>("int64", i);
}
value of_bool(bool b) {
  return primitive<google::protobuf::BoolValue>("bool", b);
}
value of_float(float f) {
  return primitive<google::protobuf::FloatValue>("float", f);
}
value of_double(double d) {
  return primitive<google::protobuf::DoubleValue>("double", d);
}

std::optional<std::string> as_string(const value& v) {
  return from_primitive<google::protobuf::StringValue>("string", v);
}
std::optional<std::string> as_bytes(const value& v) {
  return from_primitive<google::protobuf::BytesValue>("bytes", v);
}
std::optional<int32_t> as_int32(const value& v) {
  return from_primitive<google::protobuf::Int32Value>("int32", v);
}
std::optional<int64_t> as_int64(const value& v) {
  return from_primitive<google::protobuf::Int64Value>("int64", v);
}
std::optional<bool> as_bool(const value& v) {
  return from_primitive<google::protobuf::BoolValue>("bool", v);
}
std::optional<float> as_float(const value& v) {
  return from_primitive<google::protobuf::FloatValue>("float", v);
}
std::optional<double> as_double(const value& v) {
  return from_primitive<google::protobuf::DoubleValue>("double", v);
}

std::string_view to_string(type t) {
  switch (t) {
    case type::gcounter:
      return "GCounter";
    case type::pncounter:
      return "PNCounter";
    case type::gset:
      return "GSet";
    case type::orset:
      return "ORSet";
    case type::lww_register:
      return "LWWRegister";
    case type::flag:
      return "Flag";
    case type::ormap:
      return "ORMap";
    case type::vote:
      return "Vote";
  }
  return "unknown";
}

}  // namespace crdt

// ---------------------------------------------------------------------------------------------------------------
// The state: a tree of nodes (ORMap values are nodes too), each with its value and the delta of the current call.

namespace detail {

using value_set = std::set<crdt::value, crdt::value_less>;

/// An ORMap's entries; copies deeply, so that a node copies as a value (the rollback copy).
struct entry_map {
  std::map<crdt::value, std::unique_ptr<crdt_node>, crdt::value_less> m;
  entry_map() = default;
  entry_map(const entry_map& other);
  entry_map& operator=(const entry_map&) = delete;
};

struct crdt_node {
  crdt_node(crdt::type t, crdt_instance* o) : type(t), owner(o) {}

  crdt::type type;
  crdt_instance* owner;

  // The value.
  uint64_t gcount = 0;
  int64_t pncount = 0;
  value_set elements;  // gset, orset
  crdt::value reg;
  bool flag = false;
  bool self_vote = false;
  int32_t votes_for = 0;
  int32_t total_voters = 1;  // a single member until the runtime says otherwise
  entry_map entries;

  // The current call's delta.
  uint64_t d_gcount = 0;
  int64_t d_pncount = 0;
  bool d_cleared = false;              // orset, ormap
  std::vector<crdt::value> d_added;    // gset, orset: elements; ormap: keys of new entries
  std::vector<crdt::value> d_removed;  // orset: elements; ormap: keys
  bool d_reg = false;
  crdt::clock d_clock = crdt::clock::default_clock;
  int64_t d_custom = 0;
  bool d_flag = false;
  bool d_vote = false;
};

entry_map::entry_map(const entry_map& other) {
  for (const auto& [k, v] : other.m)
    m.emplace(k, std::make_unique<crdt_node>(*v));
}

/// One instance's state and the rollback copy of the call in progress.
class crdt_instance {
public:
  std::unique_ptr<crdt_node> root;

  /// A call starts: `writable` says whether it may change the state.
  void begin(bool writable) {
    writable_ = writable;
    copied_ = false;
    before_.reset();
  }
  /// The call succeeded: its changes stay.
  void commit() { begin(false); }
  /// The call failed: back to the state before its first change.
  void rollback() {
    if (copied_)
      root = std::move(before_);
    begin(false);
  }

  /// Called before every change.
  void before_write() {
    if (!writable_)
      throw std::logic_error("a CRDT may change only in command handlers and stream cancellations");
    if (!copied_) {
      before_ = root ? std::make_unique<crdt_node>(*root) : nullptr;
      copied_ = true;
    }
  }

private:
  bool writable_ = false;
  bool copied_ = false;
  std::unique_ptr<crdt_node> before_;
};

namespace {

bool erase_value(std::vector<crdt::value>& values, const crdt::value& v) {
  auto i = std::find_if(values.begin(), values.end(), [&](const crdt::value& x) { return crdt::same_value(x, v); });
  if (i == values.end())
    return false;
  values.erase(i);
  return true;
}

bool holds(const std::vector<crdt::value>& values, const crdt::value& v) {
  return std::any_of(values.begin(), values.end(), [&](const crdt::value& x) { return crdt::same_value(x, v); });
}

void expect_type(const crdt_node& n, crdt::type t) {
  if (n.type != t)
    throw std::logic_error("the CRDT is a " + std::string{crdt::to_string(n.type)} + ", not a " +
                           std::string{crdt::to_string(t)});
}

void orset_clear(crdt_node& n) {
  n.elements.clear();
  n.d_cleared = true;
  n.d_added.clear();
  n.d_removed.clear();
}

}  // namespace

}  // namespace detail

// ---------------------------------------------------------------------------------------------------------------
// Views

namespace crdt {

crdt::type view::type() const {
  return node_->type;
}

uint64_t gcounter::value() const {
  return node_->gcount;
}
void gcounter::increment(uint64_t by) {
  if (by == 0)
    return;
  node_->owner->before_write();
  node_->gcount += by;
  node_->d_gcount += by;
}

int64_t pncounter::value() const {
  return node_->pncount;
}
void pncounter::increment(int64_t by) {
  if (by == 0)
    return;
  node_->owner->before_write();
  node_->pncount += by;
  node_->d_pncount += by;
}
void pncounter::decrement(int64_t by) {
  increment(-by);
}

std::vector<crdt::value> gset::elements() const {
  return {node_->elements.begin(), node_->elements.end()};
}
bool gset::contains(const crdt::value& e) const {
  return node_->elements.count(e) > 0;
}
size_t gset::size() const {
  return node_->elements.size();
}
bool gset::add(crdt::value e) {
  if (node_->elements.count(e))
    return false;
  node_->owner->before_write();
  node_->d_added.push_back(e);
  node_->elements.insert(std::move(e));
  return true;
}

std::vector<crdt::value> orset::elements() const {
  return {node_->elements.begin(), node_->elements.end()};
}
bool orset::contains(const crdt::value& e) const {
  return node_->elements.count(e) > 0;
}
size_t orset::size() const {
  return node_->elements.size();
}
bool orset::add(crdt::value e) {
  if (node_->elements.count(e))
    return false;
  node_->owner->before_write();
  // Re-adding what this call removed cancels the removal (the element was there before the call).
  if (!detail::erase_value(node_->d_removed, e))
    node_->d_added.push_back(e);
  node_->elements.insert(std::move(e));
  return true;
}
bool orset::remove(const crdt::value& e) {
  auto i = node_->elements.find(e);
  if (i == node_->elements.end())
    return false;
  node_->owner->before_write();
  node_->elements.erase(i);
  if (node_->elements.empty())
    detail::orset_clear(*node_);  // cheaper for the runtime than naming every removal
  else if (!detail::erase_value(node_->d_added, e))
    node_->d_removed.push_back(e);
  return true;
}
void orset::clear() {
  node_->owner->before_write();
  detail::orset_clear(*node_);
}

const crdt::value& lww_register::value() const {
  return node_->reg;
}
void lww_register::set(crdt::value v, crdt::clock c, int64_t custom_clock_value) {
  if (crdt::same_value(v, node_->reg) && c == node_->d_clock && custom_clock_value == node_->d_custom)
    return;
  node_->owner->before_write();
  node_->reg = std::move(v);
  node_->d_reg = true;
  node_->d_clock = c;
  node_->d_custom = custom_clock_value;
}

bool flag::enabled() const {
  return node_->flag;
}
void flag::enable() {
  if (node_->flag)
    return;
  node_->owner->before_write();
  node_->flag = true;
  node_->d_flag = true;
}

bool vote::self_vote() const {
  return node_->self_vote;
}
int32_t vote::votes_for() const {
  return node_->votes_for;
}
int32_t vote::total_voters() const {
  return node_->total_voters;
}
void vote::cast(bool in_favour) {
  if (node_->self_vote == in_favour)
    return;
  node_->owner->before_write();
  node_->self_vote = in_favour;
  node_->votes_for += in_favour ? 1 : -1;
  node_->d_vote = !node_->d_vote;  // voting back within one call changes nothing
}

void any_crdt::check(crdt::type expected) const {
  detail::expect_type(*node_, expected);
}

std::vector<crdt::value> ormap::keys() const {
  std::vector<crdt::value> keys;
  keys.reserve(node_->entries.m.size());
  for (const auto& [k, v] : node_->entries.m)
    keys.push_back(k);
  return keys;
}
bool ormap::contains(const crdt::value& key) const {
  return node_->entries.m.count(key) > 0;
}
size_t ormap::size() const {
  return node_->entries.m.size();
}
std::optional<any_crdt> ormap::get(const crdt::value& key) const {
  auto i = node_->entries.m.find(key);
  if (i == node_->entries.m.end())
    return std::nullopt;
  return any_crdt{i->second.get()};
}
detail::crdt_node* ormap::entry(const crdt::value& key, crdt::type t, bool& created) {
  auto i = node_->entries.m.find(key);
  if (i != node_->entries.m.end()) {
    detail::expect_type(*i->second, t);
    created = false;
    return i->second.get();
  }
  node_->owner->before_write();
  auto* n = node_->entries.m.emplace(key, std::make_unique<detail::crdt_node>(t, node_->owner)).first->second.get();
  node_->d_added.push_back(key);
  created = true;
  return n;
}
bool ormap::remove(const crdt::value& key) {
  auto i = node_->entries.m.find(key);
  if (i == node_->entries.m.end())
    return false;
  node_->owner->before_write();
  node_->entries.m.erase(i);
  if (!detail::erase_value(node_->d_added, key))
    node_->d_removed.push_back(key);
  return true;
}
void ormap::clear() {
  node_->owner->before_write();
  node_->entries.m.clear();
  node_->d_cleared = true;
  node_->d_added.clear();
  node_->d_removed.clear();
}

}  // namespace crdt

// ---------------------------------------------------------------------------------------------------------------
// Contexts

namespace detail {

std::optional<crdt::any_crdt> crdt_context_base::state() const {
  if (!instance_.root)
    return std::nullopt;
  return crdt::any_crdt{instance_.root.get()};
}

crdt_node* crdt_writing_context::create_state(crdt::type t, bool& created) {
  if (instance_.root) {
    expect_type(*instance_.root, t);
    created = false;
    return instance_.root.get();
  }
  instance_.before_write();
  instance_.root = std::make_unique<crdt_node>(t, &instance_);
  created = true;
  return instance_.root.get();
}

// ---------------------------------------------------------------------------------------------------------------
// Deltas out

namespace {

void set_any(google::protobuf::Any& any, const crdt::value& v) {
  any.set_type_url(v.type);
  any.set_value(v.payload);
}

crdt::value value_of(const google::protobuf::Any& any) {
  return {any.type_url(), any.value()};
}

bool has_delta(const crdt_node& n) {
  switch (n.type) {
    case crdt::type::gcounter:
      return n.d_gcount != 0;
    case crdt::type::pncounter:
      return n.d_pncount != 0;
    case crdt::type::gset:
      return !n.d_added.empty();
    case crdt::type::orset:
      return n.d_cleared || !n.d_added.empty() || !n.d_removed.empty();
    case crdt::type::lww_register:
      return n.d_reg;
    case crdt::type::flag:
      return n.d_flag;
    case crdt::type::vote:
      return n.d_vote;
    case crdt::type::ormap:
      if (n.d_cleared || !n.d_added.empty() || !n.d_removed.empty())
        return true;
      return std::any_of(n.entries.m.begin(), n.entries.m.end(), [](const auto& e) { return has_delta(*e.second); });
  }
  return false;
}

pb::CrdtClock clock_of(crdt::clock c) {
  switch (c) {
    case crdt::clock::default_clock:
      return pb::DEFAULT;
    case crdt::clock::reverse:
      return pb::REVERSE;
    case crdt::clock::custom:
      return pb::CUSTOM;
    case crdt::clock::custom_auto_increment:
      return pb::CUSTOM_AUTO_INCREMENT;
  }
  return pb::DEFAULT;
}

/// The node's delta (also when it has none: a new ORMap entry carries its delta from empty regardless).
void write_delta(const crdt_node& n, pb::CrdtDelta& out) {
  switch (n.type) {
    case crdt::type::gcounter:
      out.mutable_gcounter()->set_increment(n.d_gcount);
      return;
    case crdt::type::pncounter:
      out.mutable_pncounter()->set_change(n.d_pncount);
      return;
    case crdt::type::gset: {
      auto* d = out.mutable_gset();
      for (const auto& e : n.d_added)
        set_any(*d->add_added(), e);
      return;
    }
    case crdt::type::orset: {
      auto* d = out.mutable_orset();
      d->set_cleared(n.d_cleared);
      for (const auto& e : n.d_removed)
        set_any(*d->add_removed(), e);
      for (const auto& e : n.d_added)
        set_any(*d->add_added(), e);
      return;
    }
    case crdt::type::lww_register: {
      auto* d = out.mutable_lwwregister();
      if (n.d_reg) {
        set_any(*d->mutable_value(), n.reg);
        d->set_clock(clock_of(n.d_clock));
        d->set_custom_clock_value(n.d_custom);
      }
      return;
    }
    case crdt::type::flag:
      out.mutable_flag()->set_value(n.d_flag);
      return;
    case crdt::type::vote:
      out.mutable_vote()->set_self_vote(n.self_vote);
      return;
    case crdt::type::ormap: {
      auto* d = out.mutable_ormap();
      d->set_cleared(n.d_cleared);
      for (const auto& k : n.d_removed)
        set_any(*d->add_removed(), k);
      for (const auto& [k, v] : n.entries.m) {
        if (holds(n.d_added, k) || !has_delta(*v))
          continue;
        auto* e = d->add_updated();
        set_any(*e->mutable_key(), k);
        write_delta(*v, *e->mutable_delta());
      }
      for (const auto& k : n.d_added) {
        auto* e = d->add_added();
        set_any(*e->mutable_key(), k);
        write_delta(*n.entries.m.at(k), *e->mutable_delta());
      }
      return;
    }
  }
}

void reset_delta(crdt_node& n) {
  n.d_gcount = 0;
  n.d_pncount = 0;
  n.d_cleared = false;
  n.d_added.clear();
  n.d_removed.clear();
  n.d_reg = false;
  n.d_clock = crdt::clock::default_clock;
  n.d_custom = 0;
  n.d_flag = false;
  n.d_vote = false;
  for (auto& [k, v] : n.entries.m)
    reset_delta(*v);
}

// ---------------------------------------------------------------------------------------------------------------
// Deltas in

std::optional<crdt::type> type_of(const pb::CrdtDelta& d) {
  switch (d.delta_case()) {
    case pb::CrdtDelta::kGcounter:
      return crdt::type::gcounter;
    case pb::CrdtDelta::kPncounter:
      return crdt::type::pncounter;
    case pb::CrdtDelta::kGset:
      return crdt::type::gset;
    case pb::CrdtDelta::kOrset:
      return crdt::type::orset;
    case pb::CrdtDelta::kLwwregister:
      return crdt::type::lww_register;
    case pb::CrdtDelta::kFlag:
      return crdt::type::flag;
    case pb::CrdtDelta::kOrmap:
      return crdt::type::ormap;
    case pb::CrdtDelta::kVote:
      return crdt::type::vote;
    case pb::CrdtDelta::DELTA_NOT_SET:
      break;
  }
  return std::nullopt;
}

status apply_delta(crdt_node& n, const pb::CrdtDelta& d);

result<std::unique_ptr<crdt_node>> node_from_delta(const pb::CrdtDelta& d, crdt_instance* owner) {
  auto t = type_of(d);
  if (!t)
    return status{status_code::invalid_argument, "empty CRDT delta"};
  auto n = std::make_unique<crdt_node>(*t, owner);
  if (auto applied = apply_delta(*n, d); !applied.ok())
    return applied;
  return n;
}

/// Applies a change made elsewhere; `invalid_argument` when it does not fit the node.
status apply_delta(crdt_node& n, const pb::CrdtDelta& d) {
  auto t = type_of(d);
  if (!t)
    return {status_code::invalid_argument, "empty CRDT delta"};
  if (*t != n.type)
    return {status_code::invalid_argument,
            "a " + std::string{crdt::to_string(*t)} + " delta for a " + std::string{crdt::to_string(n.type)}};
  switch (n.type) {
    case crdt::type::gcounter:
      n.gcount += d.gcounter().increment();
      break;
    case crdt::type::pncounter:
      n.pncount += d.pncounter().change();
      break;
    case crdt::type::gset:
      for (const auto& e : d.gset().added())
        n.elements.insert(value_of(e));
      break;
    case crdt::type::orset:
      if (d.orset().cleared())
        n.elements.clear();
      for (const auto& e : d.orset().removed())
        n.elements.erase(value_of(e));
      for (const auto& e : d.orset().added())
        n.elements.insert(value_of(e));
      break;
    case crdt::type::lww_register:
      if (d.lwwregister().has_value())
        n.reg = value_of(d.lwwregister().value());
      break;
    case crdt::type::flag:
      n.flag = n.flag || d.flag().value();
      break;
    case crdt::type::vote:
      n.self_vote = d.vote().self_vote();
      n.votes_for = d.vote().votes_for();
      n.total_voters = d.vote().total_voters();
      break;
    case crdt::type::ormap: {
      const auto& m = d.ormap();
      if (m.cleared())
        n.entries.m.clear();
      for (const auto& k : m.removed())
        n.entries.m.erase(value_of(k));
      for (const auto& e : m.updated()) {
        if (!e.has_key() || !e.has_delta())
          return {status_code::invalid_argument, "ORMap entry delta without key or delta"};
        auto i = n.entries.m.find(value_of(e.key()));
        if (i == n.entries.m.end()) {
          // The Java support logs and ignores this too: the runtime's view and ours differ only by this entry.
          log::warn("CRDT delta updates a missing ORMap entry; ignored", {{"key_type", e.key().type_url()}});
          continue;
        }
        if (auto applied = apply_delta(*i->second, e.delta()); !applied.ok())
          return applied;
      }
      for (const auto& e : m.added()) {
        if (!e.has_key() || !e.has_delta())
          return {status_code::invalid_argument, "ORMap entry delta without key or delta"};
        auto made = node_from_delta(e.delta(), n.owner);
        if (!made.ok())
          return made.error();
        n.entries.m[value_of(e.key())] = std::move(made).value();
      }
      break;
    }
  }
  return {};
}

// ---------------------------------------------------------------------------------------------------------------
// The conversation

void add_side_effects(google::protobuf::RepeatedPtrField<cloudstate::SideEffect>& out,
                      std::vector<effect_call>& calls) {
  for (auto& call : calls) {
    auto* effect = out.Add();
    effect->set_service_name(std::move(call.service_name));
    effect->set_command_name(std::move(call.method));
    effect->mutable_payload()->set_type_url(std::move(call.payload.type));
    effect->mutable_payload()->set_value(std::move(call.payload.payload));
    effect->set_synchronous(call.synchronous);
  }
}

/// The client action of a successful output: a forward, a reply, or none (`no_reply`).
void set_client_action(handler_output& out, const std::string& output_type, cloudstate::ClientAction& action) {
  if (out.forward) {
    auto* fwd = action.mutable_forward();
    fwd->set_service_name(std::move(out.forward->service_name));
    fwd->set_command_name(std::move(out.forward->method));
    fwd->mutable_payload()->set_type_url(std::move(out.forward->payload.type));
    fwd->mutable_payload()->set_value(std::move(out.forward->payload.payload));
  } else if (!out.no_reply) {
    auto* payload = action.mutable_reply()->mutable_payload();
    payload->set_type_url(output_type);
    payload->set_value(std::move(out.reply));
  }
}

void set_failure(cloudstate::ClientAction& action, int64_t command_id, std::string description) {
  auto* failure = action.mutable_failure();
  failure->set_command_id(command_id);
  failure->set_description(std::move(description));
}

pb::CrdtWriteConsistency consistency_of(crdt::write_consistency wc) {
  switch (wc) {
    case crdt::write_consistency::local:
      return pb::LOCAL;
    case crdt::write_consistency::majority:
      return pb::MAJORITY;
    case crdt::write_consistency::all:
      return pb::ALL;
  }
  return pb::LOCAL;
}

/// Runs user code; the exception's text if it throws.
template <class F>
std::optional<std::string> guarded(F&& f) {
  try {
    f();
    return std::nullopt;
  } catch (const std::exception& e) {
    return std::string{e.what()};
  } catch (...) {
    return std::string{"unknown exception"};
  }
}

class local_crdt_conversation final : public crdt_conversation {
public:
  local_crdt_conversation(std::shared_ptr<const crdt_handlers> handlers, std::string service_name,
                          std::string entity_id, crdt_sink sink)
      : handlers_(std::move(handlers)),
        service_name_(std::move(service_name)),
        entity_id_(std::move(entity_id)),
        sink_(std::move(sink)) {}

  void send(const pb::CrdtStreamIn& in) override {
    if (closed_)
      return;
    if (!initialized_ && in.message_case() != pb::CrdtStreamIn::kInit) {
      protocol_error("expected init as the first message");
      return;
    }
    switch (in.message_case()) {
      case pb::CrdtStreamIn::kInit:
        on_init(in.init());
        return;
      case pb::CrdtStreamIn::kDelta:
        on_delta(in.delta());
        return;
      case pb::CrdtStreamIn::kDelete:
        on_delete();
        return;
      case pb::CrdtStreamIn::kCommand:
        on_command(in.command());
        return;
      case pb::CrdtStreamIn::kStreamCancelled:
        on_cancelled(in.stream_cancelled());
        return;
      case pb::CrdtStreamIn::MESSAGE_NOT_SET:
        break;
    }
    protocol_error("empty CrdtStreamIn message");
  }

  void close() override {
    closed_ = true;
    subscriptions_.clear();
  }

private:
  void on_init(const pb::CrdtInit& init) {
    if (initialized_) {
      protocol_error("init received twice");
      return;
    }
    initialized_ = true;
    if (!init.entity_id().empty())
      entity_id_ = init.entity_id();
    if (init.has_delta()) {
      auto made = node_from_delta(init.delta(), &instance_);
      if (!made.ok()) {
        protocol_error("initial state: " + made.error().message());
        return;
      }
      instance_.root = std::move(made).value();
    }
    log::debug("CRDT entity activated",
               {{"service", service_name_},
                {"entity_id", entity_id_},
                {"state", instance_.root ? std::string{crdt::to_string(instance_.root->type)} : std::string{"none"}}});
  }

  void on_delta(const pb::CrdtDelta& delta) {
    if (deleted_)
      return;  // the runtime is about to close; nothing to keep up to date
    if (!instance_.root) {
      auto made = node_from_delta(delta, &instance_);
      if (!made.ok()) {
        protocol_error("delta: " + made.error().message());
        return;
      }
      instance_.root = std::move(made).value();
    } else if (auto applied = apply_delta(*instance_.root, delta); !applied.ok()) {
      protocol_error("delta: " + applied.message());
      return;
    }
    notify_subscribers();
  }

  // Deleted elsewhere: the runtime closes the conversation next; streams end with it.
  void on_delete() {
    deleted_ = true;
    instance_.root.reset();
    subscriptions_.clear();
  }

  void on_command(const cloudstate::Command& cmd) {
    pb::CrdtStreamOut out;
    auto* reply = out.mutable_reply();
    reply->set_command_id(cmd.id());
    if (deleted_) {
      set_failure(*reply->mutable_client_action(), cmd.id(), "Entity deleted");
      emit(std::move(out));
      return;
    }
    auto h = handlers_->find(cmd.name());
    if (h == handlers_->end()) {
      set_failure(*reply->mutable_client_action(), cmd.id(), "no handler for method " + cmd.name());
      emit(std::move(out));
      return;
    }
    const auto& entity_id = cmd.entity_id().empty() ? entity_id_ : cmd.entity_id();
    crdt_call call{instance_, entity_id, cmd.id(), cmd.streamed() && h->second.streams, {}, {}};
    handler_output result;
    instance_.begin(true);
    auto thrown = guarded([&] { result = h->second.run(cmd.payload().value(), call); });
    if (thrown || !result.status.ok()) {
      // Nothing of a failed command counts: no state change, no side effects, no subscription.
      instance_.rollback();
      std::string description = thrown ? "command handler threw: " + *thrown : result.status.message();
      if (thrown)
        log::error(
            "CRDT command handler threw",
            {{"service", service_name_}, {"entity_id", entity_id_}, {"command", cmd.name()}, {"error", *thrown}});
      set_failure(*reply->mutable_client_action(), cmd.id(), std::move(description));
      emit(std::move(out));
      return;
    }
    instance_.commit();
    bool changed = state_action(result.delete_value, call.consistency, *reply->mutable_state_action());
    if (reply->state_action().action_case() == pb::CrdtStateAction::ACTION_NOT_SET)
      reply->clear_state_action();
    set_client_action(result, h->second.output_type, *reply->mutable_client_action());
    if (reply->client_action().action_case() == cloudstate::ClientAction::ACTION_NOT_SET)
      reply->clear_client_action();
    add_side_effects(*reply->mutable_side_effects(), result.side_effects);
    bool subscribed = call.streamed && !deleted_ && (call.subscription.on_change || call.subscription.on_cancel);
    reply->set_streamed(subscribed);
    emit(std::move(out));
    // Other streams learn of this change after its reply; the new one only of later changes.
    if (changed)
      notify_subscribers();
    if (subscribed) {
      subscriptions_[cmd.id()] = {std::move(call.subscription), h->second.output_type};
      streamed_ids_.insert(cmd.id());
    }
  }

  void on_cancelled(const cloudstate::StreamCancelled& cancelled) {
    auto id = cancelled.id();
    pb::CrdtStreamOut out;
    auto* response = out.mutable_stream_cancelled_response();
    response->set_command_id(id);
    auto i = subscriptions_.find(id);
    if (i == subscriptions_.end()) {
      // A stream this side ended itself may cross the client's cancellation; any other id is a runtime bug.
      if (!streamed_ids_.count(id) && !deleted_) {
        protocol_error("stream cancelled for unknown command " + std::to_string(id));
        return;
      }
      emit(std::move(out));
      return;
    }
    auto sub = std::move(i->second);
    subscriptions_.erase(i);
    if (!sub.handlers.on_cancel) {
      emit(std::move(out));
      return;
    }
    crdt_cancel_context ctx{instance_, entity_id_, id};
    instance_.begin(true);
    auto thrown = guarded([&] { sub.handlers.on_cancel(ctx); });
    if (thrown) {
      // The response has nowhere to put a failure: it goes out bare, and the state stays as it was.
      instance_.rollback();
      log::error("CRDT stream cancellation handler threw", {{"service", service_name_},
                                                            {"entity_id", entity_id_},
                                                            {"command_id", std::to_string(id)},
                                                            {"error", *thrown}});
      emit(std::move(out));
      return;
    }
    instance_.commit();
    bool changed = state_action(ctx.deleted(), ctx.consistency(), *response->mutable_state_action());
    if (response->state_action().action_case() == pb::CrdtStateAction::ACTION_NOT_SET)
      response->clear_state_action();
    add_side_effects(*response->mutable_side_effects(), ctx.side_effects());
    emit(std::move(out));
    if (changed)
      notify_subscribers();
  }

  /// Fills the call's state action (delete, or the update if anything changed) and clears the delta; true when
  /// the state changed (and subscribers should hear of it).
  bool state_action(bool remove, crdt::write_consistency wc, pb::CrdtStateAction& action) {
    if (remove) {
      action.mutable_delete_();
      action.set_write_consistency(consistency_of(wc));
      deleted_ = true;
      instance_.root.reset();
      subscriptions_.clear();
      return false;
    }
    if (!instance_.root || !has_delta(*instance_.root))
      return false;
    write_delta(*instance_.root, *action.mutable_update());
    action.set_write_consistency(consistency_of(wc));
    reset_delta(*instance_.root);
    return true;
  }

  void notify_subscribers() {
    std::vector<int64_t> done;
    for (auto& [id, sub] : subscriptions_) {
      if (!sub.handlers.on_change)
        continue;
      crdt_change_context ctx{instance_, entity_id_, id};
      handler_output result;
      instance_.begin(false);
      auto thrown = guarded([&] { result = sub.handlers.on_change(ctx); });
      instance_.commit();
      pb::CrdtStreamOut out;
      auto* msg = out.mutable_streamed_message();
      msg->set_command_id(id);
      if (thrown || !result.status.ok()) {
        if (thrown)
          log::error("CRDT change handler threw", {{"service", service_name_},
                                                   {"entity_id", entity_id_},
                                                   {"command_id", std::to_string(id)},
                                                   {"error", *thrown}});
        set_failure(*msg->mutable_client_action(), id,
                    thrown ? "change handler threw: " + *thrown : result.status.message());
        done.push_back(id);
        emit(std::move(out));
        continue;
      }
      set_client_action(result, sub.output_type, *msg->mutable_client_action());
      bool answered = msg->client_action().action_case() != cloudstate::ClientAction::ACTION_NOT_SET;
      if (!answered)
        msg->clear_client_action();
      add_side_effects(*msg->mutable_side_effects(), ctx.side_effects());
      msg->set_end_stream(ctx.ended());
      if (ctx.ended())
        done.push_back(id);
      if (answered || ctx.ended() || msg->side_effects_size() > 0)
        emit(std::move(out));
    }
    for (auto id : done)
      subscriptions_.erase(id);
  }

  void emit(pb::CrdtStreamOut out) {
    if (sink_.message)
      sink_.message(std::move(out));
  }

  void protocol_error(std::string description) {
    log::warn("CRDT protocol error; ending the conversation",
              {{"service", service_name_}, {"entity_id", entity_id_}, {"error", description}});
    pb::CrdtStreamOut out;
    out.mutable_failure()->set_description(description);
    emit(std::move(out));
    closed_ = true;
    subscriptions_.clear();
    if (sink_.ended)
      sink_.ended(status{status_code::invalid_argument, std::move(description)});
  }

  struct subscription {
    crdt_subscription handlers;
    std::string output_type;
  };

  std::shared_ptr<const crdt_handlers> handlers_;
  std::string service_name_;
  std::string entity_id_;
  crdt_sink sink_;
  crdt_instance instance_;
  bool initialized_ = false;
  bool deleted_ = false;
  bool closed_ = false;
  std::map<int64_t, subscription> subscriptions_;  // by command id: notified in the order the streams began
  std::set<int64_t> streamed_ids_;                 // every command that became a stream
};

}  // namespace

std::unique_ptr<crdt_conversation> open_crdt_conversation(std::shared_ptr<const crdt_handlers> handlers,
                                                          std::string service_name, std::string entity_id,
                                                          crdt_sink sink) {
  return std::make_unique<local_crdt_conversation>(std::move(handlers), std::move(service_name), std::move(entity_id),
                                                   std::move(sink));
}

}  // namespace detail

crdt_entity::crdt_entity(std::string service_name, std::string persistence_id)
    : model_(std::make_shared<detail::crdt_model>()), handlers_(std::make_shared<detail::crdt_handlers>()) {
  model_->service_name = std::move(service_name);
  model_->persistence_id = std::move(persistence_id);
  // Handlers registered later are seen: the conversation reads the shared map, fixed once the entity is served.
  model_->open = [handlers = handlers_, service = model_->service_name](const std::string& entity_id,
                                                                        detail::crdt_sink sink) {
    return detail::open_crdt_conversation(handlers, service, entity_id, std::move(sink));
  };
}

}  // namespace actorstate
