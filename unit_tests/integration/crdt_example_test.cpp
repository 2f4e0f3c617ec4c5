// End-to-end tests of the CRDT example (samples/crdt-example) as real processes: natively on a SQLite store (counters,
// sets, a type clash, the Connect/Monitor presence flow, and what survives a restart and a kill -9), and as a user
// function behind actorstate-proxy (counters, sets and presence). Streams are read by a thread each, and every wait
// for an element is bounded; "nothing more arrives" is checked with a short bounded wait.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "cart_client.hpp"
#include "crdts/crdt-example.grpc.pb.h"
#include "node_process.hpp"

namespace it = actorstate::it;
namespace ex = com::example::crdts;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

const char* crdt_example_binary() {
  return ACTORSTATE_IT_CRDT_EXAMPLE;
}

constexpr auto call_deadline = 5s;
// How long a stream waits for an element that must come (generous: the machine may be busy).
constexpr auto element_wait = 10s;
// How long a stream is watched for an element that must not come.
constexpr auto quiet_wait = 500ms;

std::string status_text(const grpc::Status& s) {
  return std::to_string(static_cast<int>(s.error_code())) + " " + s.error_message();
}

std::unique_ptr<ex::CrdtExample::Stub> make_stub(const std::string& target) {
  return ex::CrdtExample::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

void set_deadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() + call_deadline);
}

// A counter's value, or the failure as "error <code> <message>".
std::string increment_gcounter(ex::CrdtExample::Stub& stub, const std::string& key, int64_t value) {
  grpc::ClientContext ctx;
  set_deadline(ctx);
  ex::UpdateCounter request;
  request.set_key(key);
  request.set_value(value);
  ex::CounterValue reply;
  auto s = stub.IncrementGCounter(&ctx, request, &reply);
  return s.ok() ? std::to_string(reply.value()) : "error " + status_text(s);
}

std::string update_pncounter(ex::CrdtExample::Stub& stub, const std::string& key, int64_t value) {
  grpc::ClientContext ctx;
  set_deadline(ctx);
  ex::UpdateCounter request;
  request.set_key(key);
  request.set_value(value);
  ex::CounterValue reply;
  auto s = stub.UpdatePNCounter(&ctx, request, &reply);
  return s.ok() ? std::to_string(reply.value()) : "error " + status_text(s);
}

std::string get_gcounter(ex::CrdtExample::Stub& stub, const std::string& key) {
  grpc::ClientContext ctx;
  set_deadline(ctx);
  ex::Get request;
  request.set_key(key);
  ex::CounterValue reply;
  auto s = stub.GetGCounter(&ctx, request, &reply);
  return s.ok() ? std::to_string(reply.value()) : "error " + status_text(s);
}

std::string get_pncounter(ex::CrdtExample::Stub& stub, const std::string& key) {
  grpc::ClientContext ctx;
  set_deadline(ctx);
  ex::Get request;
  request.set_key(key);
  ex::CounterValue reply;
  auto s = stub.GetPNCounter(&ctx, request, &reply);
  return s.ok() ? std::to_string(reply.value()) : "error " + status_text(s);
}

// "a" for SomeValue{key a}, "a:desc" with a description.
ex::SomeValue item(const std::string& text) {
  ex::SomeValue v;
  auto colon = text.find(':');
  v.set_key(text.substr(0, colon));
  if (colon != std::string::npos)
    v.set_description(text.substr(colon + 1));
  return v;
}

struct mutation {
  bool clear = false;
  std::vector<std::string> remove;
  std::vector<std::string> add;
};

// The size after the mutation, or the failure.
std::string mutate(ex::CrdtExample::Stub& stub, bool orset, const std::string& key, const mutation& m) {
  grpc::ClientContext ctx;
  set_deadline(ctx);
  ex::MutateSet request;
  request.set_key(key);
  request.set_clear(m.clear);
  for (const auto& r : m.remove)
    *request.add_remove() = item(r);
  for (const auto& a : m.add)
    *request.add_add() = item(a);
  ex::SetSize reply;
  auto s = orset ? stub.MutateORSet(&ctx, request, &reply) : stub.MutateGSet(&ctx, request, &reply);
  return s.ok() ? std::to_string(reply.size()) : "error " + status_text(s);
}

