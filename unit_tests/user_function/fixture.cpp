#include "fixture.hpp"

#include <algorithm>
#include <stdexcept>

#include "cart_entity.hpp"

namespace uf_test {

namespace t = actorstate::uftest;

actorstate::event_sourced_entity<t::JournalState> make_journal() {
  actorstate::event_sourced_entity<t::JournalState> journal{"actorstate.uftest.Journal", "journal"};
  journal.snapshot_every(10)
      .passivation_timeout(1234ms)
      .on_command<t::AppendRequest, t::TextReply>(
          "Append",
          [](const t::JournalState& state, const t::AppendRequest& req,
             actorstate::event_context& ctx) -> actorstate::outcome<t::TextReply> {
            if (req.fail())
              return actorstate::failure{"append refused: " + req.text()};
            if (req.throw_in_handler())
              throw std::runtime_error("handler bug");
            if (req.unappliable()) {
              t::Appended first;
              first.set_text(req.text());
              ctx.emit(first);
              ctx.emit(t::Unhandled{});
              return t::TextReply{};
            }
            t::TextReply reply;
            reply.set_text(state.text());
            for (int i = 0; i < std::max(1, req.times()); ++i) {
              t::Appended ev;
              ev.set_text(req.text());
              ctx.emit(ev);
              reply.set_text(reply.text() + req.text());
            }
            return reply;
          })
      .on_command<t::GetRequest, t::TextReply>(
          "Get",
          [](const t::JournalState& state, const t::GetRequest&, actorstate::event_context&) {
            t::TextReply reply;
            reply.set_text(state.text());
            return reply;
          })
      .on_event<t::Appended>(
          [](t::JournalState& state, const t::Appended& ev) { state.set_text(state.text() + ev.text()); });
  return journal;
}

actorstate::value_entity<t::RegisterState> make_register() {
  actorstate::value_entity<t::RegisterState> reg{"actorstate.uftest.Register", "register"};
  reg.on_command<t::SetRequest, t::RegisterReply>(
         "Set",
         [](const t::RegisterState&, const t::SetRequest& req,
            actorstate::value_context& ctx) -> actorstate::outcome<t::RegisterReply> {
           if (req.fail())
             return actorstate::failure{"set refused"};
           t::RegisterReply reply;
           if (req.remove()) {
             ctx.delete_state();
             return reply;
           }
           t::RegisterState next;
           next.set_value(req.value());
           ctx.update_state(next);
           reply.set_value(req.value());
           reply.set_present(true);
           return reply;
         })
      .on_command<t::GetRequest, t::RegisterReply>(
          "Read", [](const t::RegisterState& state, const t::GetRequest&, actorstate::value_context& ctx) {
            t::RegisterReply reply;
            reply.set_value(state.value());
            reply.set_present(ctx.has_state());
            return reply;
          });
  return reg;
}

actorstate::action make_echo() {
  actorstate::action echo{"actorstate.uftest.Echo"};
  echo.on_call<t::Shout, t::Shout>(
      "Say", [](const t::Shout& req, actorstate::action_context&) -> actorstate::outcome<t::Shout> {
        if (req.fail())
          return actorstate::failure{"echo refused: " + req.text()};
        t::Shout reply;
        reply.set_text(req.text() + "!");
        return reply;
      });
  echo.on_stream<t::Shout, t::Shout>("Chorus", [] {
    return actorstate::stream_handlers<t::Shout, t::Shout>{
        [](const t::Shout& req, actorstate::stream_context<t::Shout>& ctx) {
          if (req.text() == "throw")
            throw std::runtime_error{"chorus broke"};
          t::Shout reply;
          reply.set_text(req.text() + "!");
          if (req.text() == "tag")
            for (const auto& entry : ctx.metadata())
              if (entry.key == "x-tag")
                reply.set_text(entry.value);
          ctx.respond(reply);
        },
        {}};
  });
  return echo;
}

google::protobuf::Any pack(const google::protobuf::Message& msg) {
  google::protobuf::Any any;
  any.set_type_url("type.googleapis.com/" + msg.GetDescriptor()->full_name());
  any.set_value(msg.SerializeAsString());
  return any;
}

cloudstate::Command command(int64_t id, const std::string& entity_id, const std::string& name,
                            const google::protobuf::Message& payload) {
  cloudstate::Command cmd;
  cmd.set_entity_id(entity_id);
  cmd.set_id(id);
  cmd.set_name(name);
  *cmd.mutable_payload() = pack(payload);
  return cmd;
}

std::shared_ptr<grpc::Channel> channel_to(uint16_t port) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(12 * 1024 * 1024);
  args.SetMaxSendMessageSize(12 * 1024 * 1024);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args);
}

fixture::fixture() {
  actorstate::user_function_options opts;
  opts.port = 0;
  opts.service_name = "uf-test";
  opts.service_version = "1.2.3";
  // Streams are closed by every test; a short drain only matters when a test fails with a stream still open.
  opts.drain_timeout = 2s;
  server = std::make_unique<actorstate::user_function_server>(opts);
  REQUIRE(server->add(shopping_cart::make_entity()).ok());
  REQUIRE(server->add(make_journal()).ok());
  REQUIRE(server->add(make_register()).ok());
  REQUIRE(server->add(make_echo()).ok());
  REQUIRE(server->start().ok());
  REQUIRE(server->port() != 0);
  channel = channel_to(server->port());
  discovery = cloudstate::EntityDiscovery::NewStub(channel);
  event_sourced = cloudstate::eventsourced::EventSourced::NewStub(channel);
  values = cloudstate::valueentity::ValueEntity::NewStub(channel);
  actions = cloudstate::action::ActionProtocol::NewStub(channel);
}

fixture::~fixture() = default;

es_stream fixture::open_event_sourced() {
  return es_stream{[this](grpc::ClientContext* ctx) { return event_sourced->handle(ctx); }};
}

ve_stream fixture::open_value_entity() {
  return ve_stream{[this](grpc::ClientContext* ctx) { return values->handle(ctx); }};
}

cloudstate::eventsourced::EventSourcedStreamIn fixture::cart_init(const std::string& user) {
  cloudstate::eventsourced::EventSourcedStreamIn in;
  in.mutable_init()->set_service_name("com.example.shoppingcart.ShoppingCart");
  in.mutable_init()->set_entity_id(user);
  return in;
}

}  // namespace uf_test
