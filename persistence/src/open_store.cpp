#include "actorstate/persistence/store.hpp"

#include <string_view>

#include "memory_store.hpp"
#include "postgres_store.hpp"
#include "sqlite_store.hpp"

namespace actorstate::persistence {

result<std::shared_ptr<store>> open_store(const std::string& uri, const store_options& options) {
  constexpr std::string_view sqlite_scheme = "sqlite:";
  if (uri == "memory")
    return detail::make_memory_store(options);
  if (uri.starts_with(sqlite_scheme))
    return detail::open_sqlite_store(uri.substr(sqlite_scheme.size()), options);
  // libpq takes both spellings of the scheme and the URI as it is.
  if (uri.starts_with("postgres://") || uri.starts_with("postgresql://"))
    return detail::open_postgres_store(uri, options);
  return status{status_code::invalid_argument, "unknown store URI '" + redact_uri(uri) +
                                                   "'; expected \"memory\", \"sqlite:PATH\" or \"postgres://...\""};
}

std::string redact_uri(const std::string& uri) {
  std::string out = uri;
  // scheme://user:password@host...
  if (auto scheme = out.find("://"); scheme != std::string::npos) {
    auto authority_end = out.find_first_of("/?#", scheme + 3);
    auto at = out.rfind('@', authority_end == std::string::npos ? std::string::npos : authority_end);
    if (at != std::string::npos && at > scheme + 3) {
      auto colon = out.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at)
        out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // ...?password=secret&...
  for (size_t pos = out.find("password="); pos != std::string::npos; pos = out.find("password=", pos + 1)) {
    if (pos > 0 && out[pos - 1] != '?' && out[pos - 1] != '&')
      continue;
    auto value = pos + 9;
    auto end = out.find('&', value);
    out.replace(value, (end == std::string::npos ? out.size() : end) - value, "***");
  }
  return out;
}

}  // namespace actorstate::persistence
