// Starts and stops a node through the installed headers and libraries; prints "consumer ok".
#include <cstdio>

#include <actorstate/entity.hpp>
#include <actorstate/node.hpp>

int main() {
  actorstate::node_options opts;
  opts.store = "memory";
  opts.port = 0;
  opts.management_port = 0;
  opts.bind = "127.0.0.1";
  actorstate::node node{opts};
  if (!node.start().ok())
    return 1;
  bool ok = node.port() != 0 && node.management_port() != 0;
  node.stop();
  ok = node.run().ok() && ok;
  std::puts(ok ? "consumer ok" : "consumer failed");
  return ok ? 0 : 1;
}
