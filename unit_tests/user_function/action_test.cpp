// ActionProtocol: unary calls run the SDK handler, streamed calls its stream handlers (the TCK's action scenarios, in
// unit_tests/tck, cover the call shapes; these cover the server's own edges).
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

// The first command of a bidi call.
ac::ActionCommand chorus_header(const std::string& method = "Chorus") {
  ac::ActionCommand first;
  first.set_service_name("actorstate.uftest.Echo");
  first.set_name(method);
  auto* entry = first.mutable_metadata()->add_entries();
  entry->set_key("x-tag");
  entry->set_string_value("tagged");
  return first;
}

ac::ActionCommand chorus_line(const std::string& text) {
  t::Shout shout;
  shout.set_text(text);
  ac::ActionCommand cmd;
  *cmd.mutable_payload() = pack(shout);
  return cmd;
}

TEST_CASE_FIXTURE(fixture, "action.streamed_call_answers_each_message") {
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline());
  auto stream = actions->handleStreamed(&ctx);
  REQUIRE(stream->Write(chorus_header()));
  ac::ActionResponse response;
  for (const std::string text : {"one", "tag"}) {
    REQUIRE(stream->Write(chorus_line(text)));
    REQUIRE(stream->Read(&response));
    REQUIRE(response.has_reply());
    CHECK(response.reply().payload().type_url() == "type.googleapis.com/actorstate.uftest.Shout");
    CHECK(unpack<t::Shout>(response.reply().payload()).text() == (text == "tag" ? "tagged" : "one!"));
  }
  stream->WritesDone();
  CHECK_FALSE(stream->Read(&response));
  CHECK(stream->Finish().ok());
}

TEST_CASE_FIXTURE(fixture, "action.streamed_call_bad_input") {
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline());
  auto stream = actions->handleStreamed(&ctx);
  REQUIRE(stream->Write(chorus_header()));
  ac::ActionResponse response;

  SUBCASE("a payload that does not parse is answered with a failure; the call goes on") {
    ac::ActionCommand garbage;
    garbage.mutable_payload()->set_value("\xff\xff\xff");
    REQUIRE(stream->Write(garbage));
    REQUIRE(stream->Read(&response));
    REQUIRE(response.has_failure());
    CHECK(response.failure().description().find("does not parse") != std::string::npos);
    REQUIRE(stream->Write(chorus_line("two")));
    REQUIRE(stream->Read(&response));
    CHECK(response.has_reply());
  }
  SUBCASE("a handler that throws fails and ends the call") {
    REQUIRE(stream->Write(chorus_line("throw")));
    REQUIRE(stream->Read(&response));
    REQUIRE(response.has_failure());
    CHECK(response.failure().description() == "action handler threw: chorus broke");
    CHECK_FALSE(stream->Read(&response));
  }
  stream->WritesDone();
  CHECK(stream->Finish().ok());
}

TEST_CASE_FIXTURE(fixture, "action.streamed_call_of_a_unary_or_unknown_method") {
  for (const std::string method : {"Say", "Nope"}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    auto stream = actions->handleStreamed(&ctx);
    REQUIRE(stream->Write(chorus_header(method)));
    ac::ActionResponse response;
    REQUIRE(stream->Read(&response));
    REQUIRE(response.has_failure());
    CHECK(response.failure().description().find(method == "Say" ? "is unary" : "has no method") != std::string::npos);
    CHECK_FALSE(stream->Read(&response));
    stream->WritesDone();
    CHECK(stream->Finish().ok());
  }
  SUBCASE("streamed in, ended before its first command") {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline());
    ac::ActionResponse response;
    auto writer = actions->handleStreamedIn(&ctx, &response);
    writer->WritesDone();
    REQUIRE(writer->Finish().ok());
    REQUIRE(response.has_failure());
    CHECK(response.failure().description().find("before its first command") != std::string::npos);
  }
}

}  // namespace uf_test
