// An application that embeds the runtime may register CAF types of its own, and CAF's examples start such a block at
// `caf::first_custom_type_id`. actorstate's block must not overlap it: this file compiles only if the two blocks
// assign no id twice (CAF specializes `type_name_by_id` per id), and the test sends and serializes messages of both
// in one actor system.
#include <doctest/doctest.h>

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "actorstate/runtime/messages.hpp"

namespace user_app {

struct point {
  int32_t x = 0;
  int32_t y = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, point& p) {
  return f(caf::meta::type_name("user_app.point"), p.x, p.y);
}

}  // namespace user_app

CAF_BEGIN_TYPE_ID_BLOCK(user_app, caf::first_custom_type_id)
CAF_ADD_TYPE_ID(user_app, (user_app::point))
CAF_ADD_ATOM(user_app, user_app, ping_atom, "ping")
CAF_END_TYPE_ID_BLOCK(user_app)

namespace {

static_assert(caf::id_block::user_app::end <= caf::id_block::actorstate::begin ||
                  caf::id_block::actorstate::end <= caf::id_block::user_app::begin,
              "actorstate's CAF type ids overlap a block at first_custom_type_id");

/// Serializes `msg` and reads it back, as a message to or from another node travels.
caf::message round_trip(caf::actor_system& sys, const caf::message& msg) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto copy = msg;
  REQUIRE_FALSE(sink(copy));
  caf::message out;
  caf::binary_deserializer source{sys, buf};
  REQUIRE_FALSE(source(out));
  return out;
}

}  // namespace

TEST_CASE("type_ids.a_user_block_at_first_custom_type_id_lives_next_to_actorstates") {
  CHECK(caf::type_id<user_app::point>::value != caf::type_id<actorstate::command>::value);
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::actorstate>();
  cfg.add_message_types<caf::id_block::user_app>();
  caf::actor_system sys{cfg};
  auto cmd = round_trip(sys, caf::make_message(actorstate::command{"id", "Add", "bytes", {{"k", "v"}}}));
  REQUIRE(cmd.match_elements<actorstate::command>());
  CHECK(cmd.get_as<actorstate::command>(0).entity_id == "id");
  CHECK(cmd.get_as<actorstate::command>(0).metadata.at(0).value == "v");
  auto p = round_trip(sys, caf::make_message(user_app::point{3, 4}));
  REQUIRE(p.match_elements<user_app::point>());
  CHECK(p.get_as<user_app::point>(0).y == 4);
  // One actor handles both vocabularies, each message by its own handler.
  caf::scoped_actor self{sys};
  auto both = sys.spawn([]() -> caf::behavior {
    return {
        [](const user_app::point& q) { return q.x + q.y; },
        [](const actorstate::command& c) { return static_cast<int32_t>(c.payload.size()); },
    };
  });
  self->request(both, caf::infinite, user_app::point{3, 4})
      .receive([](int32_t n) { CHECK(n == 7); }, [](caf::error&) { FAIL("no answer to the user's message"); });
  self->request(both, caf::infinite, actorstate::command{"id", "Add", "bytes", {}})
      .receive([](int32_t n) { CHECK(n == 5); }, [](caf::error&) { FAIL("no answer to actorstate's message"); });
  self->send_exit(both, caf::exit_reason::user_shutdown);
}

TEST_CASE("type_ids.a_command_result_keeps_its_status_and_reply_across_serialization") {
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::actorstate>();
  caf::actor_system sys{cfg};
  auto failed = round_trip(sys, caf::make_message(actorstate::command_result::failure(actorstate::status_code::conflict,
                                                                                      "shard 7 is fenced")));
  REQUIRE(failed.match_elements<actorstate::command_result>());
  const auto& f = failed.get_as<actorstate::command_result>(0);
  CHECK(f.status == actorstate::status{actorstate::status_code::conflict, "shard 7 is fenced"});
  CHECK(f.payload.empty());
  auto reply = actorstate::command_result::success("reply bytes");
  reply.metadata.push_back({"k", "v"});
  auto ok = round_trip(sys, caf::make_message(reply));
  const auto& o = ok.get_as<actorstate::command_result>(0);
  CHECK(o.ok());
  CHECK(o.payload == "reply bytes");
  CHECK(o.metadata.at(0).key == "k");
}
