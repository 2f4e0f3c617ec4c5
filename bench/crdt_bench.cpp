// The CRDT benchmarks of issue 15 (bench/crdt_bench.sh drives them; docs/performance.md has the table). All three
// modes talk to the TCK's CRDT model services (unit_tests/tck/crdt_model.hpp: the entity id's prefix picks the CRDT
// type, `Process` applies the request's updates, `ProcessStreamed` streams the state on every change):
//   crdt_bench native  [--store sqlite:PATH] [--clients 1,32,256] [--entities 1000] [--seconds 3] [--json]
//       closed-loop clients increment GCounters in-process (node::invoke, no gRPC) on a durable store: the CRDT
//       counterpart of native_bench's AddItem rows.
//   crdt_bench load    --target HOST:PORT --update gcounter|orset [--concurrency 1,32,256] [--entities 1000]
//                      [--entity-prefix bench-] [--element-tag e] [--seconds 3] [--max-calls N] [--json]
//       closed-loop gRPC callers send Process with one update (a GCounter increment by 1, or an ORSet add of an
//       element no other call adds) to a node or actorstate-proxy; also fills the ORSet of the wire-size scenario.
//   crdt_bench converge --source HOST:PORT --watch HOST:PORT[,HOST:PORT...] [--entity GCounter-converge]
//                       [--rate 200] [--seconds 5] [--settle 10] [--json]
//       opens ProcessStreamed on the entity at every --watch member, then sends GCounter increments of 1 to --source
//       at a steady rate (open loop, asynchronous calls); update i's value appears on a watcher when its streamed
//       value first reaches i. Prints p50/p99/max of (appeared − sent) over every update and watcher.
// Every mode is bounded in count and in time; progress goes to stderr.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>

#include <actorstate/node.hpp>

#include "bench_common.hpp"
#include "bench_node.hpp"
#include "cloudstate/tck/model/crdt.grpc.pb.h"
#include "crdt_model.hpp"
#include "invoke_loop.hpp"

