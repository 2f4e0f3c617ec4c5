// CRDT entities on a cluster of three `crdt_member` processes (the TCK's CRDT model, natively) on one SQLite file,
// every port picked by the OS: replicas converge under concurrent updates spread over the members; MAJORITY without a
// majority fails cleanly (and the change is not lost); every acknowledged update survives the whole cluster killed
// with -9; a Vote cast on one member shows on another, and stops counting when its stream ends or its member dies
// (with the TCK model, and with the CRDT example's Connect and Monitor).
// Every wait is bounded; the processes are killed when a test ends, however it ends.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "cloudstate/tck/model/crdt.grpc.pb.h"
#include "crdts/crdt-example.grpc.pb.h"
#include "node_process.hpp"

namespace {

namespace tm = cloudstate::tck::model::crdt;
namespace it = actorstate::it;
using namespace std::chrono_literals;

class cluster {
public:
  explicit cluster(size_t n, const std::string& failure_timeout = "3s", const char* binary = ACTORSTATE_CRDT_MEMBER) {
    for (size_t i = 0; i < n; ++i) {
      auto name = "m" + std::to_string(i + 1);
      members_.push_back(std::make_unique<it::node_process>(
          binary, dir_.path() / name,
          std::vector<std::string>{"--cluster", "crdt-test", "--cluster-port", "0", "--store",
                                   "sqlite:" + (dir_.path() / "store.db").string(), "--failure-timeout",
                                   failure_timeout, "--node-id", name, "--log-level", "info"}));
    }
    for (auto& m : members_)
      m->start(30s);
  }

  it::node_process& operator[](size_t i) { return *members_[i]; }
  size_t size() const { return members_.size(); }

private:
  it::temp_dir dir_{"actorstate-crdt-cluster"};
  std::vector<std::unique_ptr<it::node_process>> members_;
};

std::unique_ptr<tm::CrdtTckModel::Stub> stub(it::node_process& m) {
  return tm::CrdtTckModel::NewStub(grpc::CreateChannel(m.target(), grpc::InsecureChannelCredentials()));
}

grpc::Status process(it::node_process& m, const tm::Request& request, tm::Response* response = nullptr,
                     std::chrono::milliseconds deadline = 20s) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  tm::Response ignored;
  return stub(m)->Process(&ctx, request, response != nullptr ? response : &ignored);
}

tm::Request increment(const std::string& id, uint64_t by,
                      tm::UpdateWriteConsistency consistency = tm::UpdateWriteConsistency::LOCAL) {
  tm::Request r;
  r.set_id(id);
  auto* update = r.add_actions()->mutable_update();
  update->mutable_gcounter()->set_increment(by);
  update->set_write_consistency(consistency);
  return r;
}

tm::Request add_element(const std::string& id, const std::string& element) {
  tm::Request r;
  r.set_id(id);
  r.add_actions()->mutable_update()->mutable_orset()->set_add(element);
  return r;
}

tm::Request read(const std::string& id) {
  tm::Request r;
  r.set_id(id);
  return r;
}

/// The counter's value on member `m`, or -1 when it cannot be read.
int64_t counter_on(it::node_process& m, const std::string& id) {
  tm::Response response;
  if (!process(m, read(id), &response).ok())
    return -1;
  return static_cast<int64_t>(response.state().gcounter().value());
}

std::set<std::string> set_on(it::node_process& m, const std::string& id) {
  tm::Response response;
  if (!process(m, read(id), &response).ok())
    return {"<unreadable>"};
  const auto& e = response.state().orset().elements();
  return {e.begin(), e.end()};
}

/// Reads a streamed call's responses on a thread of its own, so a test can wait (bounded) for a state to show.
class stream_watch {
public:
  stream_watch(it::node_process& m, tm::StreamedRequest request) : stub_(stub(m)) {
    ctx_.set_deadline(std::chrono::system_clock::now() + 90s);
    reader_ = stub_->ProcessStreamed(&ctx_, request);
    thread_ = std::thread{[this] {
      tm::Response r;
      while (reader_->Read(&r)) {
        std::lock_guard<std::mutex> guard{mtx_};
        seen_.push_back(r);
      }
      ended_ = true;
    }};
  }
  ~stream_watch() {
    cancel();
    thread_.join();
  }
  void cancel() { ctx_.TryCancel(); }
  /// Waits (bounded) until the last response received satisfies `pred`.
  template <class Pred>
  bool last_is(Pred pred, std::chrono::milliseconds within = 15s) {
    return it::wait_until(
        [&] {
          std::lock_guard<std::mutex> guard{mtx_};
          return !seen_.empty() && pred(seen_.back());
        },
        within);
  }
  std::string last() {
    std::lock_guard<std::mutex> guard{mtx_};
    return seen_.empty() ? "<none>" : seen_.back().ShortDebugString();
  }

private:
  std::unique_ptr<tm::CrdtTckModel::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<tm::Response>> reader_;
  std::thread thread_;
  std::mutex mtx_;
  std::vector<tm::Response> seen_;
  std::atomic<bool> ended_{false};
};

