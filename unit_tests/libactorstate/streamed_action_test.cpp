// Streamed action calls as the runtime runs them (runtime/action_streams.hpp) for SDK stream handlers: the order of
// elements, forwards and side effects, failures that end the call and cancel the handlers, and the one-request rule
// of server-streaming methods. The router is a fake that records calls and answers when the test says so.
#include <doctest/doctest.h>

#include <deque>
#include <mutex>
#include <optional>

#include <google/protobuf/descriptor.h>

#include "actorstate/entity.hpp"
#include "actorstate/runtime/action_streams.hpp"
#include "testing/test_entities.pb.h"

using namespace actorstate;
using namespace actorstate::testing;

namespace {

Shout shout(const std::string& text) {
  Shout s;
  s.set_text(text);
  return s;
}

std::string text_of(const std::string& payload) {
  Shout s;
  REQUIRE(s.ParseFromString(payload));
  return s.text();
}

/// What the call reported to its client, and what it asked the router to call.
struct recorder {
  std::mutex mtx;
  std::vector<std::string> events;  // "element:<text>", "end:<code>:<message>", "call:<method>:<text>"
  std::deque<std::function<void(command_result)>> pending;  // routed calls not answered yet

  void add(std::string e) {
    std::lock_guard<std::mutex> guard{mtx};
    events.push_back(std::move(e));
  }
  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> guard{mtx};
    return events;
  }

  detail::action_stream_sink sink() {
    detail::action_stream_sink s;
    s.element = [this](std::string payload) { add("element:" + text_of(payload)); };
    s.end = [this](command_result r) {
      add("end:" + std::string{to_string(r.status.code())} +
          (r.status.message().empty() ? "" : ":" + r.status.message()));
    };
    return s;
  }

  /// Records each routed call; `Echo/Say` answers with the text plus "!" once `answer_next` runs; calls to other
  /// targets fail as unroutable at once.
  detail::call_router router() {
    return [this](const std::string& service, const std::string& method, std::string payload,
                  std::function<void(command_result)> done) {
      add("call:" + method + ":" + text_of(payload));
      if (service != "actorstate.testing.Echo") {
        done(command_result::failure(status_code::unimplemented, "no such service " + service));
        return;
      }
      std::lock_guard<std::mutex> guard{mtx};
      pending.push_back([done, payload](command_result) {
        done(command_result::success(shout(text_of(payload) + "!").SerializeAsString()));
      });
    };
  }

  /// Answers the oldest routed call; false if none is waiting.
  bool answer_next() {
    std::function<void(command_result)> f;
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (pending.empty())
        return false;
      f = std::move(pending.front());
      pending.pop_front();
    }
    f(command_result::success({}));
    return true;
  }
};

/// Chant's handlers. Each message's text is a command: "reply:x", "none", "forward:x", "effect:x", "sync:x" (a
/// synchronous side effect), "fail:x", "bad-effect" (a synchronous side effect nobody serves), "end".
void act(const Shout& in, stream_context<Shout>& ctx) {
  const auto& t = in.text();
  auto arg = t.substr(t.find(':') + 1);
  if (t.rfind("reply:", 0) == 0)
    ctx.respond(shout(arg));
  else if (t == "none")
    ctx.respond(no_reply);
  else if (t.rfind("forward:", 0) == 0)
    ctx.respond(forward_to{"actorstate.testing.Echo", "Say", shout(arg)});
  else if (t.rfind("effect:", 0) == 0)
    ctx.side_effect("actorstate.testing.Echo", "Say", shout(arg));
  else if (t.rfind("sync:", 0) == 0)
    ctx.side_effect("actorstate.testing.Echo", "Say", shout(arg), true);
  else if (t.rfind("fail:", 0) == 0)
    ctx.respond(failure{arg});
  else if (t == "bad-effect")
    ctx.side_effect("actorstate.testing.Nowhere", "Go", shout("lost"), true);
  else if (t == "end")
    ctx.end();
}

