// One reactor per `Crdt/handle` stream, relaying it to the model's conversation (detail::crdt_conversation): the
// same conversation the native runtime talks to in-process, so the SDK's CRDT entities behave alike in both. The
// first message must be `init` naming a registered CRDT entity type; every message is handed on as it arrives
// (reads are serial, so the conversation sees one at a time), and whatever the conversation answers, possibly
// several messages per input (a reply and the streamed messages its change caused), goes out through a write
// queue in order. When the conversation ends the stream on its own (a protocol error: it has sent a Failure
// already) the call finishes with OK after that Failure, as the Cloudstate support libraries do.
#include "actorstate/frontend/write_queue.hpp"
#include "actorstate/ops/log.hpp"
#include "cloudstate/crdt.grpc.pb.h"
#include "services.hpp"

namespace actorstate::uf {

namespace {

namespace pb = cloudstate::crdt;

class crdt_stream final : public grpc::ServerBidiReactor<pb::CrdtStreamIn, pb::CrdtStreamOut> {
public:
  using queue = frontend::write_queue<crdt_stream, pb::CrdtStreamOut>;

  explicit crdt_stream(const registry& reg) : reg_(reg), out_(std::make_shared<queue>(this)) { StartRead(&in_); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The proxy half-closed (passivation, delete): the instance is done.
      close_conversation();
      out_->end(grpc::Status::OK);
      return;
    }
    if (!conversation_ && !open()) {
      return;
    }
    conversation_->send(in_);
    if (ended_)
      return;
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override { out_->write_done(ok); }

  void OnDone() override {
    close_conversation();
    out_->detach();
    delete this;
  }

private:
  /// Opens the conversation named by the first message, or answers with a Failure and ends.
  bool open() {
    if (in_.message_case() != pb::CrdtStreamIn::kInit) {
      fail("expected init as the first message");
      return false;
    }
    auto i = reg_.crdts.find(in_.init().service_name());
    if (i == reg_.crdts.end()) {
      fail("unknown CRDT entity type " + in_.init().service_name());
      return false;
    }
    detail::crdt_sink sink;
    sink.message = [q = out_](pb::CrdtStreamOut out) { q->push(std::move(out)); };
    sink.ended = [this, q = out_](status) {
      // Called from inside `send` on the reading thread: no read follows once this is set.
      ended_ = true;
      q->end(grpc::Status::OK);
    };
    conversation_ = i->second->open(in_.init().entity_id(), std::move(sink));
    return true;
  }

  void fail(std::string description) {
    log::warn("CRDT stream failed", {{"error", description}});
    pb::CrdtStreamOut out;
    out.mutable_failure()->set_description(std::move(description));
    out_->push(std::move(out));
    out_->end(grpc::Status::OK);
  }

  void close_conversation() {
    if (conversation_) {
      conversation_->close();
      conversation_.reset();
    }
  }

  const registry& reg_;
  std::shared_ptr<queue> out_;
  std::unique_ptr<detail::crdt_conversation> conversation_;
  pb::CrdtStreamIn in_;
  bool ended_ = false;
};

}  // namespace

grpc::ServerBidiReactor<pb::CrdtStreamIn, pb::CrdtStreamOut>* crdt_service::handle(grpc::CallbackServerContext*) {
  return new crdt_stream(reg_);
}

}  // namespace actorstate::uf
