#include "test_entities.hpp"

#include <future>
#include <stdexcept>

#include "actorstate/persistence/store.hpp"

namespace actorstate::testing {

event_sourced_entity<TextState> text_log(int64_t snapshot_every) {
  event_sourced_entity<TextState> e{"actorstate.testing.TextLog", "text-log"};
  e.snapshot_every(snapshot_every)
      .on_command<AppendText, TextReply>(
          "Append",
          [](const TextState& state, const AppendText& cmd, event_context& ctx) -> outcome<TextReply> {
            if (cmd.throw_in_handler())
              throw std::runtime_error("boom");
            if (cmd.fail())
              return failure{"refused " + cmd.text()};
            TextAppended ev;
            ev.set_text(cmd.text());
            std::string expected = state.value();
            for (int i = 0; i < std::max(1, cmd.times()); ++i) {
              ctx.emit(ev);
              expected += cmd.text();
            }
            TextReply reply;
            reply.set_value(expected);
            return reply;
          })
      .on_command<GetText, TextReply>("Get",
                                      [](const TextState& state, const GetText&, event_context&) {
                                        TextReply reply;
                                        reply.set_value(state.value());
                                        return reply;
                                      })
      .on_event<TextAppended>(
          [](TextState& state, const TextAppended& ev) { state.set_value(state.value() + ev.text()); });
  return e;
}

value_entity<NumberState> number_register() {
  value_entity<NumberState> e{"actorstate.testing.Register", "register"};
  e.on_command<SetNumber, NumberState>("Set", [](const NumberState&, const SetNumber& cmd, value_context& ctx) {
     NumberState next;
     if (cmd.remove()) {
       ctx.delete_state();
       return next;
     }
     next.set_value(cmd.value());
     next.set_present(true);
     ctx.update_state(next);
     return next;
   }).on_command<GetText, NumberState>("Read", [](const NumberState& state, const GetText&, value_context& ctx) {
    NumberState out = state;
    out.set_present(ctx.has_state());
    return out;
  });
  return e;
}

action echo() {
  action a{"actorstate.testing.Echo"};
  a.on_call<Shout, Shout>("Say", [](const Shout& in, action_context&) -> outcome<Shout> {
    if (in.text().empty())
      return failure{"nothing to say"};
    Shout out;
    out.set_text(in.text() + "!");
    return out;
  });
  return a;
}

harness::harness() : harness(persistence::open_store("memory").value()) {}

harness::harness(std::shared_ptr<persistence::store> inner) {
  store = std::make_shared<persistence::faulty_store>(std::move(inner));
  metrics = std::make_shared<metrics::entity_metrics>();
  cfg.set("scheduler.max-threads", 2);
  cfg.add_message_types<caf::id_block::actorstate>();
  sys = std::make_unique<caf::actor_system>(cfg);
}

harness::~harness() {
  for (auto& r : regions)
    r->stop();
  sys.reset();
  store->close();
}

region_ptr harness::region(std::shared_ptr<detail::model_base> model, std::chrono::milliseconds passivation,
                           size_t max_active) {
  auto env = std::make_shared<runtime::entity_env>();
  env->model = std::move(model);
  env->store = store;
  env->metrics = metrics;
  runtime::region_config rc;
  rc.env = env;
  rc.shards = 16;
  rc.passivation_timeout = passivation;
  rc.max_active = max_active;
  auto r = runtime::spawn_region(*sys, rc);
  regions.push_back(r);
  return r;
}

std::future<command_result> harness::call_async(const region_ptr& region, command cmd) {
  auto promise = std::make_shared<std::promise<command_result>>();
  auto result = promise->get_future();
  sys->spawn(
      [promise, target = region->target(cmd.entity_id), cmd = std::move(cmd)](caf::event_based_actor* self) mutable {
        self->request(target, std::chrono::seconds{10}, std::move(cmd))
            .then([promise](command_result& r) { promise->set_value(std::move(r)); },
                  [promise](caf::error& err) { promise->set_value(to_command_result(err)); });
      });
  return result;
}

command_result harness::call(const region_ptr& region, command cmd) {
  auto f = call_async(region, std::move(cmd));
  if (f.wait_for(std::chrono::seconds{15}) != std::future_status::ready)
    return command_result::failure(status_code::deadline_exceeded, "test timed out");
  return f.get();
}

uint64_t harness::active(const region_ptr& region) {
  caf::scoped_actor self{*sys};
  uint64_t n = 0;
  for (const auto& shard : region->actors())
    self->request(shard, std::chrono::seconds{10}, stats_atom_v)
        .receive([&](uint64_t x) { n += x; }, [](caf::error&) {});
  return n;
}

}  // namespace actorstate::testing
