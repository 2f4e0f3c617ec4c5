#include "sample_main.hpp"

#include <cstdlib>
#include <iostream>
#include <string_view>

#include <CLI/CLI.hpp>

#include <actorstate/node.hpp>
#include <actorstate/user_function.hpp>

namespace samples {

namespace {

// The exit code of a sample that could not start (the failure is logged already): 2, the code the node programs
// have always used for it and that scripts and supervisors check.
constexpr int startup_failed = 2;

bool on_command_line(int argc, char** argv, std::string_view flag) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg == flag || (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag && arg[flag.size()] == '='))
      return true;
  }
  return false;
}

// User-function mode follows the Cloudstate convention (HOST and PORT, default 127.0.0.1:8080); only an explicit
// --port wins over PORT, because --port's own default and HTTP_PORT describe the node's client port.
int run_user_function(const actorstate::node_options& node_opts, int argc, char** argv, const std::string& name,
                      const model_list& models) {
  actorstate::user_function_options opts;
  if (const char* host = std::getenv("HOST"); host != nullptr && *host != '\0')
    opts.host = host;
  if (on_command_line(argc, argv, "--port")) {
    opts.port = node_opts.port;
  } else if (const char* port = std::getenv("PORT"); port != nullptr && *port != '\0') {
    char* end = nullptr;
    auto value = std::strtoul(port, &end, 10);
    if (*end != '\0' || value > 65535) {
      std::cerr << "PORT is not a port number: " << port << "\n";
      return startup_failed;
    }
    opts.port = static_cast<uint16_t>(value);
  }
  opts.port_file = node_opts.port_file;
  opts.service_name = name;
  opts.drain_timeout = node_opts.drain_timeout;
  opts.max_message_size = node_opts.max_message_size;
  opts.log_level = node_opts.log_level;
  actorstate::user_function_server server{opts};
  for (const auto& model : models)
    if (!server.add_model(model).ok())
      return startup_failed;
  return server.run().ok() ? 0 : startup_failed;
}

}  // namespace

int sample_main(int argc, char** argv, const std::string& description, const std::string& name,
                const std::function<model_list()>& make_models) {
  CLI::App app{description};
  actorstate::node_options opts;
  actorstate::node_flags flags{app, opts};
  bool user_function = false;
  app.add_flag("--user-function", user_function,
               "Serve the entities as a Cloudstate user function on $HOST:$PORT (default 127.0.0.1:8080; an explicit "
               "--port overrides PORT) instead of running a node")
      ->envname("ACTORSTATE_USER_FUNCTION");
  try {
    app.parse(argc, argv);
    flags.apply(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto models = make_models();
  if (user_function)
    return run_user_function(opts, argc, argv, name, models);
  actorstate::node node{opts};
  for (const auto& model : models)
    if (!node.add_model(model).ok())
      return startup_failed;
  return node.run().ok() ? 0 : startup_failed;
}

}  // namespace samples