namespace {

namespace cr = cloudstate::tck::model::crdt;
using bench::clock_type;
using namespace std::chrono_literals;

constexpr const char* service = "cloudstate.tck.model.crdt.CrdtTckModel";

enum class update_kind { gcounter, orset };

/// A Process request with one update of `entity`: a GCounter increment by 1, or an ORSet add of `element`.
cr::Request update_request(update_kind kind, const std::string& entity, const std::string& element) {
  cr::Request r;
  r.set_id(entity);
  auto* update = r.add_actions()->mutable_update();
  if (kind == update_kind::gcounter)
    update->mutable_gcounter()->set_increment(1);
  else
    update->mutable_orset()->set_add(element);
  return r;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  for (size_t from = 0;;) {
    auto comma = s.find(',', from);
    out.push_back(s.substr(from, comma - from));
    if (comma == std::string::npos)
      return out;
    from = comma + 1;
  }
}

// --- native ------------------------------------------------------------------------------------------------------

bench::invoke_result run_native(actorstate::node& node, size_t clients, size_t entities, const std::string& prefix,
                                std::chrono::seconds duration, uint64_t max_commands) {
  return bench::run_invoke_loop(node, clients, duration, max_commands, [&](size_t client, uint64_t n) {
    auto entity = "GCounter-" + prefix + std::to_string((client + n * clients) % entities);
    auto payload = update_request(update_kind::gcounter, entity, {}).SerializeAsString();
    return std::pair<std::string, actorstate::command>{service, {entity, "Process", std::move(payload), {}}};
  });
}

int native_main(const std::string& store_arg, const std::vector<size_t>& clients, size_t entities,
                const std::string& prefix, int seconds, uint64_t max_commands, bool json) {
  auto dir = std::filesystem::temp_directory_path() / ("actorstate-crdt-bench-" + std::to_string(::getpid()));
  std::string store = store_arg;
  bool own_dir = store.empty();
  if (own_dir) {
    std::filesystem::create_directories(dir);
    store = "sqlite:" + (dir / "bench.db").string();
  }
  int rc = 0;
  {
    actorstate::node node{bench::local_node_options(store)};
    if (!bench::start_node(node, tck::crdt_tck_model()))
      return 2;
    if (!json)
      std::printf("| scenario | clients | increments/s | p50 µs | p99 µs | errors |\n|---|---|---|---|---|---|\n");
    for (size_t c : clients) {
      std::fprintf(stderr, "crdt_bench native: %zu clients over %zu GCounters\n", c, entities);
      auto r = run_native(node, c, entities, prefix, std::chrono::seconds{seconds}, max_commands);
      bench::print_throughput("crdt_native", bench::entities_label(entities), entities, c, r,
                              {{"commands", r.commands}}, json);
      if (r.commands == r.errors)
        rc = 1;
    }
    bench::stop_node(node);
  }
  if (own_dir)
    std::filesystem::remove_all(dir);
  return rc;
}

// --- load --------------------------------------------------------------------------------------------------------

struct load_result : bench::throughput {
  uint64_t calls = 0;
  uint64_t response_bytes = 0;  // the serialized size of the last reply (the entity's whole state, as the model has it)
};

/// One closed-loop gRPC caller: issues its next Process from the previous one's completion until deadline or budget.
struct caller {
  cr::CrdtTckModel::Stub* stub = nullptr;
  update_kind kind = update_kind::gcounter;
  size_t index = 0;
  size_t entities = 1;
  std::string prefix;
  std::string tag;  // ORSet elements: tag + index + "-" + n
  uint64_t n = 0;
  clock_type::time_point deadline;
  std::atomic<int64_t>* budget = nullptr;
  std::vector<double> latencies;
  uint64_t errors = 0;
  uint64_t response_bytes = 0;
  std::string last_error;
  std::function<void()> done;

  std::unique_ptr<grpc::ClientContext> ctx;
  cr::Request request;
  cr::Response response;
  clock_type::time_point start;

  void next() {
    if (clock_type::now() >= deadline || budget->fetch_sub(1) <= 0) {
      done();
      return;
    }
    ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + 20s);
    auto k = (index * 7919 + n) % entities;
    auto entity = (kind == update_kind::gcounter ? "GCounter-" : "ORSet-") + prefix + std::to_string(k);
    request = update_request(kind, entity, tag + std::to_string(index) + "-" + std::to_string(n));
    ++n;
    start = clock_type::now();
    stub->async()->Process(ctx.get(), &request, &response, [this](grpc::Status status) {
      if (status.ok()) {
        latencies.push_back(bench::micros_since(start));
        response_bytes = response.ByteSizeLong();
      } else {
        ++errors;
        last_error = status.error_message();
      }
      next();
    });
  }
};

