// What a node's registration and start-up report when they fail: the code says what happened, the message what
// failed, and a repeated call gives the same answer instead of going on with a half-started node.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "actorstate/node.hpp"
#include "test_entities.hpp"

using namespace actorstate;
using namespace actorstate::testing;

namespace {

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

}  // namespace

TEST_CASE("node_status.add_says_why_a_model_is_refused") {
  node n{local_node_options()};
  CHECK(n.add(value_entity<NumberState>{"actorstate.testing.Nope", "nope"}).code() == status_code::invalid_argument);
  CHECK(n.add(value_entity<NumberState>{"actorstate.testing.Register", ""}).code() == status_code::invalid_argument);
  REQUIRE(n.add(number_register()).ok());
  CHECK(n.add(number_register()).code() == status_code::already_exists);
  REQUIRE(n.start().ok());
  auto late = n.add(echo());
  CHECK(late.code() == status_code::failed_precondition);
  CHECK_MESSAGE(starts_with(late.message(), "cannot register entity type actorstate.testing.Echo: "), late.message());
  n.stop();
  CHECK(n.run().ok());
}

TEST_CASE("node_status.a_store_that_cannot_open_fails_start_and_run_with_its_code") {
  node n{local_node_options("nosuchplugin:x")};
  auto first = n.start();
  CHECK(first.code() == status_code::invalid_argument);
  CHECK_MESSAGE(starts_with(first.message(), "cannot open the store: "), first.message());
  // Every later call repeats the failure; none goes on without a store.
  CHECK(n.open() == first);
  CHECK(n.serve() == first);
  CHECK(n.run() == first);
  CHECK(n.port() == 0);
}

TEST_CASE("node_status.an_entity_type_that_cannot_be_served_fails_serve") {
  node n{local_node_options()};
  // Echo's request has no entity key: fine for an action, not for an entity, which the node finds out in `serve`.
  value_entity<Shout> keyless{"actorstate.testing.Echo", "keyless"};
  keyless.on_command<Shout, Shout>("Say", [](const Shout&, const Shout& in, value_context&) { return in; });
  REQUIRE(n.add(keyless).ok());
  REQUIRE(n.open().ok());
  auto served = n.serve();
  CHECK(served.code() == status_code::invalid_argument);
  CHECK_MESSAGE(starts_with(served.message(), "cannot serve entity type actorstate.testing.Echo: "), served.message());
  CHECK(n.start() == served);
  CHECK(n.port() == 0);
}

TEST_CASE("node_status.an_unwritable_port_file_fails_start") {
  auto opts = local_node_options();
  opts.port_file = (std::filesystem::temp_directory_path() / "actorstate-no-such-dir" / "sub" / "port").string();
  node n{opts};
  REQUIRE(n.add(number_register()).ok());
  auto started = n.start();
  CHECK(started.code() == status_code::unavailable);
  CHECK(started.message() == "cannot write the port file " + opts.port_file);
}
