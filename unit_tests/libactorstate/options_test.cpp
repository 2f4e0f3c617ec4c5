#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <CLI/CLI.hpp>

#include "actorstate/node.hpp"
#include "actorstate/ops/units.hpp"
#include "actorstate/persistence/store.hpp"

using namespace actorstate;

namespace {

struct parsed {
  node_options opts;
  bool ok = true;
};

parsed parse(std::vector<std::string> args) {
  parsed p;
  CLI::App app{"test"};
  node_flags flags{app, p.opts};
  std::vector<char*> argv;
  static std::string prog = "node";
  argv.push_back(prog.data());
  for (auto& a : args)
    argv.push_back(a.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
    flags.apply(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::Error&) {
    p.ok = false;
  }
  return p;
}

}  // namespace

TEST_CASE("options.defaults") {
  auto p = parse({});
  REQUIRE(p.ok);
  CHECK(p.opts.port == 9000);
  CHECK(p.opts.management_port == 9099);
  CHECK(p.opts.store_uri() == "sqlite:./actorstate-data/actorstate.db");
  CHECK(p.opts.passivation_timeout == std::chrono::seconds{30});
}

TEST_CASE("options.both_flag_spellings") {
  auto p = parse({"--port", "1234", "--data-dir=/tmp/x", "--passivation-timeout", "100ms"});
  REQUIRE(p.ok);
  CHECK(p.opts.port == 1234);
  CHECK(p.opts.store_uri() == "sqlite:/tmp/x/actorstate.db");
  CHECK(p.opts.passivation_timeout == std::chrono::milliseconds{100});
}

TEST_CASE("options.flag_beats_environment_beats_config_file") {
  auto dir = std::filesystem::temp_directory_path() / ("actorstate-opts-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto file = dir / "node.toml";
  std::ofstream{file} << "port = 1111\nmanagement-port = 2222\nshards = 7\n";
  ::setenv("HTTP_PORT", "3333", 1);
  ::setenv("MANAGEMENT_PORT", "4444", 1);
  auto p = parse({"--config", file.string(), "--port", "5555"});
  ::unsetenv("HTTP_PORT");
  ::unsetenv("MANAGEMENT_PORT");
  std::filesystem::remove_all(dir);
  REQUIRE(p.ok);
  CHECK(p.opts.port == 5555);             // flag
  CHECK(p.opts.management_port == 4444);  // environment over file
  CHECK(p.opts.shards == 7);              // file over default
}

TEST_CASE("options.bad_values_are_rejected") {
  CHECK_FALSE(parse({"--passivation-timeout", "soon"}).ok);
  CHECK_FALSE(parse({"--port", "http"}).ok);
  CHECK_FALSE(parse({"--sqlite-synchronous", "SOMETIMES"}).ok);
  CHECK_FALSE(parse({"--max-message-size", "big"}).ok);
  CHECK_FALSE(parse({"--sqlite-quick-check", "maybe"}).ok);
  CHECK_FALSE(parse({"--command-timeout", "0s"}).ok);
}

TEST_CASE("options.sqlite_quick_check") {
  CHECK(parse({}).opts.sqlite_quick_check);
  CHECK_FALSE(parse({"--sqlite-quick-check", "false"}).opts.sqlite_quick_check);
  ::setenv("ACTORSTATE_SQLITE_QUICK_CHECK", "false", 1);
  auto from_env = parse({});
  ::unsetenv("ACTORSTATE_SQLITE_QUICK_CHECK");
  REQUIRE(from_env.ok);
  CHECK_FALSE(from_env.opts.sqlite_quick_check);
}

TEST_CASE("options.idempotency_retention") {
  CHECK(parse({}).opts.idempotency_retention == std::chrono::hours{24});
  CHECK(parse({"--idempotency-retention", "90m"}).opts.idempotency_retention == std::chrono::minutes{90});
  CHECK(parse({"--idempotency-retention", "0"}).opts.idempotency_retention == std::chrono::milliseconds{0});
  CHECK_FALSE(parse({"--idempotency-retention", "a day"}).ok);
  ::setenv("ACTORSTATE_IDEMPOTENCY_RETENTION", "2h", 1);
  auto from_env = parse({});
  ::unsetenv("ACTORSTATE_IDEMPOTENCY_RETENTION");
  REQUIRE(from_env.ok);
  CHECK(from_env.opts.idempotency_retention == std::chrono::hours{2});
}

TEST_CASE("options.units") {
  CHECK(ops::parse_duration("24h") == std::chrono::hours{24});
  CHECK(ops::parse_duration("2m") == std::chrono::minutes{2});
  CHECK(ops::parse_duration("1.5s") == std::chrono::milliseconds{1500});
  CHECK_FALSE(ops::parse_duration("fast"));
  CHECK(ops::parse_size("12MiB") == 12u * 1024 * 1024);
  CHECK(ops::parse_size("4096") == 4096u);
  CHECK_FALSE(ops::parse_size("lots"));
}

TEST_CASE("options.postgres_from_cloudstate_environment") {
  ::setenv("POSTGRES_SERVICE", "db.example", 1);
  ::setenv("POSTGRES_PORT", "5433", 1);
  ::setenv("POSTGRES_DATABASE", "carts", 1);
  ::setenv("POSTGRES_USERNAME", "cart user", 1);
  ::setenv("POSTGRES_PASSWORD", "p@ss:word", 1);
  auto p = parse({});
  REQUIRE(p.ok);
  auto uri = p.opts.store_uri();
  CHECK(uri.rfind("postgres://", 0) == 0);
  CHECK(uri.find("db.example:5433/carts") != std::string::npos);
  // Credentials are percent-encoded, and never logged.
  CHECK(uri.find("p@ss:word") == std::string::npos);
  CHECK(persistence::redact_uri(uri).find("ss") == std::string::npos);
  // --store wins over the environment.
  CHECK(parse({"--store", "memory"}).opts.store_uri() == "memory");
  for (const char* name :
       {"POSTGRES_SERVICE", "POSTGRES_PORT", "POSTGRES_DATABASE", "POSTGRES_USERNAME", "POSTGRES_PASSWORD"})
    ::unsetenv(name);
  CHECK(parse({}).opts.store_uri() == "sqlite:./actorstate-data/actorstate.db");
}

TEST_CASE("options.redact_uri") {
  CHECK(persistence::redact_uri("postgres://u:secret@h:5432/db") == "postgres://u:***@h:5432/db");
  CHECK(persistence::redact_uri("postgres://u@h/db?password=secret&sslmode=disable") ==
        "postgres://u@h/db?password=***&sslmode=disable");
  CHECK(persistence::redact_uri("postgres://h/db") == "postgres://h/db");
  CHECK(persistence::redact_uri("sqlite:/tmp/a.db") == "sqlite:/tmp/a.db");
}

TEST_CASE("options.parse_node_options_returns_the_exit_code") {
  auto run = [](std::vector<std::string> args) {
    static std::string prog = "node";
    std::vector<char*> argv{prog.data()};
    for (auto& a : args)
      argv.push_back(a.data());
    return parse_node_options(static_cast<int>(argv.size()), argv.data(), "test");
  };
  auto good = run({"--port", "1234"});
  CHECK_FALSE(good.exit_code);
  CHECK(good.options.port == 1234);
  // The library never exits: after --help (printed) main returns 0, after a bad flag CLI11's code.
  CHECK(run({"--help"}).exit_code == 0);
  CHECK(run({"--no-such-flag"}).exit_code == static_cast<int>(CLI::ExitCodes::ExtrasError));
  CHECK(run({"--command-timeout", "0s"}).exit_code == static_cast<int>(CLI::ExitCodes::ValidationError));
  auto bad_port = run({"--port", "http"}).exit_code;
  REQUIRE(bad_port);
  CHECK(*bad_port != 0);
}