load_result run_load(std::vector<std::unique_ptr<cr::CrdtTckModel::Stub>>& stubs, update_kind kind, size_t concurrency,
                     size_t entities, const std::string& prefix, const std::string& tag, std::chrono::seconds duration,
                     uint64_t max_calls) {
  std::mutex mtx;
  std::condition_variable cv;
  size_t finished = 0;
  std::atomic<int64_t> budget{static_cast<int64_t>(max_calls)};
  std::vector<std::unique_ptr<caller>> callers;
  auto begin = clock_type::now();
  for (size_t i = 0; i < concurrency; ++i) {
    auto c = std::make_unique<caller>();
    c->stub = stubs[i % stubs.size()].get();
    c->kind = kind;
    c->index = i;
    c->entities = entities;
    c->prefix = prefix;
    c->tag = tag;
    c->deadline = begin + duration;
    c->budget = &budget;
    c->done = [&] {
      std::lock_guard<std::mutex> guard{mtx};
      ++finished;
      cv.notify_all();
    };
    callers.push_back(std::move(c));
  }
  for (auto& c : callers)
    c->next();
  {
    std::unique_lock<std::mutex> lock{mtx};
    cv.wait(lock, [&] { return finished == concurrency; });
  }
  load_result r;
  r.seconds = bench::seconds_since(begin);
  std::vector<double> lat;
  std::string last_error;
  for (auto& c : callers) {
    lat.insert(lat.end(), c->latencies.begin(), c->latencies.end());
    r.errors += c->errors;
    r.response_bytes = std::max(r.response_bytes, c->response_bytes);
    if (!c->last_error.empty())
      last_error = c->last_error;
  }
  if (!last_error.empty())
    std::fprintf(stderr, "crdt_bench load: %llu failed calls, e.g.: %s\n", static_cast<unsigned long long>(r.errors),
                 last_error.c_str());
  r.calls = lat.size();
  r.rate = static_cast<double>(r.calls) / r.seconds;
  r.p50_us = bench::percentile(lat, 0.50);
  r.p99_us = bench::percentile(lat, 0.99);
  return r;
}

std::shared_ptr<grpc::Channel> connect(const std::string& target, int index, int timeout_s) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.channel_id", index);  // distinct channels, distinct connections
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds{timeout_s})) {
    std::fprintf(stderr, "crdt_bench: cannot connect to %s\n", target.c_str());
    return nullptr;
  }
  return channel;
}

int load_main(const std::string& target, const std::string& update, const std::vector<size_t>& concurrency,
              size_t entities, const std::string& prefix, const std::string& tag, int seconds, uint64_t max_calls,
              size_t channels, bool json) {
  std::vector<std::unique_ptr<cr::CrdtTckModel::Stub>> stubs;
  for (size_t i = 0; i < channels; ++i) {
    auto channel = connect(target, static_cast<int>(i), 30);
    if (!channel)
      return 2;
    stubs.push_back(cr::CrdtTckModel::NewStub(channel));
  }
  auto kind = update == "orset" ? update_kind::orset : update_kind::gcounter;
  if (!json)
    std::printf("| update | callers | calls/s | p50 µs | p99 µs | errors |\n|---|---|---|---|---|---|\n");
  int rc = 0;
  for (auto c : concurrency) {
    std::fprintf(stderr, "crdt_bench load: %s, %zu callers over %zu entities\n", update.c_str(), c, entities);
    auto r = run_load(stubs, kind, c, entities, prefix, tag, std::chrono::seconds{seconds}, max_calls);
    bench::print_throughput("crdt_load_" + update, update, entities, c, r,
                            {{"calls", r.calls}, {"response_bytes", r.response_bytes}}, json);
    if (r.calls == 0)
      rc = 1;
  }
  return rc;
}

// --- converge ----------------------------------------------------------------------------------------------------

/// ProcessStreamed on one member, read on a thread of its own: records when each counter value first showed.
class watcher {
public:
  watcher(const std::shared_ptr<grpc::Channel>& channel, const std::string& entity, std::chrono::seconds lifetime)
      : stub_(cr::CrdtTckModel::NewStub(channel)) {
    ctx_.set_deadline(std::chrono::system_clock::now() + lifetime);
    cr::StreamedRequest request;
    request.set_id(entity);
    reader_ = stub_->ProcessStreamed(&ctx_, request);
    thread_ = std::thread{[this] {
      cr::Response r;
      while (reader_->Read(&r)) {
        auto now = clock_type::now();
        auto value = r.state().gcounter().value();
        std::lock_guard<std::mutex> guard{mtx_};
        while (first_seen_.size() <= value)
          first_seen_.push_back(now);
        ++responses_;
        cv_.notify_all();
      }
      std::lock_guard<std::mutex> guard{mtx_};
      ended_ = true;
      cv_.notify_all();
    }};
  }
  ~watcher() {
    ctx_.TryCancel();
    thread_.join();
  }
  watcher(const watcher&) = delete;
  watcher& operator=(const watcher&) = delete;

