// control_protocol.hpp: the line protocol of the local control socket (`sluice queue flush|hold|
// release|delete`), without any I/O so it can be unit-tested byte by byte.
//
//   request:  one line, "VERB[ ID...]\n" (a trailing "\r" is tolerated), at most kMaxRequestLine
//   bytes
//             FLUSH          make every deferred message due now
//             FLUSH <id>...  make these messages due now
//             HOLD <id>...   take messages out of scheduling (kept in the spool, marked held)
//             RELEASE <id>...  undo HOLD and make the messages due now
//             DELETE <id>... remove messages from the queue and the spool, never delivering them
//             Up to kMaxIdsPerRequest IDs; the CLI sends a bulk operation in several requests.
//   response: one line, "OK <text>\n" or "ERR <reason>\n". For one ID, the text of that
//             operation; for several, "OK touched=<n> missed=<m>[ <id>: <reason>;...]".
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
#include <vector>

namespace sluice::server::control {

inline constexpr std::size_t kMaxIdsPerRequest = 256;
// A verb and kMaxIdsPerRequest IDs of 16 characters, each after a space.
inline constexpr std::size_t kMaxRequestLine = 16 + kMaxIdsPerRequest * 17;

enum class Verb { flush, hold, release, remove };

struct Request {
    Verb verb = Verb::flush;
    std::vector<std::string> ids;  // empty only for FLUSH (every deferred message)
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

// The counts of a several-ID response ("touched=3 missed=1 ..."); nullopt for any other text.
struct BulkCounts {
    std::size_t touched = 0;
    std::size_t missed = 0;
    std::string detail;  // "<id>: <reason>; ..." for the missed ones (may be shortened)
};
[[nodiscard]] std::optional<BulkCounts> parse_bulk(std::string_view text);
[[nodiscard]] std::string format_bulk(const BulkCounts& c);

// Reads a response line back (for the CLI). nullopt when it is neither "OK..." nor "ERR...".
[[nodiscard]] std::optional<Response> parse_response(std::string_view line);

}  // namespace sluice::server::control
