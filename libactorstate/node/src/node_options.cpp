// Node flags. Precedence is flag > environment variable > config file > default: CLI11 applies the config file
// only to options absent from the command line; environment variables are applied afterwards to every option the
// command line did not set, so they override the file.
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include <CLI/CLI.hpp>

#include "actorstate/node.hpp"
#include "actorstate/ops/units.hpp"

namespace actorstate {

namespace {

// RFC 3986 percent-encoding of everything but unreserved characters, for user names, passwords and paths in a URI.
std::string percent_encoded(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : text) {
    if (std::isalnum(ch) != 0 || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 0xf];
    }
  }
  return out;
}

std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

// The Cloudstate convention: POSTGRES_SERVICE names the host; port, database and credentials have their own variables.
std::string postgres_uri_from_environment(const std::string& host) {
  auto user = env_or("POSTGRES_USERNAME", "");
  auto password = env_or("POSTGRES_PASSWORD", "");
  std::string uri = "postgres://";
  if (!user.empty() || !password.empty()) {
    uri += percent_encoded(user);
    if (!password.empty())
      uri += ":" + percent_encoded(password);
    uri += "@";
  }
  if (host.starts_with("/"))
    uri += percent_encoded(host);  // a Unix-socket directory
  else if (host.find(':') != std::string::npos && !host.starts_with("["))
    uri += "[" + host + "]";  // an IPv6 address
  else
    uri += host;
  return uri + ":" + env_or("POSTGRES_PORT", "5432") + "/" + percent_encoded(env_or("POSTGRES_DATABASE", "postgres"));
}

}  // namespace

std::string node_options::store_uri() const {
  if (!store.empty())
    return store;
  if (auto host = env_or("POSTGRES_SERVICE", ""); !host.empty())
    return postgres_uri_from_environment(host);
  return "sqlite:" + data_dir + "/actorstate.db";
}

namespace {

bool on_command_line(const CLI::Option* opt, int argc, char** argv) {
  for (const auto& name : opt->get_lnames()) {
    std::string flag = "--" + name;
    for (int i = 1; i < argc; ++i) {
      std::string_view arg{argv[i]};
      if (arg == flag || (arg.size() > flag.size() && arg.substr(0, flag.size() + 1) == flag + "="))
        return true;
    }
  }
  return false;
}

}  // namespace

node_flags::node_flags(CLI::App& app, node_options& o) : opts_(o) {
  auto flag = [&](const std::string& name, auto& target, const std::string& help, const char* env) {
    auto* opt = app.add_option(name, target, help + " (env " + env + ")")->capture_default_str();
    env_.emplace_back(opt, env);
    return opt;
  };
  app.set_config("--config", "", "Read settings from a TOML or INI file (keys are flag names without --)");
  flag("--port", o.port, "Client-facing port for gRPC, gRPC-web and HTTP/JSON; 0 picks a free one", "HTTP_PORT");
  flag("--bind", o.bind, "Address to listen on", "ACTORSTATE_BIND");
  flag("--management-port", o.management_port, "Port of /alive, /ready and /metrics; 0 picks a free one",
       "MANAGEMENT_PORT");
  flag("--port-file", o.port_file, "Write the client-facing port to this file once listening", "ACTORSTATE_PORT_FILE");
  flag("--data-dir", o.data_dir, "Directory of the embedded SQLite store", "ACTORSTATE_DATA_DIR");
  flag("--store", o.store,
       "memory | sqlite:PATH | postgres://USER@HOST:PORT/DB (default sqlite:<data-dir>/actorstate.db, or PostgreSQL "
       "when POSTGRES_SERVICE is set)",
       "ACTORSTATE_STORE");
  flag("--sqlite-synchronous", o.sqlite_synchronous, "SQLite synchronous pragma: FULL, NORMAL or OFF",
       "ACTORSTATE_SQLITE_SYNCHRONOUS")
      ->check(CLI::IsMember({"FULL", "NORMAL", "OFF"}));
  flag("--sqlite-quick-check", o.sqlite_quick_check,
       "Check the whole SQLite file at start-up (true/false); false starts faster on large stores",
       "ACTORSTATE_SQLITE_QUICK_CHECK");
  flag("--passivation-timeout", passivation_timeout_, "Idle time before an entity is passivated",
       "ACTORSTATE_PASSIVATION_TIMEOUT");
  flag("--max-active-entities", o.max_active_entities,
       "Most active instances per entity type; least recently used are passivated", "ACTORSTATE_MAX_ACTIVE_ENTITIES");
  flag("--shards", o.shards, "Shards: the unit of ownership; a stable hash of the entity id picks one", "ACTORSTATE_SHARDS")->check(CLI::Range(1u, 100000u));
  flag("--command-timeout", command_timeout_, "Commands not answered by then fail with DEADLINE_EXCEEDED",
       "ACTORSTATE_COMMAND_TIMEOUT");
  flag("--drain-timeout", drain_timeout_, "Longest wait at shutdown for in-flight commands, then for entities to stop",
       "ACTORSTATE_DRAIN_TIMEOUT");
  flag("--idempotency-retention", idempotency_retention_,
       "How long a command's idempotency-key is remembered, e.g. 24h (0: keys are ignored)",
       "ACTORSTATE_IDEMPOTENCY_RETENTION");
  flag("--max-message-size", max_message_size_, "Largest request or reply (e.g. 12MiB)", "ACTORSTATE_MAX_MESSAGE_SIZE");
  flag("--cors-allow-origin", o.cors_allow_origins,
       "Browser origin allowed to call over HTTP and gRPC-web (repeat, or comma-separated; * for any)",
       "ACTORSTATE_CORS_ALLOW_ORIGIN")
      ->delimiter(',');
  flag("--log-level", o.log_level, "debug, info, warn or error", "LOG_LEVEL")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  flag("--scheduler-threads", o.scheduler_threads, "Actor scheduler threads (0: one per core, at least 2)",
       "ACTORSTATE_SCHEDULER_THREADS");
  flag("--cluster", o.cluster,
       "Join the cluster of this name (members share the store: PostgreSQL, or one SQLite file on one host); empty: "
       "run alone",
       "ACTORSTATE_CLUSTER");
  flag("--cluster-port", o.cluster_port, "Node-to-node port of a cluster member; 0 picks a free one", "CLUSTER_PORT");
  flag("--advertise-host", o.advertise_host,
       "Address other members dial (default: --bind, or the host's address when that is 0.0.0.0)", "POD_IP");
  flag("--node-id", o.node_id, "This member's name (default: host name plus a random suffix)", "POD_NAME");
  flag("--failure-timeout", failure_timeout_,
       "A member that has not renewed its membership for this long is dead and its shards move",
       "ACTORSTATE_FAILURE_TIMEOUT");
}