// The set's items sorted ("a b:desc c"), or the failure.
std::string get_set(ex::CrdtExample::Stub& stub, bool orset, const std::string& key) {
  grpc::ClientContext ctx;
  set_deadline(ctx);
  ex::Get request;
  request.set_key(key);
  ex::SetValue reply;
  auto s = orset ? stub.GetORSet(&ctx, request, &reply) : stub.GetGSet(&ctx, request, &reply);
  if (!s.ok())
    return "error " + status_text(s);
  std::vector<std::string> items;
  for (const auto& v : reply.items())
    items.push_back(v.description().empty() ? v.key() : v.key() + ":" + v.description());
  std::sort(items.begin(), items.end());
  std::string out;
  for (const auto& i : items)
    out += (out.empty() ? "" : " ") + i;
  return out;
}

// A server-streaming call read by a thread of its own: elements queue up for next(), which waits (bounded) for one.
// Destruction cancels the call and joins the thread.
template <class Reply>
class open_stream {
public:
  using starter = std::function<std::unique_ptr<grpc::ClientReader<Reply>>(grpc::ClientContext*)>;

  explicit open_stream(const starter& start) {
    // A safety net only: the tests end their streams themselves.
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{120});
    reader_ = start(&ctx_);
    thread_ = std::thread([this] {
      Reply reply;
      while (reader_->Read(&reply)) {
        std::lock_guard guard{lock_};
        elements_.push_back(reply);
        changed_.notify_all();
      }
      auto status = reader_->Finish();
      std::lock_guard guard{lock_};
      status_ = status;
      changed_.notify_all();
    });
  }
  ~open_stream() {
    ctx_.TryCancel();
    thread_.join();
  }
  open_stream(const open_stream&) = delete;
  open_stream& operator=(const open_stream&) = delete;

  // The next element, or nullopt if none came within `timeout` or the call ended.
  std::optional<Reply> next(std::chrono::milliseconds timeout = element_wait) {
    std::unique_lock guard{lock_};
    changed_.wait_for(guard, timeout, [this] { return !elements_.empty() || status_.has_value(); });
    if (elements_.empty())
      return std::nullopt;
    auto e = std::move(elements_.front());
    elements_.pop_front();
    return e;
  }

  // The client goes away.
  void cancel() { ctx_.TryCancel(); }

  // The call's status once it ended (within `timeout`), else nullopt.
  std::optional<grpc::Status> ended(std::chrono::milliseconds timeout) {
    std::unique_lock guard{lock_};
    changed_.wait_for(guard, timeout, [this] { return status_.has_value(); });
    return status_;
  }

private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<Reply>> reader_;
  std::mutex lock_;
  std::condition_variable changed_;
  std::deque<Reply> elements_;
  std::optional<grpc::Status> status_;
  std::thread thread_;
};

ex::User user(const std::string& name) {
  ex::User u;
  u.set_name(name);
  return u;
}

std::unique_ptr<open_stream<google::protobuf::Empty>> connect(ex::CrdtExample::Stub& stub, const std::string& name) {
  return std::make_unique<open_stream<google::protobuf::Empty>>(
      [&stub, name](grpc::ClientContext* ctx) { return stub.Connect(ctx, user(name)); });
}

std::unique_ptr<open_stream<ex::OnlineStatus>> monitor(ex::CrdtExample::Stub& stub, const std::string& name) {
  return std::make_unique<open_stream<ex::OnlineStatus>>(
      [&stub, name](grpc::ClientContext* ctx) { return stub.Monitor(ctx, user(name)); });
}

// The next status a monitor reports: "online", "offline", or "nothing" when none came in time.
std::string next_status(open_stream<ex::OnlineStatus>& m, std::chrono::milliseconds timeout = element_wait) {
  auto s = m.next(timeout);
  if (!s)
    return "nothing";
  return s->online() ? "online" : "offline";
}

