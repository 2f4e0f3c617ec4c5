// The TCK's CRDT model services; see crdt_model.hpp.
#include "crdt_model.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cloudstate/tck/model/crdt.pb.h"

namespace tck {

namespace {

using namespace std::chrono_literals;

namespace cr = cloudstate::tck::model::crdt;
namespace crdt = actorstate::crdt;

constexpr const char* crdt_two = "cloudstate.tck.model.crdt.CrdtTwo";

cr::Request request_for(const std::string& id) {
  cr::Request request;
  request.set_id(id);
  return request;
}

// CRDTs. The CRDT's type is the entity id's prefix up to the first '-' (an ORMap entry's: its key's); strings are
// Cloudstate primitive strings. A new register holds "" (so its first reply carries that as a delta, as the
// Java support's TCK model does).

/// `create.template operator()<T>(init)` makes or gets a CRDT of type T; this picks T by the name's prefix.
template <class Create>
crdt::any_crdt by_name(const std::string& name, Create&& create) {
  auto type = name.substr(0, name.find('-'));
  auto none = [](auto&) {};
  if (type == "GCounter")
    return create.template operator()<crdt::gcounter>(none);
  if (type == "PNCounter")
    return create.template operator()<crdt::pncounter>(none);
  if (type == "GSet")
    return create.template operator()<crdt::gset>(none);
  if (type == "ORSet")
    return create.template operator()<crdt::orset>(none);
  if (type == "LWWRegister")
    return create.template operator()<crdt::lww_register>([](crdt::lww_register& r) { r.set(crdt::of_string("")); });
  if (type == "Flag")
    return create.template operator()<crdt::flag>(none);
  if (type == "ORMap")
    return create.template operator()<crdt::ormap>(none);
  if (type == "Vote")
    return create.template operator()<crdt::vote>(none);
  throw std::invalid_argument("unknown CRDT type " + type);
}

/// The entity's state, created if it has none yet.
template <class Context>
crdt::any_crdt tck_state(Context& ctx) {
  return by_name(ctx.entity_id(),
                 [&]<class T>(auto init) { return crdt::any_crdt{ctx.template state_or_create<T>(init)}; });
}

crdt::clock clock_of(cr::LWWRegisterClockType type) {
  switch (type) {
    case cr::REVERSE:
      return crdt::clock::reverse;
    case cr::CUSTOM:
      return crdt::clock::custom;
    case cr::CUSTOM_AUTO_INCREMENT:
      return crdt::clock::custom_auto_increment;
    default:
      return crdt::clock::default_clock;
  }
}

void apply_update(crdt::any_crdt state, const cr::Update& update) {
  switch (update.update_case()) {
    case cr::Update::kGcounter:
      state.as<crdt::gcounter>().increment(update.gcounter().increment());
      break;
    case cr::Update::kPncounter:
      state.as<crdt::pncounter>().increment(update.pncounter().change());
      break;
    case cr::Update::kGset:
      state.as<crdt::gset>().add(crdt::of_string(update.gset().add()));
      break;
    case cr::Update::kOrset: {
      auto set = state.as<crdt::orset>();
      const auto& u = update.orset();
      if (u.action_case() == cr::ORSetUpdate::kAdd)
        set.add(crdt::of_string(u.add()));
      else if (u.action_case() == cr::ORSetUpdate::kRemove)
        set.remove(crdt::of_string(u.remove()));
      else if (u.action_case() == cr::ORSetUpdate::kClear && u.clear())
        set.clear();
      break;
    }
    case cr::Update::kLwwregister: {
      const auto& u = update.lwwregister();
      auto value = crdt::of_string(u.value());
      if (u.has_clock())
        state.as<crdt::lww_register>().set(std::move(value), clock_of(u.clock().clocktype()),
                                           u.clock().customclockvalue());
      else
        state.as<crdt::lww_register>().set(std::move(value));
      break;
    }
    case cr::Update::kFlag:
      state.as<crdt::flag>().enable();
      break;
    case cr::Update::kOrmap: {
      auto map = state.as<crdt::ormap>();
      const auto& u = update.ormap();
      auto entry = [&map](const std::string& key) {
        return by_name(
            key, [&]<class T>(auto init) { return crdt::any_crdt{map.get_or_create<T>(crdt::of_string(key), init)}; });
      };
      switch (u.action_case()) {
        case cr::ORMapUpdate::kAdd:
          entry(u.add());
          break;
        case cr::ORMapUpdate::kUpdate:
          apply_update(entry(u.update().key()), u.update().update());
          break;
        case cr::ORMapUpdate::kRemove:
          map.remove(crdt::of_string(u.remove()));
          break;
        case cr::ORMapUpdate::kClear:
          map.clear();
          break;
        case cr::ORMapUpdate::ACTION_NOT_SET:
          break;
      }
      break;
    }
    case cr::Update::kVote:
      state.as<crdt::vote>().cast(update.vote().self_vote());
      break;
    case cr::Update::UPDATE_NOT_SET:
      break;
  }
}

crdt::write_consistency consistency_of(cr::UpdateWriteConsistency wc) {
  switch (wc) {
    case cr::MAJORITY:
      return crdt::write_consistency::majority;
    case cr::ALL:
      return crdt::write_consistency::all;
    default:
      return crdt::write_consistency::local;
  }
}

std::vector<std::string> sorted_strings(const std::vector<crdt::value>& values) {
  std::vector<std::string> out;
  for (const auto& v : values)
    out.push_back(crdt::as_string(v).value_or(""));
  std::sort(out.begin(), out.end());
  return out;
}

/// The TCK's view of a CRDT: sets and map entries sorted.
cr::State state_of(crdt::any_crdt c) {
  cr::State state;
  switch (c.type()) {
    case crdt::type::gcounter:
      state.mutable_gcounter()->set_value(c.as<crdt::gcounter>().value());
      break;
    case crdt::type::pncounter:
      state.mutable_pncounter()->set_value(c.as<crdt::pncounter>().value());
      break;
    case crdt::type::gset:
      for (auto& e : sorted_strings(c.as<crdt::gset>().elements()))
        state.mutable_gset()->add_elements(std::move(e));
      state.mutable_gset();
      break;
    case crdt::type::orset:
      for (auto& e : sorted_strings(c.as<crdt::orset>().elements()))
        state.mutable_orset()->add_elements(std::move(e));
      state.mutable_orset();
      break;
    case crdt::type::lww_register:
      state.mutable_lwwregister()->set_value(crdt::as_string(c.as<crdt::lww_register>().value()).value_or(""));
      break;
    case crdt::type::flag:
      state.mutable_flag()->set_value(c.as<crdt::flag>().enabled());
      break;
    case crdt::type::ormap: {
      auto map = c.as<crdt::ormap>();
      std::vector<std::pair<std::string, cr::State>> entries;
      for (const auto& key : map.keys())
        entries.emplace_back(crdt::as_string(key).value_or(""), state_of(*map.get(key)));
      std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      auto* out = state.mutable_ormap();
      for (auto& [key, value] : entries) {
        auto* e = out->add_entries();
        e->set_key(key);
        *e->mutable_value() = std::move(value);
      }
      break;
    }
    case crdt::type::vote: {
      auto vote = c.as<crdt::vote>();
      auto* out = state.mutable_vote();
      out->set_self_vote(vote.self_vote());
      out->set_votes_for(vote.votes_for());
      out->set_total_voters(vote.total_voters());
      break;
    }
  }
  return state;
}

cr::Response response_of(crdt::any_crdt c) {
  cr::Response response;
  *response.mutable_state() = state_of(c);
  return response;
}

}  // namespace

actorstate::crdt_entity crdt_tck_model() {
  actorstate::crdt_entity entity{"cloudstate.tck.model.crdt.CrdtTckModel", "crdt-tck-model"};
  entity
      .on_command<cr::Request, cr::Response>(
          "Process",
          [](const cr::Request& request, actorstate::crdt_context& ctx) -> actorstate::outcome<cr::Response> {
            auto state = tck_state(ctx);
            std::optional<actorstate::forward_to> forward;
            for (const auto& action : request.actions()) {
              switch (action.action_case()) {
                case cr::RequestAction::kUpdate:
                  apply_update(state, action.update());
                  ctx.write_consistency(consistency_of(action.update().write_consistency()));
                  break;
                case cr::RequestAction::kDelete:
                  ctx.delete_entity();
                  break;
                case cr::RequestAction::kForward:
                  forward.emplace(crdt_two, "Call", request_for(action.forward().id()));
                  break;
                case cr::RequestAction::kEffect:
                  ctx.side_effect(crdt_two, "Call", request_for(action.effect().id()), action.effect().synchronous());
                  break;
                case cr::RequestAction::kFail:
                  return actorstate::failure{action.fail().message()};
                case cr::RequestAction::ACTION_NOT_SET:
                  break;
              }
            }
            if (forward)
              return std::move(*forward);
            return response_of(state);
          })
      .on_stream<cr::StreamedRequest, cr::Response>(
          "ProcessStreamed",
          [](const cr::StreamedRequest& request,
             actorstate::crdt_stream_context<cr::Response>& ctx) -> actorstate::outcome<cr::Response> {
            auto state = tck_state(ctx);
            if (ctx.streamed()) {
              ctx.on_change([request](actorstate::crdt_change_context& change) -> actorstate::outcome<cr::Response> {
                for (const auto& effect : request.effects())
                  change.side_effect(crdt_two, "Call", request_for(effect.id()), effect.synchronous());
                auto now = change.state();
                if (!now)
                  return actorstate::no_reply;
                auto current = state_of(*now);
                if (request.has_end_state() && current.SerializeAsString() == request.end_state().SerializeAsString())
                  change.end_stream();
                if (request.empty())
                  return actorstate::no_reply;
                cr::Response response;
                *response.mutable_state() = std::move(current);
                return response;
              });
              if (request.has_cancel_update())
                ctx.on_cancel([update = request.cancel_update()](actorstate::crdt_cancel_context& cancel) {
                  apply_update(tck_state(cancel), update);
                });
            }
            if (request.has_initial_update())
              apply_update(state, request.initial_update());
            if (request.empty())
              return actorstate::no_reply;
            return response_of(state);
          });
  return entity;
}

// CrdtTwo: `Call` replies with an empty Response; a delete action deletes the entity (a GCounter, as in the Java
// support's model, so that there is something to delete).
actorstate::crdt_entity crdt_two_model() {
  actorstate::crdt_entity entity{crdt_two, "crdt-tck-model-two"};
  entity.on_command<cr::Request, cr::Response>("Call", [](const cr::Request& request, actorstate::crdt_context& ctx) {
    ctx.state_or_create<crdt::gcounter>();
    for (const auto& action : request.actions())
      if (action.has_delete_())
        ctx.delete_entity();
    return cr::Response{};
  });
  return entity;
}

actorstate::crdt_entity crdt_configured_model() {
  actorstate::crdt_entity entity{"cloudstate.tck.model.crdt.CrdtConfigured", "crdt-configured"};
  entity.passivation_timeout(100ms).on_command<cr::Request, cr::Response>(
      "Call", [](const cr::Request&, actorstate::crdt_context&) { return cr::Response{}; });
  return entity;
}

}  // namespace tck
