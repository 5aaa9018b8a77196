// control_protocol.hpp: the line protocol of the local control socket (`sluice queue flush|hold|
// release|delete`), without any I/O so it can be unit-tested byte by byte.
//
//   request:  one line, "VERB[ ID]\n" (a trailing "\r" is tolerated), at most kMaxRequestLine bytes
//             FLUSH          make every deferred message due now
//             FLUSH <id>     make one message due now
//             HOLD <id>      take a message out of scheduling (kept in the spool, marked held)
//             RELEASE <id>   undo HOLD and make the message due now
//             DELETE <id>    remove a message from the queue and the spool, never delivering it
//   response: one line, "OK <text>\n" or "ERR <reason>\n"
//
// SECURITY: the socket is the trust boundary (mode 0600 in the data directory: only its owner, or
// root, can connect), yet every request is still parsed strictly: verbs from a fixed table, one
// argument at most, queue IDs checked with is_valid_queue_id before they reach the queue or the
// spool, and response text stripped of control characters so a reply is always one line.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::server::control {

inline constexpr std::size_t kMaxRequestLine = 256;

enum class Verb { flush, hold, release, remove };

struct Request {
    Verb verb = Verb::flush;
    std::string id;  // empty only for FLUSH (every message)
};

struct ParseResult {
    std::optional<Request> request;  // set on success
    std::string error;               // why not, otherwise (for "ERR <error>")
};

// Parses one request line, with or without its "\n" / "\r\n".
[[nodiscard]] ParseResult parse_request(std::string_view line);

// The request line a client sends (with "\n").
[[nodiscard]] std::string format_request(const Request& r);

// "OK <text>\n" / "ERR <text>\n", with control characters in `text` replaced by spaces.
[[nodiscard]] std::string format_response(bool ok, std::string_view text);

struct Response {
    bool ok = false;
    std::string text;
};

// Reads a response line back (for the CLI). nullopt when it is neither "OK..." nor "ERR...".
[[nodiscard]] std::optional<Response> parse_response(std::string_view line);

}  // namespace sluice::server::control