// What a Monitor that has just been opened reports first.
std::string status_now(ex::CrdtExample::Stub& stub, const std::string& name) {
  auto m = monitor(stub, name);
  return next_status(*m);
}

// The counters and sets session every variant runs: each key gets the CRDT of its method.
void counters_and_sets(ex::CrdtExample::Stub& stub) {
  // GCounter: increments answer the new value; a negative increment fails and changes nothing.
  CHECK(get_gcounter(stub, "g1") == "0");
  CHECK(increment_gcounter(stub, "g1", 5) == "5");
  CHECK(increment_gcounter(stub, "g1", 3) == "8");
  CHECK(increment_gcounter(stub, "g1", 0) == "8");
  CHECK(increment_gcounter(stub, "g1", -1) == "error 2 Cannot decrement gcounter");
  CHECK(get_gcounter(stub, "g1") == "8");
  CHECK(increment_gcounter(stub, "g2", 1) == "1");

  // PNCounter: up and down.
  CHECK(update_pncounter(stub, "pn1", 10) == "10");
  CHECK(update_pncounter(stub, "pn1", -15) == "-5");
  CHECK(update_pncounter(stub, "pn1", 0) == "-5");
  CHECK(get_pncounter(stub, "pn1") == "-5");
  CHECK(get_pncounter(stub, "pn-never") == "0");

  // GSet: only grows; clear and remove are ignored, as in the reference example.
  CHECK(get_set(stub, false, "gs1") == "");
  CHECK(mutate(stub, false, "gs1", {.add = {"a", "b:bee"}}) == "2");
  CHECK(mutate(stub, false, "gs1", {.add = {"b:bee", "c"}}) == "3");
  CHECK(mutate(stub, false, "gs1", {.clear = true, .remove = {"a"}}) == "3");
  // An element is the whole message: same key, other description, another element.
  CHECK(mutate(stub, false, "gs1", {.add = {"a:other"}}) == "4");
  CHECK(get_set(stub, false, "gs1") == "a a:other b:bee c");

  // ORSet: add, remove, clear (applied before the adds of the same mutation).
  CHECK(mutate(stub, true, "os1", {.add = {"a", "b", "c"}}) == "3");
  CHECK(mutate(stub, true, "os1", {.remove = {"b", "zzz"}}) == "2");
  CHECK(get_set(stub, true, "os1") == "a c");
  CHECK(mutate(stub, true, "os1", {.remove = {"a"}, .add = {"d", "b"}}) == "3");
  CHECK(get_set(stub, true, "os1") == "b c d");
  CHECK(mutate(stub, true, "os1", {.clear = true, .add = {"e"}}) == "1");
  CHECK(get_set(stub, true, "os1") == "e");
  CHECK(mutate(stub, true, "os2", {.add = {"x", "y"}}) == "2");
  CHECK(mutate(stub, true, "os2", {.clear = true}) == "0");
  CHECK(get_set(stub, true, "os2") == "");
  CHECK(mutate(stub, true, "os3", {.add = {"p", "q:queue"}}) == "2");

  // A key holds one CRDT: a method of another type fails on it, and the key keeps its value.
  CHECK(get_pncounter(stub, "g1") == "error 2 Key g1 holds a GCounter (this method's CRDT is PNCounter)");
  CHECK(mutate(stub, true, "gs1", {.add = {"z"}}) == "error 2 Key gs1 holds a GSet (this method's CRDT is ORSet)");
  CHECK(get_gcounter(stub, "g1") == "8");
  CHECK(get_set(stub, false, "gs1") == "a a:other b:bee c");
}

// What counters_and_sets left behind, as read after a restart.
void check_counters_and_sets_kept(ex::CrdtExample::Stub& stub) {
  CHECK(get_gcounter(stub, "g1") == "8");
  CHECK(get_gcounter(stub, "g2") == "1");
  CHECK(get_pncounter(stub, "pn1") == "-5");
  CHECK(get_set(stub, false, "gs1") == "a a:other b:bee c");
  CHECK(get_set(stub, true, "os1") == "e");
  CHECK(get_set(stub, true, "os2") == "");
  CHECK(get_set(stub, true, "os3") == "p q:queue");
}

