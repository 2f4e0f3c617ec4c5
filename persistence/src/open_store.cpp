#include "actorstate/persistence/store.hpp"

#include <string_view>

#include "memory_store.hpp"
#include "sqlite_store.hpp"

namespace actorstate::persistence {

result<std::shared_ptr<store>> open_store(const std::string& uri, const store_options& options) {
  constexpr std::string_view sqlite_scheme = "sqlite:";
  if (uri == "memory")
    return detail::make_memory_store();
  if (uri.starts_with(sqlite_scheme))
    return detail::open_sqlite_store(uri.substr(sqlite_scheme.size()), options);
  return status{code::invalid_argument, "unknown store URI '" + uri + "'; expected \"memory\" or \"sqlite:PATH\""};
}

}  // namespace actorstate::persistence
