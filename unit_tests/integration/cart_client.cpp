#include "cart_client.hpp"

#include <future>
#include <set>
#include <sstream>

#include <grpcpp/generic/generic_stub.h>

#include "node_process.hpp"

namespace actorstate::it {

const char* shopping_cart_binary() {
  return ACTORSTATE_IT_SHOPPING_CART;
}

const char* shopping_cart_client_binary() {
  return ACTORSTATE_IT_SHOPPING_CART_CLIENT;
}

const char* proxy_binary() {
  return ACTORSTATE_IT_PROXY;
}

const char* counter_binary() {
  return ACTORSTATE_IT_COUNTER;
}

const char* tck_model_binary() {
  return ACTORSTATE_IT_TCK_MODEL;
}

namespace {

void set_deadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() + call_deadline);
}

}  // namespace

std::unique_ptr<cart_api::ShoppingCart::Stub> make_cart_stub(const std::string& target) {
  return cart_api::ShoppingCart::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

grpc::Status add_item(cart_api::ShoppingCart::Stub& stub, const std::string& user, const std::string& product,
                      const std::string& name, int quantity) {
  grpc::ClientContext ctx;
  set_deadline(ctx);
  cart_api::AddLineItem req;
  req.set_user_id(user);
  req.set_product_id(product);
  req.set_name(name);
  req.set_quantity(quantity);
  google::protobuf::Empty rep;
  return stub.AddItem(&ctx, req, &rep);
}

grpc::Status remove_item(cart_api::ShoppingCart::Stub& stub, const std::string& user, const std::string& product) {
  grpc::ClientContext ctx;
  set_deadline(ctx);
  cart_api::RemoveLineItem req;
  req.set_user_id(user);
  req.set_product_id(product);
  google::protobuf::Empty rep;
  return stub.RemoveItem(&ctx, req, &rep);
}

grpc::Status get_cart(cart_api::ShoppingCart::Stub& stub, const std::string& user, cart_api::Cart& cart) {
  grpc::ClientContext ctx;
  set_deadline(ctx);
  cart_api::GetShoppingCart req;
  req.set_user_id(user);
  cart.Clear();
  return stub.GetCart(&ctx, req, &cart);
}

std::string describe(const cart_api::Cart& cart) {
  std::string out;
  for (const auto& item : cart.items()) {
    if (!out.empty())
      out += "; ";
    out += item.product_id() + " " + item.name() + " " + std::to_string(item.quantity());
  }
  return out;
}

cart_load::cart_load(const std::string& target, std::vector<std::string> users, int threads, std::string tag)
    : channel_(grpc::CreateChannel(target, grpc::InsecureChannelCredentials())),
      users_(std::move(users)),
      tag_(std::move(tag)) {
  running_ = threads;
  for (int t = 0; t < threads; ++t)
    threads_.emplace_back([this, t] { run(t); });
}

cart_load::~cart_load() {
  stop();
}

void cart_load::run(int index) {
  auto stub = cart_api::ShoppingCart::NewStub(channel_);
  const auto& user = users_[static_cast<size_t>(index) % users_.size()];
  for (int n = 0; !stop_.load(); ++n) {
    auto product = tag_ + "-t" + std::to_string(index) + "-" + std::to_string(n);
    auto status = add_item(*stub, user, product, "item", 1);
    if (!status.ok()) {
      // The node is gone or going; whether this product was stored is unknown, so it is not recorded.
      failed_.fetch_add(1);
      std::lock_guard<std::mutex> guard{mtx_};
      ++failure_codes_[status.error_code()];
      failed_products_[user].emplace_back(product, status.error_code());
      if (first_failure_.empty())
        first_failure_ = std::to_string(status.error_code()) + " " + status.error_message();
      break;
    }
    {
      std::lock_guard<std::mutex> guard{mtx_};
      acked_[user].push_back(product);
    }
    acked_total_.fetch_add(1);
  }
  running_.fetch_sub(1);
}

bool cart_load::wait_for_acks(size_t count, std::chrono::milliseconds timeout) {
  return wait_until([&] { return acked_total_.load() >= count || running_.load() == 0; }, timeout, 2ms) &&
         acked_total_.load() >= count;
}

void cart_load::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
}

size_t cart_load::acknowledged_count() const {
  return acked_total_.load();
}

std::string cart_load::first_failure() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return first_failure_;
}

std::string cart_load::failure_codes() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::string out;
  for (const auto& [code, count] : failure_codes_)
    out += (out.empty() ? "" : " ") + std::string{"code "} + std::to_string(code) + " x" + std::to_string(count);
  return out;
}

durability_report check_durability(cart_api::ShoppingCart::Stub& stub,
                                   const std::map<std::string, std::vector<std::string>>& acked,
                                   const std::vector<std::string>& users) {
  durability_report report;
  auto note = [&](std::string problem) {
    if (report.problems.size() < 10)
      report.problems.push_back(std::move(problem));
  };
  for (const auto& user : users) {
    cart_api::Cart cart;
    auto status = get_cart(stub, user, cart);
    if (!status.ok()) {
      report.read_ok = false;
      note("GetCart(" + user + ") failed: " + std::to_string(status.error_code()) + " " + status.error_message());
      continue;
    }
    std::map<std::string, int> seen;  // product -> times listed
    for (const auto& item : cart.items()) {
      if (++seen[item.product_id()] > 1) {
        ++report.duplicated;
        note(user + ": " + item.product_id() + " listed twice");
      } else if (item.quantity() != 1) {
        ++report.duplicated;
        note(user + ": " + item.product_id() + " has quantity " + std::to_string(item.quantity()));
      }
    }
    std::set<std::string> expected;
    if (auto i = acked.find(user); i != acked.end())
      expected.insert(i->second.begin(), i->second.end());
    report.acknowledged += expected.size();
    for (const auto& product : expected)
      if (!seen.count(product)) {
        ++report.lost;
        note(user + ": acknowledged " + product + " is missing");
      }
    for (const auto& [product, times] : seen)
      if (!expected.count(product))
        ++report.unacknowledged;
  }
  return report;
}

std::string status_text(const grpc::Status& status) {
  return std::to_string(status.error_code()) + " " + status.error_message();
}

std::string cart_text(cart_api::ShoppingCart::Stub& stub, const std::string& user) {
  cart_api::Cart cart;
  auto status = get_cart(stub, user, cart);
  if (!status.ok())
    return "GetCart failed: " + status_text(status);
  return describe(cart);
}

// A unary call with raw request bytes: lets the test send what a generated stub never would.
grpc::Status raw_call(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                      const std::string& bytes) {
  grpc::GenericStub stub{channel};
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + call_deadline);
  grpc::Slice slice{bytes.data(), bytes.size()};
  grpc::ByteBuffer request{&slice, 1};
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions{}, &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  return done.get_future().get();  // bounded by the call deadline
}

std::string metric_sample(const char* family) {
  return std::string{family} + "{entity_type=\"" + cart_service + "\"}";
}

}  // namespace actorstate::it
