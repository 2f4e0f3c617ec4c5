// Passivation and shutdown of entities whose answers come from outside the actor, as the bridge's do (a user
// function answers, or ends the entity's stream without answering), under CAF's deterministic test_coordinator (see
// stepped.hpp). These used to keep the proxy from exiting on SIGTERM: an entity asked to stop while it waited never
// stopped once the wait ended without an answer, and the shard waited for it forever.
#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "actorstate/runtime/entity_actor.hpp"
#include "actorstate/runtime/post.hpp"
#include "stepped.hpp"

using namespace actorstate;
using namespace actorstate::testing;

namespace {

/// An entity that holds each command until the test ends its "stream", which fails the command and restarts the
/// entity, as the bridge does when a user function ends an entity's stream without answering. Stopping (a kill)
/// fails a command still held, as the bridge's entities do.
class held_entity final : public runtime::entity_actor {
public:
  held_entity(caf::actor_config& cfg, std::shared_ptr<const runtime::entity_env> env, std::string id)
      : runtime::entity_actor(cfg, std::move(env), std::move(id)) {}

  void end_stream() {
    if (!held_)
      return;
    auto pc = std::move(*held_);
    held_.reset();
    fail_and_restart(pc, status_code::unavailable, "the stream ended");
  }

  /// Ends the stream now and for every later command (which would otherwise be held in turn).
  void release() {
    releasing_ = true;
    end_stream();
  }

protected:
  void recover() override { recovered(); }
  void handle(pending_command& pc) override {
    if (releasing_) {
      fail_and_restart(pc, status_code::unavailable, "the stream ended");
      return;
    }
    held_ = std::move(pc);
    begin_async();
  }
  void reset() override {}
  void on_stop() override {
    if (held_)
      held_->reply.deliver(command_result::failure(status_code::unavailable, "stopped while held"));
    held_.reset();
  }

private:
  std::optional<pending_command> held_;
  bool releasing_ = false;
};

struct held_fixture : deterministic_fixture {
  /// Leaves nothing running whichever half of the fix a test exercises, so that ~actor_system cannot wait forever:
  /// every command is released (the restart then stops an entity asked to passivate) and the shards get past their
  /// stop deadline (which kills what still runs).
  ~held_fixture() {
    for (const auto& handle : *spawned)
      in_entity(handle, [](held_entity& e) { e.release(); });
    if (region)
      region->stop();
    settle();
    sched->advance_time(stop_timeout + std::chrono::milliseconds{1});
    settle();
    // The handles would otherwise keep their actors, whose environment holds the model, whose factory holds them.
    spawned->clear();
  }

  /// A region of text_log's type whose instances are held_entity (collected in `spawned`).
  void spawn_held_region(std::chrono::milliseconds passivation) {
    auto model = std::make_shared<detail::event_sourced_model>(
        *std::static_pointer_cast<detail::event_sourced_model>(text_log().model()));
    struct held_factory final : runtime::instance_factory {
      explicit held_factory(std::shared_ptr<std::vector<caf::actor>> s) : out(std::move(s)) {}
      caf::actor spawn(caf::local_actor* parent, std::shared_ptr<const runtime::entity_env> env,
                       const std::string& id) const override {
        auto handle = parent->spawn<held_entity>(std::move(env), id);
        out->push_back(handle);
        return handle;
      }
      std::shared_ptr<std::vector<caf::actor>> out;
    };
    model->spawn_instance = std::make_shared<held_factory>(spawned);
    spawn_region(passivation, 4, 1000, model);
  }

  /// Runs `fn` inside the held_entity behind `handle`, as a stream callback would.
  void in_entity(const caf::actor& handle, std::function<void(held_entity&)> fn) {
    auto* entity = dynamic_cast<held_entity*>(caf::actor_cast<caf::abstract_actor*>(handle));
    REQUIRE(entity != nullptr);
    detail::post(handle, [entity, fn = std::move(fn)] { fn(*entity); });
    settle();
  }