namespace flags {

void apply_environment(const env_list& options, int argc, char** argv) {
  for (auto& [option, env] : options) {
    const char* value = std::getenv(env.c_str());
    if (value == nullptr || on_command_line(option, argc, argv))
      continue;
    option->clear();
    option->add_result(std::string{value});
    option->run_callback();
  }
}

std::chrono::milliseconds duration(const std::string& flag, const std::string& text) {
  auto d = ops::parse_duration(text);
  if (!d)
    throw CLI::ValidationError(flag, "not a duration (use e.g. 100ms, 30s, 2m): " + text);
  return *d;
}

}  // namespace flags

void node_flags::apply(int argc, char** argv) {
  flags::apply_environment(env_, argc, argv);
  using flags::duration;
  opts_.passivation_timeout = duration("--passivation-timeout", passivation_timeout_);
  opts_.command_timeout = duration("--command-timeout", command_timeout_);
  if (opts_.command_timeout.count() <= 0)
    throw CLI::ValidationError("--command-timeout",
                               "must be longer than 0 (every command would fail): " + command_timeout_);
  opts_.drain_timeout = duration("--drain-timeout", drain_timeout_);
  opts_.failure_timeout = duration("--failure-timeout", failure_timeout_);
  // Below this, a renewal every third of it and the takeover margin leave the store no time to answer.
  if (opts_.failure_timeout < std::chrono::milliseconds{300})
    throw CLI::ValidationError("--failure-timeout", "must be at least 300ms: " + failure_timeout_);
  opts_.idempotency_retention = duration("--idempotency-retention", idempotency_retention_);
  auto size = ops::parse_size(max_message_size_);
  if (!size || *size == 0)
    throw CLI::ValidationError("--max-message-size", "not a size (use e.g. 12MiB): " + max_message_size_);
  opts_.max_message_size = *size;
}

parsed_node_options parse_node_options(int argc, char** argv, const std::string& description) {
  CLI::App app{description};
  parsed_node_options parsed;
  node_flags flags{app, parsed.options};
  try {
    app.parse(argc, argv);
    flags.apply(argc, argv);
  } catch (const CLI::ParseError& e) {
    // app.exit prints the help or the error; the program's main returns the code, the library never exits.
    parsed.exit_code = app.exit(e);
  }
  return parsed;
}

}  // namespace actorstate
