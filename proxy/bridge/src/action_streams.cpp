// Streamed action calls (client-, server- and bidi-streaming methods) bridged to ActionProtocol's
// handleStreamedIn / handleStreamedOut / handleStreamed. Every shape is driven as a generic bidi call, since on the
// wire they are all HTTP/2 streams. For streamed-in and bidi calls the first ActionCommand names the service and
// method (with the call's metadata) and each client message follows as a payload-only command; a streamed-out call
// sends one full command. Each ActionResponse becomes a handler output for the runtime, which executes them in
// order (runtime/action_streams.hpp) and cancels this stream when one fails the call.
#include <mutex>

#include <grpcpp/generic/generic_stub.h>

#include "entities.hpp"
#include "uf_stream.hpp"

namespace actorstate::bridge {

namespace {

using byte_stream = uf_stream<grpc::ByteBuffer, grpc::ByteBuffer>;

grpc::ByteBuffer to_buffer(const google::protobuf::Message& msg) {
  grpc::Slice slice{msg.SerializeAsString()};
  return grpc::ByteBuffer{&slice, 1};
}

class action_session final : public detail::action_stream, public std::enable_shared_from_this<action_session> {
public:
  action_session(std::shared_ptr<const uf_context> ctx, std::string service_name,
                 const google::protobuf::MethodDescriptor* method, std::vector<metadata_entry> metadata,
                 detail::action_response_sink sink)
      : ctx_(std::move(ctx)),
        service_name_(std::move(service_name)),
        method_(method),
        metadata_(std::move(metadata)),
        sink_(std::move(sink)) {}

  void start() {
    auto rpc = method_->client_streaming() ? (method_->server_streaming() ? "handleStreamed" : "handleStreamedIn")
                                           : "handleStreamedOut";
    auto path = std::string{"/cloudstate.action.ActionProtocol/"} + rpc;
    auto stub = std::make_shared<grpc::GenericStub>(ctx_->channel);
    std::weak_ptr<action_session> weak = shared_from_this();
    stream_ = byte_stream::open(
        [stub, path](grpc::ClientContext* c, auto* reactor) {
          stub->PrepareBidiStreamingCall(c, path, grpc::StubOptions{}, reactor);
        },
        [weak](grpc::ByteBuffer buf) {
          if (auto self = weak.lock())
            self->on_response(buf);
        },
        [weak](grpc::Status status) {
          if (auto self = weak.lock())
            self->on_stream_end(status);
        });
    if (method_->client_streaming())
      stream_->write(to_buffer(command_header()));
  }

  /// The runtime sends a server-streaming call's one request and then half-closes.
  void send(std::string payload) override {
    cloudstate::action::ActionCommand cmd;
    if (!method_->client_streaming())
      cmd = command_header();
    *cmd.mutable_payload() = any_of(std::move(payload));
    stream_->write(to_buffer(cmd));
  }

  void half_close() override { stream_->close(); }

  void cancel() override { stream_->cancel(); }

private:
  cloudstate::action::ActionCommand command_header() const {
    cloudstate::action::ActionCommand cmd;
    cmd.set_service_name(service_name_);
    cmd.set_name(method_->name());
    for (const auto& entry : metadata_) {
      auto* e = cmd.mutable_metadata()->add_entries();
      e->set_key(entry.key);
      e->set_string_value(entry.value);
    }
    return cmd;
  }

  google::protobuf::Any any_of(std::string payload) const {
    google::protobuf::Any any;
    any.set_type_url(type_url(method_->input_type()));
    any.set_value(std::move(payload));
    return any;
  }

  void on_response(const grpc::ByteBuffer& buf) {
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (buf.Dump(&slices).ok())
      for (auto& s : slices)
        bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    cloudstate::action::ActionResponse response;
    if (!response.ParseFromString(bytes)) {
      ctx_->report_error("unparsable ActionResponse from " + service_name_ + "/" + method_->name());
      detail::handler_output out;
      out.status = status{status_code::internal, "the user function violated the protocol"};
      sink_.response(std::move(out));
      return;
    }
    sink_.response(output_of(response));
  }

  void on_stream_end(const grpc::Status& status) {
    if (status.ok())
      sink_.end(command_result::success({}));
    else if (status.error_code() == grpc::StatusCode::CANCELLED)
      sink_.end(command_result::failure(status_code::cancelled, "cancelled"));
    else
      sink_.end(
          command_result::failure(status_code::unavailable, "user function stream broke: " + status.error_message()));
  }

  std::shared_ptr<const uf_context> ctx_;
  std::string service_name_;
  const google::protobuf::MethodDescriptor* method_;
  std::vector<metadata_entry> metadata_;
  detail::action_response_sink sink_;
  std::shared_ptr<byte_stream> stream_;
};

}  // namespace

std::shared_ptr<detail::action_stream> open_action_stream(const std::shared_ptr<const uf_context>& ctx,
                                                          const std::string& service_name,
                                                          const google::protobuf::MethodDescriptor* method,
                                                          std::vector<metadata_entry> metadata,
                                                          detail::action_response_sink sink) {
  auto session = std::make_shared<action_session>(ctx, service_name, method, std::move(metadata), std::move(sink));
  session->start();
  return session;
}

}  // namespace actorstate::bridge