  /// Whether the shard of `entity_id` still answers (a request to a terminated actor fails).
  bool shard_alive(const std::string& entity_id) {
    auto alive = std::make_shared<bool>(false);
    sys->spawn([alive, shard = region->target(entity_id)](caf::event_based_actor* self) {
      self->request(shard, caf::infinite, stats_atom_v).then([alive](uint64_t) { *alive = true; }, [](caf::error&) {});
    });
    run_actors();
    return *alive;
  }

  std::shared_ptr<std::vector<caf::actor>> spawned = std::make_shared<std::vector<caf::actor>>();
};

}  // namespace

TEST_CASE_FIXTURE(held_fixture,
                  "shutdown_lifecycle.entity_passivated_while_waiting_stops_once_its_stream_ends_without_an_answer") {
  spawn_held_region(std::chrono::seconds{1});
  auto r = send(append_cmd("a", "x"));
  settle();
  CHECK_FALSE(r->has_value());
  REQUIRE(spawned->size() == 1);
  sched->advance_time(std::chrono::milliseconds{1500});
  settle();
  CHECK(active() == 1);  // passivation requested, but the command is in flight
  in_entity(spawned->front(), [](held_entity& e) { e.end_stream(); });
  REQUIRE(r->has_value());
  CHECK((*r)->status.code() == status_code::unavailable);
  // The restart left it idle, and it had been asked to stop: the shard never asks again, so it must stop now.
  CHECK(active() == 0);
  CHECK(metrics->passivations.value() == 1);
  // The next command gets a fresh instance.
  auto again = send(append_cmd("a", "y"));
  settle();
  CHECK(active() == 1);
  REQUIRE(spawned->size() == 2);
  in_entity(spawned->back(), [](held_entity& e) { e.end_stream(); });
  CHECK(again->has_value());
}

TEST_CASE_FIXTURE(held_fixture, "shutdown_lifecycle.shutdown_ends_once_a_waiting_entity_s_stream_ends") {
  spawn_held_region(std::chrono::seconds{30});
  auto r = send(append_cmd("a", "x"));
  settle();
  REQUIRE(spawned->size() == 1);
  region->stop();
  settle();
  CHECK(shard_alive("a"));  // waits for the entity, which waits for its answer
  in_entity(spawned->front(), [](held_entity& e) { e.end_stream(); });
  REQUIRE(r->has_value());
  CHECK((*r)->status.code() == status_code::unavailable);
  // At once, not at the stop deadline: no time passed.
  CHECK_FALSE(shard_alive("a"));
  CHECK(metrics->passivations.value() == 1);
}

TEST_CASE_FIXTURE(held_fixture, "shutdown_lifecycle.shutdown_kills_entities_that_do_not_stop_in_time") {
  stop_timeout = std::chrono::seconds{2};
  spawn_held_region(std::chrono::seconds{30});
  auto held = send(append_cmd("a", "x"));
  auto queued = send(append_cmd("a", "y"));  // waits behind the held one
  settle();
  REQUIRE(spawned->size() == 1);
  region->stop();
  settle();
  // Still waiting for an answer that never comes: the shard waits for the entity, up to the stop deadline, which
  // the idle timer (due after 1 s) does not bring forward.
  CHECK(shard_alive("a"));
  sched->advance_time(std::chrono::milliseconds{1900});
  settle();
  CHECK(shard_alive("a"));
  CHECK_FALSE(held->has_value());
  CHECK_FALSE(queued->has_value());
  sched->advance_time(std::chrono::milliseconds{200});
  settle();
  // Killed: everything it held fails, and the shard is done.
  REQUIRE(held->has_value());
  CHECK((*held)->status.code() == status_code::unavailable);
  REQUIRE(queued->has_value());
  CHECK((*queued)->status.code() == status_code::unavailable);
  CHECK_FALSE(shard_alive("a"));
  CHECK(active() == 0);
}
