#include "fixture.hpp"

#include <signal.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include <google/protobuf/util/message_differencer.h>

#include "cloudstate/action.pb.h"
#include "cloudstate/crdt.pb.h"
#include "cloudstate/event_sourced.pb.h"
#include "cloudstate/value_entity.pb.h"
#include "node_process.hpp"

namespace tck_proxy {

namespace it = actorstate::it;

namespace {

std::unique_ptr<fixture>& instance() {
  static std::unique_ptr<fixture> f;
  return f;
}

std::string& start_error() {
  static std::string error;
  return error;
}

std::string tail(const std::string& text, size_t bytes = 3000) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

}  // namespace

// tck-model (spawned here: it has no `--user-function` flag) and the proxy (an it::node_process).
struct fixture::processes {
  it::temp_dir dir{"actorstate-tck-proxy"};
  pid_t model_pid = -1;
  std::unique_ptr<it::node_process> proxy;

  it::fs::path model_log() const { return dir.path() / "tck-model.log"; }

  uint16_t start_model() {
    auto port_file = dir.path() / "tck-model.port";
    model_pid = it::spawn_process(
        {ACTORSTATE_TCK_MODEL, "--host", "127.0.0.1", "--port", "0", "--port-file", port_file.string()}, {},
        model_log(), {"HOST", "PORT"});
    std::optional<int> exited;
    unsigned long port = 0;
    it::wait_until(
        [&] {
          if ((exited = it::wait_for_exit(model_pid, 0ms)))
            return true;
          port = std::strtoul(it::read_file(port_file).c_str(), nullptr, 10);
          return port > 0 && port <= 65535;
        },
        20s);
    if (exited) {
      model_pid = -1;
      throw std::runtime_error("tck-model exited with code " + std::to_string(*exited) + "\n" +
                               tail(it::read_file(model_log())));
    }
    if (port == 0 || port > 65535)
      throw std::runtime_error("tck-model wrote no port file within 20 s\n" + tail(it::read_file(model_log())));
    return static_cast<uint16_t>(port);
  }

  ~processes() {
    proxy.reset();  // SIGKILL and reap
    if (model_pid > 0) {
      ::kill(model_pid, SIGTERM);
      if (!it::wait_for_exit(model_pid, 5s)) {
        ::kill(model_pid, SIGKILL);
        it::wait_for_exit(model_pid, 5s);
      }
    }
  }
};

fixture& fixture::get() {
  if (!instance() && start_error().empty()) {
    std::unique_ptr<fixture> f{new fixture};
    try {
      f->start();
      instance() = std::move(f);
    } catch (const std::exception& e) {
      start_error() = e.what();
    }
  }
  // Processes that did not start fail every test at once instead of each waiting for them again.
  REQUIRE_MESSAGE(instance() != nullptr, "the TCK proxy fixture is not available: " << start_error());
  return *instance();
}

fixture& fixture::scenario() {
  auto& f = get();
  f.intercepted().unclaimed();
  return f;
}

void fixture::shutdown() {
  instance().reset();
}

fixture::~fixture() {
  // The proxy goes first (it is the interceptor's client), then the interceptor, then the user function.
  event_sourced_.reset();
  event_sourced_two_.reset();
  event_sourced_configured_.reset();
  value_entity_.reset();
  value_entity_configured_.reset();
  action_.reset();
  crdt_.reset();
  crdt_two_.reset();
  crdt_configured_.reset();
  proxy_channel_.reset();
  if (processes_)
    processes_->proxy.reset();
  interceptor_.reset();
  processes_.reset();
}

void fixture::start() {
  processes_ = std::make_unique<processes>();
  uint16_t model_port = processes_->start_model();
  interceptor_ = std::make_unique<interceptor>("127.0.0.1:" + std::to_string(model_port));
  processes_->proxy = std::make_unique<it::node_process>(
      ACTORSTATE_PROXY, processes_->dir.path() / "proxy",
      std::vector<std::string>{"--store", "memory", "--user-function-host", "127.0.0.1", "--user-function-port",
                               std::to_string(interceptor_->port()), "--passivation-timeout", "4s",
                               "--discovery-backoff-min", "100ms", "--discovery-backoff-max", "1s"});
  try {
    processes_->proxy->start(30s);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string{e.what()} + "\n--- tck-model log ---\n" +
                             tail(it::read_file(processes_->model_log())));
  }
  proxy_channel_ = grpc::CreateChannel(processes_->proxy->target(), grpc::InsecureChannelCredentials());
  event_sourced_ = cloudstate::tck::model::EventSourcedTckModel::NewStub(proxy_channel_);
  event_sourced_two_ = cloudstate::tck::model::EventSourcedTwo::NewStub(proxy_channel_);
  event_sourced_configured_ = cloudstate::tck::model::EventSourcedConfigured::NewStub(proxy_channel_);
  value_entity_ = cloudstate::tck::model::valueentity::ValueEntityTckModel::NewStub(proxy_channel_);
  value_entity_configured_ = cloudstate::tck::model::valueentity::ValueEntityConfigured::NewStub(proxy_channel_);
  action_ = cloudstate::tck::model::action::ActionTckModel::NewStub(proxy_channel_);
  crdt_ = cloudstate::tck::model::crdt::CrdtTckModel::NewStub(proxy_channel_);
  crdt_two_ = cloudstate::tck::model::crdt::CrdtTwo::NewStub(proxy_channel_);
  crdt_configured_ = cloudstate::tck::model::crdt::CrdtConfigured::NewStub(proxy_channel_);
}

uint16_t fixture::proxy_port() const {
  return processes_ && processes_->proxy ? processes_->proxy->port() : 0;
}

