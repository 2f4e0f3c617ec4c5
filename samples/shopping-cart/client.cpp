// A command-line client for the shopping cart, for the README's session and for scripts:
//   shopping-cart-client [--server HOST:PORT] add USER PRODUCT NAME QUANTITY
//   shopping-cart-client [--server HOST:PORT] remove USER PRODUCT
//   shopping-cart-client [--server HOST:PORT] get USER
// Prints the cart (one "product_id name quantity" line per item) or "ok"; on failure prints the gRPC status and
// exits with 1.
#include <iostream>

#include <grpcpp/grpcpp.h>
#include <CLI/CLI.hpp>

#include "shoppingcart/shoppingcart.grpc.pb.h"

namespace api = com::example::shoppingcart;

namespace {

int report(const grpc::Status& status) {
  if (status.ok())
    return 0;
  std::cerr << "error: " << status.error_code() << " " << status.error_message() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"shopping cart client"};
  std::string server = "127.0.0.1:9000";
  app.add_option("--server", server, "host:port of the shopping cart node")->capture_default_str();
  app.require_subcommand(1);
  std::string user, product, name;
  int quantity = 1;
  auto* add = app.add_subcommand("add", "add QUANTITY of PRODUCT (called NAME) to USER's cart");
  add->add_option("user", user)->required();
  add->add_option("product", product)->required();
  add->add_option("name", name)->required();
  add->add_option("quantity", quantity)->required();
  auto* remove = app.add_subcommand("remove", "remove PRODUCT from USER's cart");
  remove->add_option("user", user)->required();
  remove->add_option("product", product)->required();
  auto* get = app.add_subcommand("get", "print USER's cart");
  get->add_option("user", user)->required();
  CLI11_PARSE(app, argc, argv);

  auto stub = api::ShoppingCart::NewStub(grpc::CreateChannel(server, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds{30});
  if (add->parsed()) {
    api::AddLineItem req;
    req.set_user_id(user);
    req.set_product_id(product);
    req.set_name(name);
    req.set_quantity(quantity);
    google::protobuf::Empty rep;
    auto status = stub->AddItem(&ctx, req, &rep);
    if (status.ok())
      std::cout << "ok\n";
    return report(status);
  }
  if (remove->parsed()) {
    api::RemoveLineItem req;
    req.set_user_id(user);
    req.set_product_id(product);
    google::protobuf::Empty rep;
    auto status = stub->RemoveItem(&ctx, req, &rep);
    if (status.ok())
      std::cout << "ok\n";
    return report(status);
  }
  api::GetShoppingCart req;
  req.set_user_id(user);
  api::Cart cart;
  auto status = stub->GetCart(&ctx, req, &cart);
  if (status.ok()) {
    if (cart.items().empty())
      std::cout << "(empty cart)\n";
    for (const auto& item : cart.items())
      std::cout << item.product_id() << " " << item.name() << " " << item.quantity() << "\n";
  }
  return report(status);
}