tm::StreamedRequest vote_stream(const std::string& id, bool connect) {
  tm::StreamedRequest r;
  r.set_id(id);
  if (connect) {
    r.mutable_initial_update()->mutable_vote()->set_self_vote(true);
    r.mutable_cancel_update()->mutable_vote()->set_self_vote(false);
  }
  return r;
}

}  // namespace

TEST_CASE("crdt.cluster.replicas_converge_after_concurrent_updates_spread_over_three_members") {
  cluster c{3};
  // 1,000 updates from 8 clients, each update to the next member in turn: 500 GCounter increments and 500 ORSet adds.
  constexpr int clients = 8;
  constexpr int per_client = 125;
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_client; ++i) {
        auto& m = c[static_cast<size_t>(t + i) % c.size()];
        auto st = i % 2 == 0 ? process(m, increment("GCounter-converge", 1))
                             : process(m, add_element("ORSet-converge", "e" + std::to_string(t * per_client + i)));
        if (!st.ok())
          failed.fetch_add(1);
      }
    });
  for (auto& t : threads)
    t.join();
  REQUIRE(failed.load() == 0);
  int expected_adds = clients * (per_client / 2);                  // odd i: 62 per client
  int expected_increments = clients * per_client - expected_adds;  // even i: 63 per client
  for (size_t i = 0; i < c.size(); ++i) {
    INFO("member m" << i + 1);
    CHECK(it::wait_until([&] { return counter_on(c[i], "GCounter-converge") == expected_increments; }, 15s, 100ms));
    CHECK(it::wait_until([&] { return set_on(c[i], "ORSet-converge").size() == static_cast<size_t>(expected_adds); },
                         15s, 100ms));
  }
  auto first = set_on(c[0], "ORSet-converge");
  CHECK(set_on(c[1], "ORSet-converge") == first);
  CHECK(set_on(c[2], "ORSet-converge") == first);
}

