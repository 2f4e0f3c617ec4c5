// CRDT entities whose handlers run in the user function: the runtime's CRDT instance (actorstate/crdt/entities.hpp)
// speaks the Cloudstate CRDT protocol, and this conversation relays it over one Crdt/handle stream per instance.
#include <mutex>

#include "cloudstate/crdt.grpc.pb.h"
#include "entities.hpp"
#include "uf_stream.hpp"

namespace actorstate::bridge {

namespace {

namespace pb = cloudstate::crdt;

class uf_crdt_conversation final : public detail::crdt_conversation {
public:
  uf_crdt_conversation(const std::shared_ptr<const uf_context>& ctx, detail::crdt_sink sink)
      : shared_(std::make_shared<shared>()) {
    shared_->sink = std::move(sink);
    stream_ =
        stream::open([stub = ctx->crdt.get()](auto* call, auto* reactor) { stub->async()->handle(call, reactor); },
                     [sh = shared_](pb::CrdtStreamOut out) {
                       // Under the lock, so that nothing reaches the instance once `close` has returned.
                       std::lock_guard<std::mutex> guard{sh->mtx};
                       if (!sh->closed)
                         sh->sink.message(std::move(out));
                     },
                     [sh = shared_](grpc::Status st) {
                       std::lock_guard<std::mutex> guard{sh->mtx};
                       if (sh->closed)
                         return;
                       sh->closed = true;
                       sh->sink.ended(st.ok() ? status{}
                                              : status{status_code::unavailable,
                                                       "the user function's stream failed: " + st.error_message()});
                     });
  }

  ~uf_crdt_conversation() override { close(); }

  void send(const pb::CrdtStreamIn& in) override { stream_->write(in); }

  void close() override {
    {
      std::lock_guard<std::mutex> guard{shared_->mtx};
      if (shared_->closed && closed_here_)
        return;
      shared_->closed = true;
    }
    if (!closed_here_) {
      closed_here_ = true;
      // Half-close: the user function ends its side when it sees the end of ours, as the protocol asks.
      stream_->close();
    }
  }

private:
  using stream = uf_stream<pb::CrdtStreamIn, pb::CrdtStreamOut>;
  struct shared {
    std::mutex mtx;
    bool closed = false;
    detail::crdt_sink sink;
  };

  std::shared_ptr<shared> shared_;
  std::shared_ptr<stream> stream_;
  bool closed_here_ = false;
};

}  // namespace

std::function<std::unique_ptr<detail::crdt_conversation>(const std::string&, detail::crdt_sink)> crdt_opener(
    std::shared_ptr<const uf_context> ctx) {
  return [ctx](const std::string&, detail::crdt_sink sink) -> std::unique_ptr<detail::crdt_conversation> {
    return std::make_unique<uf_crdt_conversation>(ctx, std::move(sink));
  };
}

}  // namespace actorstate::bridge
