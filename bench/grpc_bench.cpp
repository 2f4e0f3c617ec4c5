// The client port over gRPC: closed-loop callers (each waits for its reply before the next call) drive a running
// shopping-cart node at --target, with `GetCart` (the transport and actor path without a disk write) and
// `AddItem` (one durable event per call) over 1000 carts. Calls are asynchronous (gRPC's callback API), spread over
// a few channels so that HTTP/2 connections are not the bottleneck. Prints one table row per scenario.
//   grpc_bench --target 127.0.0.1:9000 [--seconds 5] [--concurrency 1,32,256]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>

#include "shoppingcart/shoppingcart.grpc.pb.h"

namespace {

namespace api = com::example::shoppingcart;
using clock_type = std::chrono::steady_clock;

struct result {
  double rate = 0;
  double p50_us = 0;
  double p99_us = 0;
  uint64_t errors = 0;
};

/// One closed-loop caller: issues its next call from the previous one's completion until the deadline.
struct caller {
  api::ShoppingCart::Stub* stub = nullptr;
  bool write = false;
  size_t index = 0;
  uint64_t n = 0;
  clock_type::time_point deadline;
  std::vector<double> latencies;
  uint64_t errors = 0;
  std::function<void()> done;

  // Per call.
  std::unique_ptr<grpc::ClientContext> ctx;
  api::AddLineItem add;
  api::GetShoppingCart get;
  google::protobuf::Empty empty;
  api::Cart cart;
  clock_type::time_point start;

  void next() {
    if (clock_type::now() >= deadline) {
      done();
      return;
    }
    ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{10});
    auto user = "bench-" + std::to_string((index * 7919 + n++) % 1000);
    start = clock_type::now();
    auto on_reply = [this](grpc::Status status) {
      if (status.ok())
        latencies.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - start).count());
      else
        ++errors;
      next();
    };
    if (write) {
      add.set_user_id(user);
      add.set_product_id("p" + std::to_string(n));
      add.set_name("bench");
      add.set_quantity(1);
      stub->async()->AddItem(ctx.get(), &add, &empty, on_reply);
    } else {
      get.set_user_id(user);
      stub->async()->GetCart(ctx.get(), &get, &cart, on_reply);
    }
  }
};

result run(std::vector<std::unique_ptr<api::ShoppingCart::Stub>>& stubs, size_t concurrency, bool write,
           std::chrono::seconds duration) {
  std::mutex mtx;
  std::condition_variable cv;
  size_t finished = 0;
  std::vector<std::unique_ptr<caller>> callers;
  auto begin = clock_type::now();
  for (size_t i = 0; i < concurrency; ++i) {
    auto c = std::make_unique<caller>();
    c->stub = stubs[i % stubs.size()].get();
    c->write = write;
    c->index = i;
    c->deadline = begin + duration;
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
  auto elapsed = std::chrono::duration<double>(clock_type::now() - begin).count();
  std::vector<double> all;
  result r;
  for (auto& c : callers) {
    all.insert(all.end(), c->latencies.begin(), c->latencies.end());
    r.errors += c->errors;
  }
  std::sort(all.begin(), all.end());
  r.rate = static_cast<double>(all.size()) / elapsed;
  if (!all.empty()) {
    r.p50_us = all[all.size() / 2];
    r.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gRPC client-port benchmark against a running shopping-cart node"};
  std::string target = "127.0.0.1:9000";
  int seconds = 5;
  std::vector<size_t> concurrency{1, 32, 256};
  size_t channels = 4;
  app.add_option("--target", target)->capture_default_str();
  app.add_option("--seconds", seconds)->capture_default_str()->check(CLI::Range(1, 120));
  app.add_option("--concurrency", concurrency)->delimiter(',')->capture_default_str();
  app.add_option("--channels", channels)->capture_default_str()->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);

  std::vector<std::unique_ptr<api::ShoppingCart::Stub>> stubs;
  for (size_t i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", static_cast<int>(i));  // distinct channels, distinct connections
    stubs.push_back(
        api::ShoppingCart::NewStub(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  std::printf("| call | callers | calls/s | p50 µs | p99 µs | errors |\n|---|---|---|---|---|---|\n");
  for (bool write : {false, true}) {
    for (auto c : concurrency) {
      auto r = run(stubs, c, write, std::chrono::seconds{seconds});
      std::printf("| %s | %zu | %.0f | %.0f | %.0f | %llu |\n", write ? "AddItem" : "GetCart", c, r.rate, r.p50_us,
                  r.p99_us, static_cast<unsigned long long>(r.errors));
      std::fflush(stdout);
    }
  }
  return 0;
}
