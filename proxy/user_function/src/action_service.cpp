// Actions. `handleUnary` runs the SDK handler on the calling gRPC thread and answers with its reply, forward,
// failure or nothing, plus its side effects, which a failure keeps (Cloudstate's action "failure with side effect";
// entities drop them). The three streamed rpcs drive the SDK's stream handlers of the method the call names
// (streamed-in and bidi: the first command names it, the following ones carry only payloads; streamed-out: one full
// command) and write every response the handlers give. A failure response does not end the stream: the proxy
// decides that (it fails its client's call and cancels). Handlers may answer from other threads, so what reaches
// the client goes through a shared queue that outlives the reactor and drops anything once the call is done.
#include <mutex>
#include <optional>

#include "actorstate/entity.hpp"
#include "actorstate/frontend/write_queue.hpp"
#include "actorstate/ops/log.hpp"
#include "services.hpp"
#include "stream_support.hpp"

namespace actorstate::uf {

namespace {

namespace ac = cloudstate::action;

void set_failure(ac::ActionResponse& response, std::string description) {
  response.Clear();
  response.mutable_failure()->set_description(std::move(description));
}

/// The protocol's ActionResponse for a handler's output; `output` types the reply.
ac::ActionResponse response_of(detail::handler_output out, const google::protobuf::Descriptor* output) {
  ac::ActionResponse response;
  if (!out.status.ok()) {
    response.mutable_failure()->set_description(out.status.message());
  } else if (out.forward) {
    set_forward(*response.mutable_forward(), std::move(*out.forward));
  } else if (!out.no_reply) {
    set_any(*response.mutable_reply()->mutable_payload(), output != nullptr ? type_url(output) : std::string{},
            std::move(out.reply));
  }
  add_side_effects(*response.mutable_side_effects(), out.side_effects);
  return response;
}

std::vector<metadata_entry> metadata_of(const cloudstate::Metadata& metadata) {
  std::vector<metadata_entry> entries;
  for (const auto& e : metadata.entries())
    if (e.value_case() == cloudstate::MetadataEntry::kStringValue)
      entries.push_back({e.key(), e.string_value()});
  return entries;
}

/// The model and method a streamed call names.
struct streamed_target {
  const detail::action_model* model = nullptr;
  const google::protobuf::MethodDescriptor* method = nullptr;
};

/// What `cmd` names, or why it can't be served (logged): `not_found` for an unknown service or method,
/// `invalid_argument` for a unary method, `unimplemented` for a method without a stream handler.
result<streamed_target> find_streamed(const registry& reg, const ac::ActionCommand& cmd, const char* rpc) {
  auto refused = [&](status_code code, std::string message) -> result<streamed_target> {
    log::warn("streamed action call refused",
              {{"rpc", rpc}, {"service", cmd.service_name()}, {"command", cmd.name()}, {"error", message}});
    return status{code, std::move(message)};
  };
  auto i = reg.actions.find(cmd.service_name());
  if (i == reg.actions.end())
    return refused(status_code::not_found, "unknown action service " + cmd.service_name());
  const auto* method = i->second->service->FindMethodByName(cmd.name());
  if (method == nullptr)
    return refused(status_code::not_found, "action service " + cmd.service_name() + " has no method " + cmd.name());
  if (!method->client_streaming() && !method->server_streaming())
    return refused(status_code::invalid_argument,
                   "method " + method->full_name() + " is unary; " + rpc + " serves streaming methods");
  if (!i->second->open_stream || !i->second->methods.count(cmd.name()))
    return refused(status_code::unimplemented, "no handler for method " + cmd.name());
  return streamed_target{i->second.get(), method};
}

/// Where the handlers' responses go on a server-streaming rpc (streamed-out or bidi): the write queue, whose end
/// finishes the call with OK.
template <class Queue>
detail::action_response_sink queue_sink(std::shared_ptr<Queue> q, const google::protobuf::Descriptor* output) {
  detail::action_response_sink sink;
  sink.response = [q, output](detail::handler_output out) { q->push(response_of(std::move(out), output)); };
  sink.end = [q](command_result) { q->end(grpc::Status::OK); };
  return sink;
}

/// What streamed-out and bidi calls share: the write queue, the handlers' stream, and their teardown.
template <class Base>
class responding_call : public Base {
public:
  using queue = frontend::write_queue<responding_call, ac::ActionResponse>;

  responding_call() : out_(std::make_shared<queue>(this)) {}

  void OnWriteDone(bool ok) override { out_->write_done(ok); }

  void OnCancel() override {
    if (stream_)
      stream_->cancel();
  }

  void OnDone() override {
    out_->detach();
    if (stream_)
      stream_->cancel();
    delete this;
  }

protected:
  /// Opens the handlers' stream for `found`, or answers with its error and finishes.
  bool open(const result<streamed_target>& found, const cloudstate::Metadata& metadata) {
    if (!found.ok()) {
      ac::ActionResponse failure;
      set_failure(failure, found.error().message());
      out_->push(std::move(failure));
      out_->end(grpc::Status::OK);
      return false;
    }
    const auto& target = found.value();
    stream_ =
        target.model->open_stream(target.method, metadata_of(metadata), queue_sink(out_, target.method->output_type()));
    return true;
  }