std::string fixture::diagnostics() {
  std::string text = "--- intercepted ---\n" + interceptor_->dump();
  if (processes_ && processes_->proxy)
    text += "--- proxy log (tail) ---\n" + processes_->proxy->log_tail(3000);
  if (processes_)
    text += "--- tck-model log (tail) ---\n" + tail(it::read_file(processes_->model_log()));
  return text;
}

std::unique_ptr<grpc::ClientContext> client_context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + call_timeout);
  return ctx;
}

void check_failure(const grpc::Status& status, const std::string& description) {
  CHECK_MESSAGE(status.error_code() == grpc::StatusCode::UNKNOWN,
                "status " << status.error_code() << " " << status.error_message());
  CHECK(status.error_message() == description);
}

connection connection::entity(protocol kind, const std::string& service, const std::string& entity_id) {
  auto matches = [&](const google::protobuf::Message& first) {
    if (kind == protocol::event_sourced) {
      const auto* in = dynamic_cast<const cloudstate::eventsourced::EventSourcedStreamIn*>(&first);
      return in != nullptr && in->has_init() && in->init().service_name() == service &&
             in->init().entity_id() == entity_id;
    }
    if (kind == protocol::crdt) {
      const auto* in = dynamic_cast<const cloudstate::crdt::CrdtStreamIn*>(&first);
      return in != nullptr && in->has_init() && in->init().service_name() == service &&
             in->init().entity_id() == entity_id;
    }
    const auto* in = dynamic_cast<const cloudstate::valueentity::ValueEntityStreamIn*>(&first);
    return in != nullptr && in->has_init() && in->init().service_name() == service &&
           in->init().entity_id() == entity_id;
  };
  auto call = fixture::get().intercepted().claim(kind, matches, message_timeout);
  CHECK_MESSAGE(call != nullptr,
                "no " << protocol_name(kind) << " stream was opened for " << service << " " << entity_id);
  return connection{std::move(call)};
}

connection connection::action(const std::string& service, const std::string& name) {
  auto matches = [&](const google::protobuf::Message& first) {
    const auto* in = dynamic_cast<const cloudstate::action::ActionCommand*>(&first);
    return in != nullptr && in->service_name() == service && in->name() == name;
  };
  auto call = fixture::get().intercepted().claim(protocol::action, matches, message_timeout);
  CHECK_MESSAGE(call != nullptr, "no action call of " << service << "/" << name << " was intercepted");
  return connection{std::move(call)};
}

std::unique_ptr<google::protobuf::Message> connection::next_in() {
  if (!call_)
    return nullptr;
  auto msg = fixture::get().intercepted().message(call_, direction::in, in_, message_timeout);
  CHECK_MESSAGE(msg != nullptr, "no message #" << in_ + 1 << " from the proxy to the user function");
  if (msg)
    ++in_;
  return msg;
}

std::unique_ptr<google::protobuf::Message> connection::next_out() {
  if (!call_)
    return nullptr;
  auto msg = fixture::get().intercepted().message(call_, direction::out, out_, message_timeout);
  CHECK_MESSAGE(msg != nullptr, "no message #" << out_ + 1 << " from the user function to the proxy");
  if (msg)
    ++out_;
  return msg;
}

connection& connection::expect_in(const google::protobuf::Message& expected) {
  if (auto msg = next_in())
    check_equal(*msg, expected);
  return *this;
}

connection& connection::expect_out(const google::protobuf::Message& expected) {
  if (auto msg = next_out())
    check_equal(*msg, expected);
  return *this;
}

connection& connection::expect_in_complete() {
  if (!call_)
    return *this;
  auto& ic = fixture::get().intercepted();
  if (!ic.wait_in_closed(call_, message_timeout)) {
    CHECK_MESSAGE(false, "the proxy did not complete its side within " << message_timeout.count() << " s");
    return *this;
  }
  CHECK_MESSAGE(call_->in_completed, "the proxy's side ended without a half-close (cancelled or cut off)");
  CHECK_MESSAGE(ic.count(call_, direction::in) == in_, "more messages from the proxy before its completion");
  return *this;
}

connection& connection::expect_out_complete() {
  if (!call_)
    return *this;
  auto& ic = fixture::get().intercepted();
  if (!ic.wait_finished(call_, message_timeout)) {
    CHECK_MESSAGE(false, "the user function did not complete within " << message_timeout.count() << " s");
    return *this;
  }
  CHECK_MESSAGE(call_->status.ok(),
                "the call ended with " << call_->status.error_code() << " " << call_->status.error_message());
  CHECK_MESSAGE(ic.count(call_, direction::out) == out_, "more messages from the user function before its completion");
  return *this;
}

connection& connection::expect_complete() {
  return expect_in_complete().expect_out_complete();
}

connection& connection::expect_closed(std::chrono::milliseconds timeout) {
  if (call_)
    CHECK_MESSAGE(fixture::get().intercepted().wait_finished(call_, timeout),
                  "the stream was not closed within " << timeout.count() << " ms");
  return *this;
}

void connection::expect_no_more() {
  if (!call_)
    return;
  std::this_thread::sleep_for(20ms);
  auto& ic = fixture::get().intercepted();
  CHECK_MESSAGE(ic.count(call_, direction::in) == in_, "unexpected messages from the proxy");
  CHECK_MESSAGE(ic.count(call_, direction::out) == out_, "unexpected messages from the user function");
}

void check_no_more_interactions() {
  std::this_thread::sleep_for(20ms);
  auto unclaimed = fixture::get().intercepted().unclaimed();
  std::string text;
  for (const auto& c : unclaimed)
    text += c;
  CHECK_MESSAGE(unclaimed.empty(), "unexpected intercepted calls:\n" << text);
}

}  // namespace tck_proxy
