// Streamed action calls, as the runtime runs them for a client: the model's stream (SDK handlers in this process,
// or a user function's stream behind the Cloudstate bridge) produces responses, and each is executed in order, as
// a unary call's output is (effects.hpp): synchronous side effects awaited, then the reply becomes an element for
// the client, a forward's result becomes one, a failure ends the call with its status and cancels the model's
// stream, a response with nothing emits nothing; then the asynchronous side effects are launched. The model's end
// ends the call once every response before it has run.
//
// Thread rules: the returned stream may be driven from any thread; the sink is called from whichever thread runs
// the response at hand (never two at once). Dropping the returned stream cancels the model's.
#pragma once

#include <memory>
#include <vector>

#include "actorstate/detail/model.hpp"

namespace actorstate::runtime {

std::shared_ptr<detail::action_stream> open_streamed_call(std::shared_ptr<const detail::action_model> model,
                                                          const google::protobuf::MethodDescriptor* method,
                                                          std::vector<metadata_entry> metadata,
                                                          detail::action_stream_sink sink, detail::call_router route);

}  // namespace actorstate::runtime