// Connect and Monitor: a user is online while at least one Connect is open, and every Monitor hears each change once.
void presence(ex::CrdtExample::Stub& stub) {
  auto alice = monitor(stub, "alice");
  REQUIRE(next_status(*alice) == "offline");
  auto bob = monitor(stub, "bob");
  REQUIRE(next_status(*bob) == "offline");

  auto first = connect(stub, "alice");
  CHECK(next_status(*alice) == "online");
  // A monitor opened now reports the status at once.
  CHECK(status_now(stub, "alice") == "online");

  // A second connection changes nothing, and closing one of two keeps the user online. The second one is closed
  // first: its Connect and its cancellation are ordered (one call), while the first is known to be handled, so no
  // ordering of the two calls at the node can make the user go offline here.
  auto second = connect(stub, "alice");
  CHECK(status_now(stub, "alice") == "online");
  second->cancel();
  auto second_end = second->ended(element_wait);
  REQUIRE(second_end.has_value());
  CHECK(second_end->error_code() == grpc::StatusCode::CANCELLED);
  CHECK(next_status(*alice, quiet_wait) == "nothing");
  CHECK(status_now(stub, "alice") == "online");

  // The last connection goes: offline.
  first->cancel();
  CHECK(next_status(*alice) == "offline");
  CHECK(status_now(stub, "alice") == "offline");

  // And back.
  auto third = connect(stub, "alice");
  CHECK(next_status(*alice) == "online");
  third.reset();  // cancels the call
  CHECK(next_status(*alice) == "offline");

  // Nobody connected bob; the Connect streams sent no element and the monitors are still open.
  CHECK(next_status(*bob, quiet_wait) == "nothing");
  CHECK_FALSE(alice->ended(0ms).has_value());
  CHECK_FALSE(bob->ended(0ms).has_value());
}

// The proxy's flags for a user function on 127.0.0.1:`port`, then `more`.
std::vector<std::string> proxy_args(uint16_t port, std::vector<std::string> more = {}) {
  std::vector<std::string> args{"--user-function-host", "127.0.0.1", "--user-function-port", std::to_string(port)};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

}  // namespace

TEST_CASE("native.counters_and_sets_survive_restarts") {
  it::temp_dir dir{"actorstate-crdt"};
  auto db = dir.path() / "crdt.db";
  it::node_process node{crdt_example_binary(), dir.path() / "node", {"--store", "sqlite:" + db.string()}};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  CHECK(fs::exists(db));
  {
    auto stub = make_stub(node.target());
    counters_and_sets(*stub);
  }

  // A graceful restart on the same store.
  REQUIRE(node.terminate() == 0);
  node.start();
  {
    auto stub = make_stub(node.target());
    check_counters_and_sets_kept(*stub);
    // Acknowledged changes are durable: they survive a kill -9 right after the reply.
    CHECK(increment_gcounter(*stub, "g1", 2) == "10");
    CHECK(update_pncounter(*stub, "pn1", 7) == "2");
    CHECK(mutate(*stub, true, "os1", {.remove = {"e"}, .add = {"f"}}) == "1");
    CHECK(mutate(*stub, false, "gs1", {.add = {"d"}}) == "5");
  }
  node.kill();
  node.start();
  auto stub = make_stub(node.target());
  CHECK(get_gcounter(*stub, "g1") == "10");
  CHECK(get_pncounter(*stub, "pn1") == "2");
  CHECK(get_set(*stub, true, "os1") == "f");
  CHECK(get_set(*stub, false, "gs1") == "a a:other b:bee c d");
  CHECK(get_set(*stub, true, "os3") == "p q:queue");
  CHECK(node.terminate() == 0);
}

