// tck-model: the Cloudstate TCK model services (proto/cloudstate/tck/model/*.proto) implemented with actorstate's
// C++ SDK and served as a Cloudstate user function, so that the TCK's model scenarios can drive the SDK over the
// protocol and a proxy can be tested against a complete TCK user function. It listens on $HOST:$PORT (default
// 127.0.0.1:8080, Cloudstate's convention); `--port` wins over PORT, port 0 picks a free port and `--port-file`
// writes the one bound. Runs until SIGTERM/SIGINT.
//
// Every model processes a request's steps in order: replies, forwards and failures replace each other (the last
// one wins, a failure ends the processing of an entity command), side effects accumulate. ActionTckModel answers a
// unary call or a streamed-in call once (with no reply when no step asked for one), and a streamed-out or bidi
// call once per group of steps.
#include <chrono>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include <actorstate/entity.hpp>
#include <actorstate/user_function.hpp>

#include "cloudstate/tck/model/action.pb.h"
#include "cloudstate/tck/model/eventsourced.pb.h"
#include "cloudstate/tck/model/valueentity.pb.h"
#include "crdt_model.hpp"

namespace {

using namespace std::chrono_literals;

namespace es = cloudstate::tck::model;
namespace ve = cloudstate::tck::model::valueentity;
namespace ac = cloudstate::tck::model::action;

constexpr const char* es_two = "cloudstate.tck.model.EventSourcedTwo";
constexpr const char* ve_two = "cloudstate.tck.model.valueentity.ValueEntityTwo";
constexpr const char* action_two = "cloudstate.tck.model.action.ActionTwo";

template <class Request>
Request request_for(const std::string& id) {
  Request request;
  request.set_id(id);
  return request;
}

template <class Response>
Response response_with(std::string message) {
  Response response;
  response.set_message(std::move(message));
  return response;
}

actorstate::event_sourced_entity<es::Persisted> event_sourced_tck_model() {
  actorstate::event_sourced_entity<es::Persisted> entity{"cloudstate.tck.model.EventSourcedTckModel",
                                                         "event-sourced-tck-model"};
  entity.snapshot_every(5)
      .on_command<es::Request, es::Response>(
          "Process",
          [](const es::Persisted& state, const es::Request& request,
             actorstate::event_context& ctx) -> actorstate::outcome<es::Response> {
            // Emitted events are applied only after the handler returns, so the reply's state is tracked here.
            std::string value = state.value();
            std::optional<actorstate::forward_to> forward;
            for (const auto& action : request.actions()) {
              switch (action.action_case()) {
                case es::RequestAction::kEmit: {
                  es::Persisted event;
                  event.set_value(action.emit().value());
                  ctx.emit(event);
                  value += action.emit().value();
                  break;
                }
                case es::RequestAction::kForward:
                  forward.emplace(es_two, "Call", request_for<es::Request>(action.forward().id()));
                  break;
                case es::RequestAction::kEffect:
                  ctx.side_effect(es_two, "Call", request_for<es::Request>(action.effect().id()),
                                  action.effect().synchronous());
                  break;
                case es::RequestAction::kFail:
                  return actorstate::failure{action.fail().message()};
                case es::RequestAction::ACTION_NOT_SET:
                  break;
              }
            }
            if (forward)
              return std::move(*forward);
            return response_with<es::Response>(std::move(value));
          })
      .on_event<es::Persisted>(
          [](es::Persisted& state, const es::Persisted& event) { state.set_value(state.value() + event.value()); });
  return entity;
}

// EventSourcedTwo and EventSourcedConfigured: `Call` replies with an empty Response.
actorstate::event_sourced_entity<es::Persisted> event_sourced_empty(std::string service, std::string persistence_id) {
  actorstate::event_sourced_entity<es::Persisted> entity{std::move(service), std::move(persistence_id)};
  entity.on_command<es::Request, es::Response>(
      "Call", [](const es::Persisted&, const es::Request&, actorstate::event_context&) { return es::Response{}; });
  return entity;
}

actorstate::value_entity<ve::Persisted> value_entity_tck_model() {
  actorstate::value_entity<ve::Persisted> entity{"cloudstate.tck.model.valueentity.ValueEntityTckModel",
                                                 "value-entity-tck-model"};
  entity.on_command<ve::Request, ve::Response>(
      "Process",
      [](const ve::Persisted& state, const ve::Request& request,
         actorstate::value_context& ctx) -> actorstate::outcome<ve::Response> {
        std::string value = state.value();
        std::optional<actorstate::forward_to> forward;
        for (const auto& action : request.actions()) {
          switch (action.action_case()) {
            case ve::RequestAction::kUpdate: {
              ve::Persisted next;
              next.set_value(action.update().value());
              ctx.update_state(next);
              value = action.update().value();
              break;
            }
            case ve::RequestAction::kDelete:
              ctx.delete_state();
              value.clear();
              break;
            case ve::RequestAction::kForward:
              forward.emplace(ve_two, "Call", request_for<ve::Request>(action.forward().id()));
              break;
            case ve::RequestAction::kEffect:
              ctx.side_effect(ve_two, "Call", request_for<ve::Request>(action.effect().id()),
                              action.effect().synchronous());
              break;
            case ve::RequestAction::kFail:
              return actorstate::failure{action.fail().message()};
            case ve::RequestAction::ACTION_NOT_SET:
              break;
          }
        }
        if (forward)
          return std::move(*forward);
        return response_with<ve::Response>(std::move(value));
      });
  return entity;
}

// ValueEntityTwo and ValueEntityConfigured: `Call` replies with an empty Response.
actorstate::value_entity<ve::Persisted> value_entity_empty(std::string service, std::string persistence_id) {
  actorstate::value_entity<ve::Persisted> entity{std::move(service), std::move(persistence_id)};
  entity.on_command<ve::Request, ve::Response>(
      "Call", [](const ve::Persisted&, const ve::Request&, actorstate::value_context&) { return ve::Response{}; });
  return entity;
}

using action_result = std::optional<actorstate::outcome<ac::Response>>;

/// Applies one step of ActionTckModel: a reply, forward or failure replaces `result`; a side effect is asked for
/// through `ctx` (an action_context or a stream_context). Unlike an entity's, an action's failure does not end the
/// processing: later steps may replace it and its side effects still count.
template <class Context>
void apply_step(const ac::ProcessStep& step, action_result& result, Context& ctx) {
  switch (step.step_case()) {
    case ac::ProcessStep::kReply:
      result.emplace(response_with<ac::Response>(step.reply().message()));
      break;
    case ac::ProcessStep::kForward:
      result.emplace(actorstate::forward_to{action_two, "Call", request_for<ac::OtherRequest>(step.forward().id())});
      break;
    case ac::ProcessStep::kFail:
      result.emplace(actorstate::failure{step.fail().message()});
      break;
    case ac::ProcessStep::kEffect:
      ctx.side_effect(action_two, "Call", request_for<ac::OtherRequest>(step.effect().id()),
                      step.effect().synchronous());
      break;
    case ac::ProcessStep::STEP_NOT_SET:
      break;
  }
}

actorstate::outcome<ac::Response> answer(action_result result) {
  if (!result)
    return actorstate::no_reply;
  return std::move(*result);
}

using action_stream = actorstate::stream_context<ac::Response>;
using action_handlers = actorstate::stream_handlers<ac::Request, ac::Response>;

/// Streamed-out and bidi: one response per group.
void answer_each_group(const ac::Request& request, action_stream& ctx) {
  for (const auto& group : request.groups()) {
    action_result result;
    for (const auto& step : group.steps())
      apply_step(step, result, ctx);
    ctx.respond(answer(std::move(result)));
  }
}

actorstate::action action_tck_model() {
  actorstate::action action{"cloudstate.tck.model.action.ActionTckModel"};
  action
      .on_call<ac::Request, ac::Response>("ProcessUnary",
                                          [](const ac::Request& request, actorstate::action_context& ctx) {
                                            action_result result;
                                            for (const auto& group : request.groups())
                                              for (const auto& step : group.steps())
                                                apply_step(step, result, ctx);
                                            return answer(std::move(result));
                                          })
      .on_stream<ac::Request, ac::Response>(
          "ProcessStreamedIn",
          [] {
            // All requests' steps combine into the one answer, given when the client completes.
            auto result = std::make_shared<action_result>();
            return action_handlers{[result](const ac::Request& request, action_stream& ctx) {
                                     for (const auto& group : request.groups())
                                       for (const auto& step : group.steps())
                                         apply_step(step, *result, ctx);
                                   },
                                   [result](action_stream& ctx) { ctx.respond(answer(std::move(*result))); }};
          })
      .on_stream<ac::Request, ac::Response>("ProcessStreamedOut",
                                            [] {
                                              return action_handlers{answer_each_group, {}};
                                            })
      .on_stream<ac::Request, ac::Response>("ProcessStreamed", [] {
        return action_handlers{answer_each_group, {}};
      });
  return action;
}

actorstate::action action_two_model() {
  actorstate::action action{action_two};
  action.on_call<ac::OtherRequest, ac::Response>(
      "Call", [](const ac::OtherRequest&, actorstate::action_context&) { return ac::Response{}; });
  return action;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tck-model: the Cloudstate TCK model services as a Cloudstate user function of the C++ SDK"};
  actorstate::user_function_options opts;
  opts.service_name = "tck-model";
  opts.log_level = "info";
  app.add_option("--host", opts.host, "Address to listen on")->envname("HOST")->capture_default_str();
  app.add_option("--port", opts.port, "Port to listen on (0: pick a free one)")->envname("PORT")->capture_default_str();
  app.add_option("--port-file", opts.port_file, "Write the bound port to this file once listening");
  // The samples' command line, so tests start every user function alike; tck-model is nothing else.
  bool user_function = true;
  app.add_flag("--user-function", user_function, "Serve as a Cloudstate user function (always)");
  app.add_option("--log-level", opts.log_level, "debug, info, warn or error")
      ->envname("LOG_LEVEL")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  actorstate::user_function_server server{opts};
  auto add = [&server](const auto& entity) { return server.add(entity).ok(); };
  bool ok = add(event_sourced_tck_model()) && add(event_sourced_empty(es_two, "event-sourced-tck-model-two")) &&
            add(event_sourced_empty("cloudstate.tck.model.EventSourcedConfigured", "event-sourced-configured")
                    .passivation_timeout(100ms)) &&
            add(value_entity_tck_model()) && add(value_entity_empty(ve_two, "value-entity-tck-model-two")) &&
            add(value_entity_empty("cloudstate.tck.model.valueentity.ValueEntityConfigured", "value-entity-configured")
                    .passivation_timeout(100ms)) &&
            add(action_tck_model()) && add(action_two_model()) && add(tck::crdt_tck_model()) &&
            add(tck::crdt_two_model()) && add(tck::crdt_configured_model());
  // 2 when the user function cannot start (logged already), as the samples' `--user-function` mode exits.
  if (!ok)
    return 2;
  return server.run().ok() ? 0 : 2;
}