struct chant_fixture {
  chant_fixture() {
    action chant{"actorstate.testing.Chant"};
    chant
        .on_stream<Shout, Shout>("Gather",
                                 [] {
                                   auto joined = std::make_shared<std::string>();
                                   return stream_handlers<Shout, Shout>{
                                       [joined](const Shout& in, stream_context<Shout>& ctx) {
                                         if (in.text().find(':') != std::string::npos || in.text() == "none")
                                           act(in, ctx);
                                         else
                                           *joined += in.text();
                                       },
                                       [joined](stream_context<Shout>& ctx) {
                                         if (!joined->empty())
                                           ctx.respond(shout(*joined));
                                         ctx.end();
                                       }};
                                 })
        .on_stream<Shout, Shout>("Repeat",
                                 [] {
                                   return stream_handlers<Shout, Shout>{
                                       [](const Shout& in, stream_context<Shout>& ctx) {
                                         for (const auto& word : split(in.text()))
                                           act(shout(word), ctx);
                                       },
                                       {}};
                                 })
        .on_stream<Shout, Shout>("Chorus", [] {
          return stream_handlers<Shout, Shout>{act, {}};
        });
    model = std::static_pointer_cast<const detail::action_model>(chant.model());
    auto mutable_model = std::const_pointer_cast<detail::action_model>(model);
    mutable_model->service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("actorstate.testing.Chant");
    mutable_model->report_error = [this](const std::string& message) { rec.add("report:" + message); };
    REQUIRE(model->service != nullptr);
  }

  static std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> words;
    size_t start = 0;
    while (start <= s.size()) {
      auto end = s.find(' ', start);
      if (end == std::string::npos)
        end = s.size();
      if (end > start)
        words.push_back(s.substr(start, end - start));
      start = end + 1;
    }
    return words;
  }

  std::shared_ptr<detail::action_stream> open(const std::string& method) {
    return runtime::open_streamed_call(model, model->service->FindMethodByName(method), {}, rec.sink(), rec.router());
  }

  std::shared_ptr<const detail::action_model> model;
  recorder rec;
};

using events = std::vector<std::string>;

}  // namespace

TEST_CASE_FIXTURE(chant_fixture, "streamed_action.bidi_replies_in_order_and_no_reply_emits_nothing") {
  auto call = open("Chorus");
  call->send(shout("reply:a").SerializeAsString());
  call->send(shout("none").SerializeAsString());
  call->send(shout("reply:b").SerializeAsString());
  call->half_close();
  CHECK(rec.snapshot() == events{"element:a", "element:b", "end:OK"});
}

TEST_CASE_FIXTURE(chant_fixture, "streamed_action.forward_result_becomes_the_element_in_its_place") {
  auto call = open("Chorus");
  call->send(shout("forward:x").SerializeAsString());
  call->send(shout("reply:after").SerializeAsString());
  call->half_close();
  // The later reply and the end wait for the forward.
  CHECK(rec.snapshot() == events{"call:Say:x"});
  REQUIRE(rec.answer_next());
  CHECK(rec.snapshot() == events{"call:Say:x", "element:x!", "element:after", "end:OK"});
}

TEST_CASE_FIXTURE(chant_fixture, "streamed_action.synchronous_side_effects_complete_before_the_element") {
  auto call = open("Chorus");
  call->send(shout("effect:later").SerializeAsString());
  call->send(shout("sync:first").SerializeAsString());
  call->send(shout("reply:r").SerializeAsString());
  CHECK(rec.snapshot() == events{"call:Say:first"});
  REQUIRE(rec.answer_next());
  // Then the reply, then the asynchronous side effect is launched (and not awaited).
  CHECK(rec.snapshot() == events{"call:Say:first", "element:r", "call:Say:later"});
  call->half_close();
  CHECK(rec.snapshot().back() == "end:OK");
}

TEST_CASE_FIXTURE(chant_fixture, "streamed_action.failure_ends_the_call_and_cancels_the_handlers") {
  auto call = open("Chorus");
  call->send(shout("reply:a").SerializeAsString());
  call->send(shout("effect:kept").SerializeAsString());
  call->send(shout("fail:boom").SerializeAsString());
  call->send(shout("reply:dropped").SerializeAsString());
  call->half_close();
  // A failure keeps its side effects (launched after it, asynchronous).
  CHECK(rec.snapshot() == events{"element:a", "end:UNKNOWN:boom", "call:Say:kept"});
}

