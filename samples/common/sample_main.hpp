// The command line every sample shares: by default a native actorstate node serving the sample's entity types
// (every node flag: `--port`, `--data-dir`, `--store`, ...); with `--user-function` the same entity types served as a
// Cloudstate user function on $HOST:$PORT (default 127.0.0.1:8080; an explicit --port overrides PORT), for
// actorstate-proxy or any Cloudstate proxy.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <actorstate/detail/model.hpp>

namespace samples {

using model_list = std::vector<std::shared_ptr<actorstate::detail::model_base>>;

/// Runs the sample until SIGTERM/SIGINT; returns the process exit code. `name` is the user function's service name;
/// `make_models` is called once.
int sample_main(int argc, char** argv, const std::string& description, const std::string& name,
                const std::function<model_list()>& make_models);

}  // namespace samples
