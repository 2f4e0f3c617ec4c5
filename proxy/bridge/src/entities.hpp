// Spawners of the bridge's entity actors and the asynchronous handler of actions.
#pragma once

#include <memory>

#include "actorstate/detail/model.hpp"
#include "uf_context.hpp"

namespace actorstate::bridge {

std::shared_ptr<const runtime::instance_factory> event_sourced_spawner(std::shared_ptr<const uf_context> ctx);
std::shared_ptr<const runtime::instance_factory> value_entity_spawner(std::shared_ptr<const uf_context> ctx);
/// Opens a CRDT instance's conversation with the user function: one Crdt/handle stream (crdt_conversation.cpp).
std::function<std::unique_ptr<detail::crdt_conversation>(const std::string&, detail::crdt_sink)> crdt_opener(
    std::shared_ptr<const uf_context> ctx);

/// Calls ActionProtocol/handleUnary for one command.
void call_unary_action(const std::shared_ptr<const uf_context>& ctx, const std::string& service_name,
                       const google::protobuf::MethodDescriptor* method, command cmd,
                       std::function<void(detail::handler_output)> done);

/// Opens one streamed action call to the user function (see action_streams.cpp).
std::shared_ptr<detail::action_stream> open_action_stream(const std::shared_ptr<const uf_context>& ctx,
                                                          const std::string& service_name,
                                                          const google::protobuf::MethodDescriptor* method,
                                                          std::vector<metadata_entry> metadata,
                                                          detail::action_response_sink sink);

/// A handler's output for one ActionResponse (a response with none of reply, forward or failure is "no reply").
detail::handler_output output_of(const cloudstate::action::ActionResponse& response);

}  // namespace actorstate::bridge