  /// Waits until a streamed value ≥ `value` arrived (and at least one response), at most `within`.
  bool wait_for(uint64_t value, std::chrono::milliseconds within) {
    std::unique_lock<std::mutex> lock{mtx_};
    return cv_.wait_for(lock, within, [&] { return (responses_ > 0 && first_seen_.size() > value) || ended_; }) &&
           responses_ > 0 && first_seen_.size() > value;
  }
  /// When value `v` first showed, if it did.
  bool seen(uint64_t v, clock_type::time_point& at) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (v >= first_seen_.size())
      return false;
    at = first_seen_[v];
    return true;
  }
  uint64_t responses() {
    std::lock_guard<std::mutex> guard{mtx_};
    return responses_;
  }

private:
  std::unique_ptr<cr::CrdtTckModel::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<cr::Response>> reader_;
  std::thread thread_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<clock_type::time_point> first_seen_;  // [v]: when a value ≥ v first arrived
  uint64_t responses_ = 0;
  bool ended_ = false;
};

/// The counter's value on a member (a Process without actions), or -1.
int64_t read_counter(cr::CrdtTckModel::Stub& stub, const std::string& entity) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  cr::Request request;
  request.set_id(entity);
  cr::Response response;
  if (!stub.Process(&ctx, request, &response).ok())
    return -1;
  return static_cast<int64_t>(response.state().gcounter().value());
}