  std::shared_ptr<queue> out_;
  std::shared_ptr<detail::action_stream> stream_;
};

/// handleStreamedIn: one response, given when the handlers answer (at the latest when the proxy half-closes).
class streamed_in_call final : public grpc::ServerReadReactor<ac::ActionCommand> {
public:
  streamed_in_call(const registry& reg, ac::ActionResponse* response) : reg_(reg) {
    shared_ = std::make_shared<shared_state>();
    shared_->call = this;
    shared_->response = response;
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!stream_) {
      if (!ok) {
        shared_->answer(std::nullopt, "the stream ended before its first command");
        return;
      }
      auto found = find_streamed(reg_, in_, "handleStreamedIn");
      if (!found.ok()) {
        shared_->answer(std::nullopt, found.error().message());
        return;
      }
      const auto& target = found.value();
      detail::action_response_sink sink;
      sink.response = [s = shared_, output = target.method->output_type()](detail::handler_output out) {
        s->answer(response_of(std::move(out), output), {});
      };
      sink.end = [s = shared_](command_result) { s->answer(ac::ActionResponse{}, {}); };
      stream_ = target.model->open_stream(target.method, metadata_of(in_.metadata()), std::move(sink));
    } else if (!ok) {
      stream_->half_close();
      return;
    } else {
      stream_->send(std::move(*in_.mutable_payload()->mutable_value()));
    }
    if (!shared_->done())
      StartRead(&in_);
  }

  void OnCancel() override {
    if (stream_)
      stream_->cancel();
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> guard{shared_->mtx};
      shared_->call = nullptr;
    }
    if (stream_)
      stream_->cancel();
    delete this;
  }

private:
  struct shared_state {
    std::mutex mtx;
    streamed_in_call* call = nullptr;
    ac::ActionResponse* response = nullptr;
    bool answered = false;

    /// The first answer wins: a response, or a failure text.
    void answer(std::optional<ac::ActionResponse> r, std::string error) {
      std::lock_guard<std::mutex> guard{mtx};
      if (call == nullptr || answered)
        return;
      answered = true;
      if (r)
        *response = std::move(*r);
      else
        set_failure(*response, std::move(error));
      call->Finish(grpc::Status::OK);
    }
    bool done() {
      std::lock_guard<std::mutex> guard{mtx};
      return answered;
    }
  };

  const registry& reg_;
  std::shared_ptr<shared_state> shared_;
  std::shared_ptr<detail::action_stream> stream_;
  ac::ActionCommand in_;
};

/// handleStreamedOut: the one command goes to the handlers, whose responses stream back.
class streamed_out_call final : public responding_call<grpc::ServerWriteReactor<ac::ActionResponse>> {
public:
  streamed_out_call(const registry& reg, const ac::ActionCommand* cmd) {
    if (!open(find_streamed(reg, *cmd, "handleStreamedOut"), cmd->metadata()))
      return;
    stream_->send(cmd->payload().value());
    stream_->half_close();
  }
};

/// handleStreamed: commands go to the handlers as they arrive, responses stream back as the handlers give them.
class streamed_call final : public responding_call<grpc::ServerBidiReactor<ac::ActionCommand, ac::ActionResponse>> {
public:
  explicit streamed_call(const registry& reg) : reg_(reg) { StartRead(&in_); }

  void OnReadDone(bool ok) override {
    if (!stream_) {
      if (!ok) {
        out_->end(grpc::Status::OK);
        return;
      }
      if (!open(find_streamed(reg_, in_, "handleStreamed"), in_.metadata()))
        return;
    } else if (!ok) {
      stream_->half_close();
      return;
    } else {
      stream_->send(std::move(*in_.mutable_payload()->mutable_value()));
    }
    StartRead(&in_);
  }

private:
  const registry& reg_;
  ac::ActionCommand in_;
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
  if (auto ran = run_guarded([&] { result = model.handle(cmd->name(), cmd->payload().value()); }); !ran.ok()) {
    log::error("action handler threw",
               {{"service", model.service_name}, {"command", cmd->name()}, {"error", ran.message()}});
    set_failure(*response, "action handler threw: " + ran.message());
  } else {
    *response = response_of(std::move(result), output_type(model, cmd->name()));
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerReadReactor<ac::ActionCommand>* action_service::handleStreamedIn(grpc::CallbackServerContext*,
                                                                             ac::ActionResponse* response) {
  return new streamed_in_call(reg_, response);
}

grpc::ServerWriteReactor<ac::ActionResponse>* action_service::handleStreamedOut(grpc::CallbackServerContext*,
                                                                                const ac::ActionCommand* cmd) {
  return new streamed_out_call(reg_, cmd);
}

grpc::ServerBidiReactor<ac::ActionCommand, ac::ActionResponse>* action_service::handleStreamed(
    grpc::CallbackServerContext*) {
  return new streamed_call(reg_);
}

}  // namespace actorstate::uf
