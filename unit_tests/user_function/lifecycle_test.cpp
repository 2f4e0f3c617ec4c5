// Server lifecycle: run() returns after stop(), and shutdown does not wait for the proxy's entity streams
// (which stay open for as long as the entity is active) longer than the drain timeout.
#include <future>
#include <thread>

#include "fixture.hpp"

namespace uf_test {

TEST_CASE("lifecycle.run_returns_after_stop") {
  actorstate::user_function_options opts;
  opts.port = 0;
  actorstate::user_function_server server{opts};
  REQUIRE(server.add(make_echo()).ok());
  auto done = std::async(std::launch::async, [&server] { return server.run(); });
  auto until = std::chrono::steady_clock::now() + 10s;
  while (server.port() == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);
  REQUIRE(server.port() != 0);
  server.stop();
  REQUIRE(done.wait_for(10s) == std::future_status::ready);
  CHECK(done.get().ok());
}

TEST_CASE("lifecycle.start_fails_on_a_taken_port") {
  actorstate::user_function_options opts;
  opts.port = 0;
  actorstate::user_function_server first{opts};
  REQUIRE(first.add(make_echo()).ok());
  REQUIRE(first.start().ok());
  opts.port = first.port();
  actorstate::user_function_server second{opts};
  REQUIRE(second.add(make_echo()).ok());
  CHECK(second.start().code() == actorstate::status_code::unavailable);
  CHECK(second.port() == 0);
}

TEST_CASE("lifecycle.shutdown_cancels_open_streams_after_drain") {
  actorstate::user_function_options opts;
  opts.port = 0;
  opts.drain_timeout = 300ms;
  auto server = std::make_unique<actorstate::user_function_server>(opts);
  REQUIRE(server->add(make_journal()).ok());
  REQUIRE(server->start().ok());
  auto channel = channel_to(server->port());
  auto stub = cloudstate::eventsourced::EventSourced::NewStub(channel);
  es_stream s{[&](grpc::ClientContext* c) { return stub->handle(c); }};
  cloudstate::eventsourced::EventSourcedStreamIn init;
  init.mutable_init()->set_service_name("actorstate.uftest.Journal");
  init.mutable_init()->set_entity_id("open");
  s.write(init);
  actorstate::uftest::GetRequest get;
  get.set_id("open");
  cloudstate::eventsourced::EventSourcedStreamIn in;
  *in.mutable_command() = command(1, "open", "Get", get);
  s.write(in);
  REQUIRE(s.read().has_reply());

  auto started = std::chrono::steady_clock::now();
  server.reset();
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  s.expect_end();
  CHECK_FALSE(s.finish().ok());
}

}  // namespace uf_test