TEST_CASE("native.connect_and_monitor") {
  it::temp_dir dir{"actorstate-crdt"};
  auto db = dir.path() / "crdt.db";
  it::node_process node{crdt_example_binary(), dir.path() / "node", {"--store", "sqlite:" + db.string()}};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  auto stub = make_stub(node.target());
  presence(*stub);

  // A user connected when the process dies is not online in the next one: the vote belonged to the old process.
  {
    auto m = monitor(*stub, "carol");
    REQUIRE(next_status(*m) == "offline");
    auto c = connect(*stub, "carol");
    REQUIRE(next_status(*m) == "online");
    node.kill();
  }
  node.start();
  stub = make_stub(node.target());
  CHECK(status_now(*stub, "carol") == "offline");
  {
    auto m = monitor(*stub, "carol");
    REQUIRE(next_status(*m) == "offline");
    auto c = connect(*stub, "carol");
    CHECK(next_status(*m) == "online");
  }
  CHECK(node.terminate() == 0);
}

TEST_CASE("user_function.behind_the_proxy") {
  it::temp_dir dir{"actorstate-crdt-px"};
  it::user_function_process uf{crdt_example_binary(), dir.path() / "uf"};
  uf.start();
  auto db = dir.path() / "proxy.db";
  it::node_process proxy{it::proxy_binary(), dir.path() / "proxy",
                         proxy_args(uf.port(), {"--store", "sqlite:" + db.string()})};
  proxy.start();
  INFO("proxy log tail:\n" << proxy.log_tail() << "\nuser function log tail:\n" << uf.log_tail());
  {
    auto stub = make_stub(proxy.target());
    counters_and_sets(*stub);
    presence(*stub);
  }

  // The state is the proxy's: a restarted proxy (same store) finds it.
  REQUIRE(proxy.terminate() == 0);
  proxy.start();
  auto stub = make_stub(proxy.target());
  check_counters_and_sets_kept(*stub);
  CHECK(status_now(*stub, "alice") == "offline");

  CHECK(proxy.terminate() == 0);
  CHECK(uf.terminate() == 0);
}

// A client that cancels a streamed call must not keep the node from shutting down: the call is finished on the
// server side too (a cancelled CRDT stream used to leave its gRPC call open, so SIGTERM hung past the drain timeout).
TEST_CASE("native.a_cancelled_stream_does_not_hold_up_shutdown") {
  it::temp_dir dir{"actorstate-crdt"};
  it::node_process node{crdt_example_binary(), dir.path() / "node", {"--store", "memory", "--drain-timeout", "3s"}};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  auto stub = make_stub(node.target());
  {
    auto m = monitor(*stub, "dave");
    REQUIRE(next_status(*m) == "offline");
    auto c = connect(*stub, "dave");
    REQUIRE(next_status(*m) == "online");
    c->cancel();
    auto ended = c->ended(element_wait);
    REQUIRE(ended.has_value());
    CHECK(ended->error_code() == grpc::StatusCode::CANCELLED);
    CHECK(next_status(*m) == "offline");
    m->cancel();
    REQUIRE(m->ended(element_wait).has_value());
  }
  auto started = std::chrono::steady_clock::now();
  CHECK(node.terminate(15s) == 0);
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}

// Over HTTP/1.1 a Connect sends nothing, so its connection sits idle: a client that closes it must still count as
// gone (the HTTP/1.1 server used to notice only when a stream had something to send, so the user stayed online).
TEST_CASE("native.an_http_connect_ends_when_its_client_goes_away") {
  it::temp_dir dir{"actorstate-crdt"};
  it::node_process node{crdt_example_binary(), dir.path() / "node", {"--store", "memory"}};
  node.start();
  INFO("node log tail:\n" << node.log_tail());
  auto stub = make_stub(node.target());
  auto m = monitor(*stub, "erin");
  REQUIRE(next_status(*m) == "offline");
  {
    it::raw_connection http{node.port()};
    const std::string body = R"({"name":"erin"})";
    REQUIRE(
        http.send("POST /com.example.crdts.CrdtExample/Connect HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Content-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body));
    REQUIRE(next_status(*m) == "online");
    http.close();
  }
  CHECK(next_status(*m) == "offline");
  m->cancel();
  REQUIRE(m->ended(element_wait).has_value());
  CHECK(node.terminate(15s) == 0);
}
