// The raw gRPC baseline of the proxy path: a callback-API unary server (actorstate.bench.Echo/Echo) that answers each
// request with its own payload and does nothing else. Driven by `grpc_load --call echo` with the same closed-loop
// callers, channels and concurrency as the proxy rows. Runs until SIGTERM/SIGINT or --max-seconds.
//   grpc_echo [--bind 127.0.0.1] [--port 0] [--port-file FILE] [--max-seconds 3600]
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>

#include "echo/echo.grpc.pb.h"

namespace {

class echo_service final : public actorstate::bench::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* ctx, const actorstate::bench::EchoMessage* request,
                                 actorstate::bench::EchoMessage* reply) override {
    reply->set_payload(request->payload());
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"raw gRPC unary echo server (the proxy path's baseline)"};
  std::string bind = "127.0.0.1";
  int port = 0;
  std::string port_file;
  int max_seconds = 3600;
  app.add_option("--bind", bind)->capture_default_str();
  app.add_option("--port", port)->capture_default_str()->check(CLI::Range(0, 65535));
  app.add_option("--port-file", port_file, "Write the bound port here once listening");
  app.add_option("--max-seconds", max_seconds, "Exit after this long at the latest")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // Signals are taken below with sigtimedwait: block them before gRPC creates its threads.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  echo_service service;
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(bind + ":" + std::to_string(port), grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || bound == 0) {
    std::fprintf(stderr, "grpc_echo: cannot listen on %s:%d\n", bind.c_str(), port);
    return 2;
  }
  if (!port_file.empty()) {
    auto tmp = port_file + ".tmp";
    std::ofstream{tmp} << bound << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  timespec timeout{static_cast<time_t>(max_seconds), 0};
  sigtimedwait(&set, nullptr, &timeout);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds{2});
  return 0;
}
