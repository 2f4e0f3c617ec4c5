// gRPC-web over HTTP/1.1 (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md): the body is a sequence of
// frames, a flag byte (0x00 data, 0x80 trailers) and a 4-byte big-endian length before each; the trailers frame
// carries "grpc-status" and "grpc-message" as HTTP/1 header lines. The "-text" content types carry the same bytes
// base64-encoded (a client may send several padded chunks one after another). Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actorstate/status.hpp"

namespace actorstate::http {

/// `s` with ASCII letters in lower case (header names, content types).
std::string ascii_lower(std::string_view s);

/// Plain gRPC, as the gRPC server takes it: "application/grpc", "application/grpc+<codec>" or "application/grpc;..."
/// (gRPC-web's types are not).
bool is_plain_grpc(std::string_view content_type);

}  // namespace actorstate::http

namespace actorstate::http::grpc_web {

/// Whether `content_type` asks for gRPC-web; `text` is set for the base64 variants.
bool is_grpc_web(std::string_view content_type, bool& text);

/// The data frames' messages of a request body (already base64-decoded); nullopt if the framing is broken or a
/// frame is compressed (the client did not negotiate compression, so it must not compress).
std::optional<std::vector<std::string>> messages(std::string_view body);

/// One data frame.
std::string data_frame(std::string_view message);

/// The trailers frame of a call ending with `code` and `message`.
std::string trailers_frame(status_code code, std::string_view message);

/// gRPC's percent-encoding of grpc-message (printable ASCII except '%' stays).
std::string encode_message(std::string_view message);

std::string base64_encode(std::string_view bytes);
/// Decodes standard base64, also several padded chunks in a row; nullopt if `text` is not base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace actorstate::http::grpc_web