TEST_CASE_FIXTURE(chant_fixture, "streamed_action.undeliverable_synchronous_side_effect_fails_the_call") {
  auto call = open("Chorus");
  call->send(shout("bad-effect").SerializeAsString());
  call->send(shout("reply:never").SerializeAsString());
  // The target is reported (a user function hears of it), the call fails, and the later reply never runs.
  auto seen = rec.snapshot();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] == "call:Go:lost");
  CHECK(seen[1].rfind("report:", 0) == 0);
  CHECK(seen[2].rfind("end:UNIMPLEMENTED:synchronous side effect actorstate.testing.Nowhere/Go failed", 0) == 0);
}

TEST_CASE_FIXTURE(chant_fixture, "streamed_action.handler_may_end_the_call_before_the_client") {
  auto call = open("Chorus");
  call->send(shout("reply:a").SerializeAsString());
  call->send(shout("end").SerializeAsString());
  call->send(shout("reply:ignored").SerializeAsString());
  call->half_close();
  CHECK(rec.snapshot() == events{"element:a", "end:OK"});
}

TEST_CASE_FIXTURE(chant_fixture, "streamed_action.streamed_in_answers_once_at_the_end") {
  auto call = open("Gather");
  call->send(shout("ab").SerializeAsString());
  call->send(shout("effect:e").SerializeAsString());
  call->send(shout("cd").SerializeAsString());
  CHECK(rec.snapshot().empty());
  call->half_close();
  // The gathered side effect goes with the one answer.
  CHECK(rec.snapshot() == events{"element:abcd", "call:Say:e", "end:OK"});
}

TEST_CASE_FIXTURE(chant_fixture, "streamed_action.streamed_in_without_messages_answers_nothing") {
  auto call = open("Gather");
  call->half_close();
  CHECK(rec.snapshot() == events{"end:OK"});
}

TEST_CASE_FIXTURE(chant_fixture, "streamed_action.streamed_in_first_response_ends_the_call") {
  auto call = open("Gather");
  call->send(shout("reply:early").SerializeAsString());
  call->send(shout("more").SerializeAsString());
  call->half_close();
  CHECK(rec.snapshot() == events{"element:early", "end:OK"});
}

TEST_CASE_FIXTURE(chant_fixture, "streamed_action.streamed_out_takes_one_request") {
  SUBCASE("the one request's responses, then the end") {
    auto call = open("Repeat");
    call->send(shout("reply:a none reply:b").SerializeAsString());
    call->send(shout("reply:second-request-ignored").SerializeAsString());
    call->half_close();
    CHECK(rec.snapshot() == events{"element:a", "element:b", "end:OK"});
  }
  SUBCASE("no request at all") {
    auto call = open("Repeat");
    call->half_close();
    CHECK(rec.snapshot() == events{"end:INVALID_ARGUMENT:the call ended without its request message"});
  }
}

TEST_CASE_FIXTURE(chant_fixture, "streamed_action.unparsable_message_fails_the_call") {
  auto call = open("Chorus");
  call->send("\xff\xff\xff");
  auto seen = rec.snapshot();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == "end:INVALID_ARGUMENT:request does not parse as actorstate.testing.Shout");
}

TEST_CASE_FIXTURE(chant_fixture, "streamed_action.client_cancel_stops_the_handlers") {
  auto call = open("Chorus");
  call->send(shout("reply:a").SerializeAsString());
  call->cancel();
  call->send(shout("reply:b").SerializeAsString());
  CHECK(rec.snapshot() == events{"element:a"});
}

TEST_CASE("streamed_action.registration_must_match_the_method_shape") {
  action unary_for_stream{"actorstate.testing.Chant"};
  unary_for_stream.on_call<Shout, Shout>("Chorus", [](const Shout& s, action_context&) -> outcome<Shout> { return s; });
  auto m = unary_for_stream.model();
  m->service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("actorstate.testing.Chant");
  auto checked = detail::check_handlers(*m);
  CHECK(checked.code() == status_code::invalid_argument);
  CHECK(checked.message().find("streams, but its handler was registered for unary calls") != std::string::npos);

  action stream_for_unary{"actorstate.testing.Echo"};
  stream_for_unary.on_stream<Shout, Shout>("Say", [] { return stream_handlers<Shout, Shout>{}; });
  auto e = stream_for_unary.model();
  e->service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("actorstate.testing.Echo");
  checked = detail::check_handlers(*e);
  CHECK(checked.code() == status_code::invalid_argument);
  CHECK(checked.message().find("is unary, but its handler was registered for streams") != std::string::npos);
}