TEST_CASE("crdt.cluster.majority_without_a_majority_fails_cleanly_and_keeps_the_change") {
  // A long failure timeout keeps the stopped members listed as up: a majority of three is then out of reach.
  cluster c{3, "30s"};
  REQUIRE(process(c[0], increment("GCounter-majority", 1, tm::UpdateWriteConsistency::MAJORITY)).ok());
  // The members share one SQLite file: one stopped in the middle of a transaction (its membership renewal, say) would
  // hold the file's lock, and every write here would wait for it. Stop them until a LOCAL write here still goes
  // through, so that what is tested is the missing majority, not a stalled store.
  bool stopped_cleanly = false;
  for (int attempt = 0; attempt < 10 && !stopped_cleanly; ++attempt) {
    REQUIRE(kill(c[1].pid(), SIGSTOP) == 0);
    REQUIRE(kill(c[2].pid(), SIGSTOP) == 0);
    stopped_cleanly = process(c[0], increment("GCounter-majority", 1), nullptr, 3s).ok();
    if (!stopped_cleanly) {
      REQUIRE(kill(c[1].pid(), SIGCONT) == 0);
      REQUIRE(kill(c[2].pid(), SIGCONT) == 0);
      std::this_thread::sleep_for(100ms);  // let them finish the transaction they were stopped in
    }
  }
  REQUIRE(stopped_cleanly);
  auto started = std::chrono::steady_clock::now();
  auto st = process(c[0], increment("GCounter-majority", 1, tm::UpdateWriteConsistency::MAJORITY));
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(st.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(st.error_message().find("MAJORITY") != std::string::npos);
  CHECK(took < 15s);  // within the write timeout (5 s), not the command timeout
  // LOCAL does not wait for the others.
  CHECK(process(c[0], increment("GCounter-majority", 1)).ok());
  REQUIRE(kill(c[1].pid(), SIGCONT) == 0);
  REQUIRE(kill(c[2].pid(), SIGCONT) == 0);
  CHECK(it::wait_until(
      [&] { return process(c[0], increment("GCounter-majority", 1, tm::UpdateWriteConsistency::MAJORITY)).ok(); }, 20s,
      200ms));
  // Nothing was lost: the increment whose MAJORITY failed was applied and stored here, and reaches everyone.
  auto value = counter_on(c[0], "GCounter-majority");
  CHECK(value >= 5);
  for (size_t i = 1; i < c.size(); ++i)
    CHECK(it::wait_until([&] { return counter_on(c[i], "GCounter-majority") == value; }, 15s, 100ms));
}

TEST_CASE("crdt.cluster.every_acknowledged_update_survives_the_whole_cluster_killed") {
  cluster c{3};
  int acknowledged = 0;
  std::set<std::string> added;
  for (int i = 0; i < 120; ++i) {
    auto& m = c[static_cast<size_t>(i) % c.size()];
    if (process(m, increment("GCounter-durable", 1)).ok())
      ++acknowledged;
    auto element = "d" + std::to_string(i);
    if (process(m, add_element("ORSet-durable", element)).ok())
      added.insert(element);
  }
  CHECK(acknowledged == 120);
  for (size_t i = 0; i < c.size(); ++i)
    c[i].kill();
  for (size_t i = 0; i < c.size(); ++i)
    c[i].start(30s);
  for (size_t i = 0; i < c.size(); ++i) {
    INFO("member m" << i + 1);
    CHECK(counter_on(c[i], "GCounter-durable") == acknowledged);
    CHECK(set_on(c[i], "ORSet-durable") == added);
  }
}

TEST_CASE("crdt.cluster.a_vote_on_one_member_shows_on_another_until_its_stream_ends_or_its_member_dies") {
  cluster c{3};
  stream_watch monitor{c[1], vote_stream("Vote-user", false)};
  auto online = [](int votes, int voters) {
    return [votes, voters](const tm::Response& r) {
      return r.state().vote().votes_for() == votes && r.state().vote().total_voters() == voters;
    };
  };
  {
    stream_watch connect{c[0], vote_stream("Vote-user", true)};
    CHECK_MESSAGE(monitor.last_is(online(1, 3)), monitor.last());
    connect.cancel();  // the client goes away: its vote is withdrawn
    CHECK_MESSAGE(monitor.last_is(online(0, 3)), monitor.last());
  }
  stream_watch connect{c[0], vote_stream("Vote-user", true)};
  CHECK_MESSAGE(monitor.last_is(online(1, 3)), monitor.last());
  c[0].kill();  // the member dies with the stream open: its vote stops counting, and it stops being a voter
  CHECK_MESSAGE(monitor.last_is(online(0, 2), 20s), monitor.last());
}

namespace {

namespace ex = com::example::crdts;

/// Reads a CrdtExample stream (Monitor or Connect) on a thread of its own; `online()` is Monitor's last status.
template <class Element>
class example_stream {
public:
  template <class Open>
  explicit example_stream(Open open) {
    ctx_.set_deadline(std::chrono::system_clock::now() + 90s);
    reader_ = open(&ctx_);
    thread_ = std::thread{[this] {
      Element e;
      while (reader_->Read(&e)) {
        std::lock_guard<std::mutex> guard{mtx_};
        seen_.push_back(e);
      }
    }};
  }
  ~example_stream() {
    ctx_.TryCancel();
    thread_.join();
  }
  void cancel() { ctx_.TryCancel(); }
  bool last_is(bool online, std::chrono::milliseconds within = 15s) {
    return it::wait_until(
        [&] {
          std::lock_guard<std::mutex> guard{mtx_};
          return !seen_.empty() && seen_.back().online() == online;
        },
        within);
  }

private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<Element>> reader_;
  std::thread thread_;
  std::mutex mtx_;
  std::vector<Element> seen_;
};

ex::User user(const std::string& name) {
  ex::User u;
  u.set_name(name);
  return u;
}

}  // namespace

TEST_CASE("crdt.cluster.crdt_example_connect_on_one_member_shows_online_through_monitor_on_another") {
  cluster c{3, "3s", ACTORSTATE_CRDT_EXAMPLE};
  auto stub_of = [&](size_t i) {
    return ex::CrdtExample::NewStub(grpc::CreateChannel(c[i].target(), grpc::InsecureChannelCredentials()));
  };
  auto monitor_stub = stub_of(2);
  example_stream<ex::OnlineStatus> monitor{
      [&](grpc::ClientContext* ctx) { return monitor_stub->Monitor(ctx, user("alice")); }};
  CHECK(monitor.last_is(false));
  auto connect_stub = stub_of(0);
  {
    example_stream<google::protobuf::Empty> connect{
        [&](grpc::ClientContext* ctx) { return connect_stub->Connect(ctx, user("alice")); }};
    CHECK(monitor.last_is(true));
    connect.cancel();  // the stream closes: alice goes offline everywhere
    CHECK(monitor.last_is(false));
  }
  example_stream<google::protobuf::Empty> connect{
      [&](grpc::ClientContext* ctx) { return connect_stub->Connect(ctx, user("alice")); }};
  CHECK(monitor.last_is(true));
  c[0].kill();  // her member dies with the stream open
  CHECK(monitor.last_is(false, 20s));
}
