// ActionProtocol: unary calls run the SDK handler; the streamed rpcs are answered with a failure.
#include "fixture.hpp"

namespace uf_test {

namespace {

namespace ac = cloudstate::action;
namespace t = actorstate::uftest;

ac::ActionCommand say(const std::string& text, bool fail = false, const std::string& service = "actorstate.uftest.Echo",
                      const std::string& method = "Say") {
  t::Shout shout;
  shout.set_text(text);
  shout.set_fail(fail);
  ac::ActionCommand cmd;
  cmd.set_service_name(service);
  cmd.set_name(method);
  *cmd.mutable_payload() = pack(shout);
  auto* entry = cmd.mutable_metadata()->add_entries();
  entry->set_key("x-ignored");
  entry->set_string_value("metadata is ignored");
  return cmd;
}

ac::ActionResponse unary(fixture& f, const ac::ActionCommand& cmd) {
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline());
  ac::ActionResponse response;
  auto status = f.actions->handleUnary(&ctx, cmd, &response);
  REQUIRE_MESSAGE(status.ok(), status.error_message());
  return response;
}

const std::string unsupported = "streamed calls are not supported by the C++ SDK yet";

}  // namespace

TEST_CASE_FIXTURE(fixture, "action.unary_reply") {
  auto response = unary(*this, say("hello"));
  REQUIRE(response.has_reply());
  CHECK(unpack<t::Shout>(response.reply().payload()).text() == "hello!");
  CHECK(response.side_effects_size() == 0);
}

TEST_CASE_FIXTURE(fixture, "action.unary_failure") {
  auto response = unary(*this, say("hello", true));
  REQUIRE(response.has_failure());
  CHECK(response.failure().description() == "echo refused: hello");
}

TEST_CASE_FIXTURE(fixture, "action.unknown_service_or_method") {
  auto r1 = unary(*this, say("x", false, "actorstate.uftest.Nope"));
  REQUIRE(r1.has_failure());
  CHECK(r1.failure().description().find("actorstate.uftest.Nope") != std::string::npos);
  auto r2 = unary(*this, say("x", false, "actorstate.uftest.Echo", "Shout"));
  REQUIRE(r2.has_failure());
  CHECK(r2.failure().description().find("Shout") != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "action.streamed_calls_fail") {
  SUBCASE("streamed in") {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    ac::ActionResponse response;
    auto writer = actions->handleStreamedIn(&ctx, &response);
    ac::ActionCommand first;
    first.set_service_name("actorstate.uftest.Echo");
    first.set_name("Say");
    writer->Write(first);  // may fail once the server has answered; the answer is what counts
    writer->WritesDone();
    REQUIRE(writer->Finish().ok());
    REQUIRE(response.has_failure());
    CHECK(response.failure().description() == unsupported);
  }
  SUBCASE("streamed out") {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    auto reader = actions->handleStreamedOut(&ctx, say("x"));
    ac::ActionResponse response;
    REQUIRE(reader->Read(&response));
    REQUIRE(response.has_failure());
    CHECK(response.failure().description() == unsupported);
    CHECK_FALSE(reader->Read(&response));
    CHECK(reader->Finish().ok());
  }
  SUBCASE("bidi") {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    auto stream = actions->handleStreamed(&ctx);
    ac::ActionCommand first;
    first.set_service_name("actorstate.uftest.Echo");
    first.set_name("Say");
    REQUIRE(stream->Write(first));
    ac::ActionResponse response;
    REQUIRE(stream->Read(&response));
    REQUIRE(response.has_failure());
    CHECK(response.failure().description() == unsupported);
    stream->WritesDone();
    CHECK_FALSE(stream->Read(&response));
    CHECK(stream->Finish().ok());
  }
}

}  // namespace uf_test
