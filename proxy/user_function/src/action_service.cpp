// Actions: `handleUnary` runs the SDK handler on the calling gRPC thread and answers with its reply, forward or
// failure plus its side effects, which a failure keeps (Cloudstate's action "failure with side effect"; entities
// drop them). The SDK has unary actions only, so the three streamed rpcs (which a proxy uses only for streaming
// methods) answer with a failure instead of leaving the proxy waiting; streamed-in and bidi calls first read the
// command that names the method, for the log.
#include "actorstate/entity.hpp"
#include "ops/log.hpp"
#include "services.hpp"
#include "stream_support.hpp"

namespace actorstate::uf {

namespace {

namespace ac = cloudstate::action;

constexpr const char* streamed_unsupported = "streamed calls are not supported by the C++ SDK yet";

void set_failure(ac::ActionResponse& response, std::string description) {
  response.Clear();
  response.mutable_failure()->set_description(std::move(description));
}

void log_streamed(const char* rpc, const ac::ActionCommand* cmd) {
  log::warn("streamed action call rejected", {{"rpc", rpc},
                                              {"service", cmd != nullptr ? cmd->service_name() : std::string{}},
                                              {"command", cmd != nullptr ? cmd->name() : std::string{}}});
}

class streamed_in_call final : public grpc::ServerReadReactor<ac::ActionCommand> {
public:
  explicit streamed_in_call(ac::ActionResponse* response) : response_(response) { StartRead(&first_); }

  void OnReadDone(bool ok) override {
    log_streamed("handleStreamedIn", ok ? &first_ : nullptr);
    set_failure(*response_, streamed_unsupported);
    Finish(grpc::Status::OK);
  }

  void OnDone() override { delete this; }

private:
  ac::ActionResponse* response_;
  ac::ActionCommand first_;
};

class streamed_out_call final : public grpc::ServerWriteReactor<ac::ActionResponse> {
public:
  explicit streamed_out_call(const ac::ActionCommand* cmd) {
    log_streamed("handleStreamedOut", cmd);
    set_failure(response_, streamed_unsupported);
    StartWriteAndFinish(&response_, grpc::WriteOptions{}, grpc::Status::OK);
  }

  void OnDone() override { delete this; }

private:
  ac::ActionResponse response_;
};

class streamed_call final : public grpc::ServerBidiReactor<ac::ActionCommand, ac::ActionResponse> {
public:
  streamed_call() { StartRead(&first_); }

  void OnReadDone(bool ok) override {
    log_streamed("handleStreamed", ok ? &first_ : nullptr);
    set_failure(response_, streamed_unsupported);
    StartWriteAndFinish(&response_, grpc::WriteOptions{}, grpc::Status::OK);
  }

  void OnDone() override { delete this; }

private:
  ac::ActionCommand first_;
  ac::ActionResponse response_;
};

}  // namespace

grpc::ServerUnaryReactor* action_service::handleUnary(grpc::CallbackServerContext* ctx, const ac::ActionCommand* cmd,
                                                      ac::ActionResponse* response) {
  auto* reactor = ctx->DefaultReactor();
  auto i = reg_.actions.find(cmd->service_name());
  if (i == reg_.actions.end()) {
    log::warn("action call for an unknown service", {{"service", cmd->service_name()}, {"command", cmd->name()}});
    set_failure(*response, "unknown action service " + cmd->service_name());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  const auto& model = *i->second;
  detail::handler_output result;
  std::string error;
  if (!run_guarded([&] { result = model.handle(cmd->name(), cmd->payload().value()); }, error)) {
    log::error("action handler threw", {{"service", model.service_name}, {"command", cmd->name()}, {"error", error}});
    set_failure(*response, "action handler threw: " + error);
  } else {
    if (result.code != status_code::ok) {
      set_failure(*response, std::move(result.message));
    } else if (result.forward) {
      set_forward(*response->mutable_forward(), std::move(*result.forward));
    } else {
      const auto* output = output_type(model, cmd->name());
      set_any(*response->mutable_reply()->mutable_payload(), output != nullptr ? type_url(output) : std::string{},
              std::move(result.reply));
    }
    add_side_effects(*response->mutable_side_effects(), result.side_effects);
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerReadReactor<ac::ActionCommand>* action_service::handleStreamedIn(grpc::CallbackServerContext*,
                                                                             ac::ActionResponse* response) {
  return new streamed_in_call(response);
}

grpc::ServerWriteReactor<ac::ActionResponse>* action_service::handleStreamedOut(grpc::CallbackServerContext*,
                                                                                const ac::ActionCommand* cmd) {
  return new streamed_out_call(cmd);
}

grpc::ServerBidiReactor<ac::ActionCommand, ac::ActionResponse>* action_service::handleStreamed(
    grpc::CallbackServerContext*) {
  return new streamed_call();
}

}  // namespace actorstate::uf
