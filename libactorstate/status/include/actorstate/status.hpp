// actorstate's one error type: a status (a code and a message) and a result<T> (a value or a non-ok status), used
// from the store up to the frontends. Everything that can fail in an expected way returns one of them; exceptions
// are for broken invariants only, and exit codes exist only in the programs' main functions.
//
// The codes are gRPC's (0-16), so a frontend sends a command's status to its client as it is, plus two that only the
// store gives and the runtime must tell apart from a plain failure:
//  - `conflict`: a fenced write (a second or stale writer, a sequence or version mismatch); nothing was written. The
//    shard hears it as its own signal (the cluster gives the shard up on it).
//  - `unknown_outcome`: the write may or may not have committed; re-read before writing again.
// Neither reaches a client: `client_code` maps them (and every other code) to what a client sees.
//
// Both types are [[nodiscard]] (a status nobody looks at is a lost failure) and plain values: copy them freely, share
// them between threads like any std::string. `result::value()` on an error throws `bad_result_access` naming the
// error, never undefined behaviour. No header of this target includes anything beyond the standard library; the
// persistence plugins and every libactorstate layer build on it.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace actorstate {

enum class status_code : int32_t {
  ok = 0,
  cancelled = 1,
  unknown = 2,  ///< A user failure: the entity rejected the command; the message is the user's description.
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,  ///< Stored data cannot be read (checksum, schema or decoding failure).
  unauthenticated = 16,
  conflict = 100,         ///< The store fenced a write: a second or stale writer, or a sequence/version mismatch.
  unknown_outcome = 101,  ///< A write may or may not have committed; re-read before the next write.
};

/// The code's gRPC name ("UNAVAILABLE"); `CONFLICT` and `UNKNOWN_OUTCOME` for the store's two codes.
std::string_view to_string(status_code code);

/// The gRPC code a client sees for `code`: itself for gRPC's codes; `UNAVAILABLE` for `conflict` (this node no longer
/// owns the entity: a retry reaches its owner) and `unknown_outcome` (a retry re-reads first).
status_code client_code(status_code code);

/// ok, or a code with a human-readable message.
class [[nodiscard]] status {
public:
  status() = default;
  status(status_code code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == status_code::ok; }
  status_code code() const { return code_; }
  const std::string& message() const { return message_; }
  /// "UNAVAILABLE: disk gone"; "OK" for an ok status.
  std::string to_string() const;

  friend bool operator==(const status&, const status&) = default;

private:
  status_code code_ = status_code::ok;
  std::string message_;
};

/// Thrown by `result::value()` on a result that holds an error: a caller that skipped `ok()` gets an exception
/// naming the error rather than undefined behaviour.
class bad_result_access : public std::logic_error {
public:
  explicit bad_result_access(const status& error)
      : std::logic_error("value() of a failed result: " + error.to_string()) {}
};

/// A value or a non-ok status. A result built from an ok status holds no value and counts as an error
/// (`internal`), so `ok()` always means "has a value".
template <class T>
class [[nodiscard]] result {
public:
  result(T value) : value_(std::move(value)) {}
  result(status error)
      : error_(error.ok() ? status{status_code::internal, "a result was built from an ok status without a value"}
                          : std::move(error)) {}

  bool ok() const { return value_.has_value(); }
  /// The error; an ok status when the result holds a value.
  const status& error() const { return error_; }
  T& value() & {
    check();
    return *value_;
  }
  const T& value() const& {
    check();
    return *value_;
  }
  T&& value() && {
    check();
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

private:
  void check() const {
    if (!value_)
      throw bad_result_access{error_};
  }

  std::optional<T> value_;
  status error_;
};

}  // namespace actorstate