int converge_main(const std::string& source, const std::string& watch, const std::string& entity, double rate,
                  int seconds, int settle, uint64_t max_updates, bool json) {
  auto source_channel = connect(source, 0, 30);
  if (!source_channel)
    return 2;
  auto stub = cr::CrdtTckModel::NewStub(source_channel);
  auto lifetime = std::chrono::seconds{seconds + settle + 120};
  std::vector<std::unique_ptr<watcher>> watchers;
  for (const auto& target : split(watch)) {
    auto channel = connect(target, 1, 30);
    if (!channel)
      return 2;
    watchers.push_back(std::make_unique<watcher>(channel, entity, lifetime));
  }
  // Warm-up: one increment through the source must show on every watcher (the replication links are up), bounded.
  auto base = read_counter(*stub, entity);
  if (base < 0) {
    std::fprintf(stderr, "crdt_bench converge: cannot read %s on %s\n", entity.c_str(), source.c_str());
    return 1;
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    cr::Response response;
    if (!stub->Process(&ctx, update_request(update_kind::gcounter, entity, {}), &response).ok()) {
      std::fprintf(stderr, "crdt_bench converge: the warm-up increment failed\n");
      return 1;
    }
    base = static_cast<int64_t>(response.state().gcounter().value());
  }
  for (size_t w = 0; w < watchers.size(); ++w)
    if (!watchers[w]->wait_for(static_cast<uint64_t>(base), 30s)) {
      std::fprintf(stderr, "crdt_bench converge: the warm-up increment did not show on watcher %zu in 30 s\n", w + 1);
      return 1;
    }
  std::fprintf(stderr, "crdt_bench converge: warm-up seen on every watcher (value %lld); %.0f updates/s for %d s\n",
               static_cast<long long>(base), rate, seconds);

  // The updates: update i (1-based) brings the counter to base + i.
  auto updates = std::min<uint64_t>(max_updates, static_cast<uint64_t>(rate * seconds));
  std::vector<clock_type::time_point> sent(updates);
  std::vector<double> ack_ms;
  std::mutex mtx;
  std::condition_variable cv;
  uint64_t answered = 0;
  uint64_t errors = 0;
  std::string last_error;
  struct call {
    grpc::ClientContext ctx;
    cr::Request request;
    cr::Response response;
  };
  std::vector<std::unique_ptr<call>> calls(updates);
  auto t0 = clock_type::now();
  auto interval = std::chrono::duration<double>(1.0 / rate);
  for (uint64_t i = 0; i < updates; ++i) {
    auto due = t0 + std::chrono::duration_cast<clock_type::duration>(interval * static_cast<double>(i));
    std::this_thread::sleep_until(due);
    auto& c = calls[i];
    c = std::make_unique<call>();
    c->ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    c->request = update_request(update_kind::gcounter, entity, {});
    sent[i] = clock_type::now();
    stub->async()->Process(&c->ctx, &c->request, &c->response, [&, i](grpc::Status status) {
      auto ms = bench::micros_since(sent[i]) / 1000.0;
      std::lock_guard<std::mutex> guard{mtx};
      if (status.ok()) {
        ack_ms.push_back(ms);
      } else {
        ++errors;
        last_error = status.error_message();
      }
      ++answered;
      cv.notify_all();
    });
  }
  auto send_seconds = bench::seconds_since(t0);
  {
    std::unique_lock<std::mutex> lock{mtx};
    cv.wait_for(lock, 30s, [&] { return answered == updates; });
    if (answered != updates) {
      std::fprintf(stderr, "crdt_bench converge: %llu of %llu calls unanswered after 30 s\n",
                   static_cast<unsigned long long>(updates - answered), static_cast<unsigned long long>(updates));
      // The calls still pending use this frame: leave without unwinding it.
      std::fflush(stderr);
      std::_Exit(1);
    }
  }
  if (errors > 0)
    std::fprintf(stderr, "crdt_bench converge: %llu failed updates, e.g.: %s\n",
                 static_cast<unsigned long long>(errors), last_error.c_str());
  auto final_value = static_cast<uint64_t>(base) + updates;
  for (auto& w : watchers)
    (void)w->wait_for(final_value, std::chrono::seconds{settle});

  std::vector<double> lat;
  std::vector<double> per_watcher_max(watchers.size(), 0);
  uint64_t missing = 0;
  for (size_t w = 0; w < watchers.size(); ++w)
    for (uint64_t i = 0; i < updates; ++i) {
      clock_type::time_point at;
      if (!watchers[w]->seen(static_cast<uint64_t>(base) + i + 1, at)) {
        ++missing;
        continue;
      }
      auto ms = std::max(0.0, std::chrono::duration<double, std::milli>(at - sent[i]).count());
      lat.push_back(ms);
      per_watcher_max[w] = std::max(per_watcher_max[w], ms);
    }
  uint64_t responses = 0;
  for (auto& w : watchers)
    responses += w->responses();
  double p50 = bench::percentile(lat, 0.50);
  double p99 = bench::percentile(lat, 0.99);
  double max = lat.empty() ? 0 : lat.back();
  double ack_p50 = bench::percentile(ack_ms, 0.50);
  double ack_p99 = bench::percentile(ack_ms, 0.99);
  if (json) {
    bench::record{}
        .add("bench", "crdt_converge")
        .add("updates", updates)
        .add("watchers", uint64_t{watchers.size()})
        .add("rate", static_cast<double>(updates) / send_seconds)
        .add("p50_ms", p50)
        .add("p99_ms", p99)
        .add("max_ms", max)
        .add("missing", missing)
        .add("stream_responses", responses)
        .add("ack_p50_ms", ack_p50)
        .add("ack_p99_ms", ack_p99)
        .add("errors", errors)
        .print();
  } else {
    std::printf(
        "| updates | watchers | p50 ms | p99 ms | max ms | missing | ack p50 ms | ack p99 ms | errors |\n"
        "|---|---|---|---|---|---|---|---|---|\n| %llu | %zu | %.1f | %.1f | %.1f | %llu | %.1f | %.1f | %llu |\n",
        static_cast<unsigned long long>(updates), watchers.size(), p50, p99, max,
        static_cast<unsigned long long>(missing), ack_p50, ack_p99, static_cast<unsigned long long>(errors));
  }
  return missing == 0 && errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CRDT benchmarks (issue 15): native GCounter increments, gRPC load, convergence across members"};
  app.require_subcommand(1);
  bool json = false;
  int seconds = 3;
  std::string prefix = "bench-";
  size_t entities = 1000;

  auto* native = app.add_subcommand("native", "GCounter increments through node::invoke on a durable store");
  std::string store;
  std::vector<size_t> clients{1, 32, 256};
  uint64_t max_commands = 5'000'000;
  native->add_option("--store", store, "Store URI (default sqlite: in a fresh temporary directory)");
  native->add_option("--clients", clients)->delimiter(',')->capture_default_str()->check(CLI::Range(1, 10000));
  native->add_option("--entities", entities)->capture_default_str()->check(CLI::Range(1, 100000000));
  native->add_option("--entity-prefix", prefix)->capture_default_str();
  native->add_option("--seconds", seconds)->capture_default_str()->check(CLI::Range(1, 600));
  native->add_option("--max-commands", max_commands)->capture_default_str();
  native->add_flag("--json", json);

  auto* load = app.add_subcommand("load", "closed-loop Process calls with one update each over gRPC");
  std::string target = "127.0.0.1:9000";
  std::string update = "gcounter";
  std::vector<size_t> concurrency{1, 32, 256};
  uint64_t max_calls = 5'000'000;
  size_t channels = 4;
  std::string tag = "e";
  load->add_option("--target", target)->capture_default_str();
  load->add_option("--update", update)->capture_default_str()->check(CLI::IsMember({"gcounter", "orset"}));
  load->add_option("--concurrency", concurrency)->delimiter(',')->capture_default_str()->check(CLI::Range(1, 10000));
  load->add_option("--entities", entities)->capture_default_str()->check(CLI::Range(1, 100000000));
  load->add_option("--entity-prefix", prefix)->capture_default_str();
  load->add_option("--seconds", seconds)->capture_default_str()->check(CLI::Range(1, 600));
  load->add_option("--element-tag", tag, "ORSet elements are TAG<caller>-<n>")->capture_default_str();
  load->add_option("--max-calls", max_calls)->capture_default_str();
  load->add_option("--channels", channels)->capture_default_str()->check(CLI::Range(1, 64));
  load->add_flag("--json", json);

  auto* converge = app.add_subcommand("converge", "update one member at a steady rate, watch the others");
  std::string source;
  std::string watch;
  std::string entity = "GCounter-converge";
  double rate = 200;
  int settle = 10;
  uint64_t max_updates = 100'000;
  converge->add_option("--source", source, "HOST:PORT of the member that takes the updates")->required();
  converge->add_option("--watch", watch, "HOST:PORT of the watching members, comma-separated")->required();
  converge->add_option("--entity", entity, "A GCounter's entity id")->capture_default_str();
  converge->add_option("--rate", rate, "Updates per second")->capture_default_str()->check(CLI::Range(1.0, 100000.0));
  converge->add_option("--seconds", seconds)->capture_default_str()->check(CLI::Range(1, 600));
  converge->add_option("--settle", settle, "Seconds to wait for the last updates to show")->capture_default_str();
  converge->add_option("--max-updates", max_updates)->capture_default_str();
  converge->add_flag("--json", json);

  CLI11_PARSE(app, argc, argv);
  if (native->parsed())
    return native_main(store, clients, entities, prefix, seconds, max_commands, json);
  if (load->parsed())
    return load_main(target, update, concurrency, entities, prefix, tag, seconds, max_calls, channels, json);
  if (entity.rfind("GCounter-", 0) != 0) {
    std::fprintf(stderr, "--entity must name a GCounter (GCounter-...)\n");
    return 2;
  }
  return converge_main(source, watch, entity, rate, seconds, settle, max_updates, json);
}
