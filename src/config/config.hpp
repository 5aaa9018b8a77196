// config.hpp: the whole validated configuration of a Sluice instance.
//
// A Config is only ever built by load_file/load_string/default_config, which validate every key: a
// Config that exists is complete and consistent (no half-configured server). Unknown keys are errors,
// so a typo never silently falls back to a default. docs/configuration.md documents every key.
//
// SECURITY: the file is trusted operator input, but its values become paths, limits and access lists,
// so each is range-checked here rather than where it is used.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.hpp"
#include "common/log.hpp"

namespace sluice::config {

using Duration = std::chrono::milliseconds;

struct Listener {
    std::string name;     // unique; appears in logs and Received headers
    std::string address;  // IP literal as written ("127.0.0.1", "::1", "0.0.0.0", "::")
    std::uint16_t port = 0;
};

struct Limits {
    std::size_t message_size = 25 * 1024 * 1024;  // bytes, advertised in EHLO SIZE
    std::size_t recipients = 100;                 // per message; RFC 5321 4.5.3.1.8 wants >= 100
    std::size_t command_line = 512;               // octets incl. CRLF; RFC minimum 512
    std::size_t text_line = 1000;                 // octets incl. CRLF; RFC minimum 1000
    std::size_t connections = 1000;               // in total
    std::size_t connections_per_ip = 20;
    std::size_t errors = 10;             // protocol errors before 421 and disconnect
    std::size_t received_headers = 50;   // more than this: 554 5.4.6 (mail loop)
    std::size_t min_data_rate = 1024;    // bytes/s while receiving a message; 0 = off
    std::size_t transactions = 1000;     // messages per connection
};

struct Timeouts {
    Duration command = std::chrono::minutes(5);       // RFC 5321 4.5.3.2.7
    Duration data_block = std::chrono::minutes(3);    // between reads during DATA/BDAT
    Duration session = std::chrono::minutes(30);      // whole connection
    Duration shutdown_grace = std::chrono::seconds(30);  // SIGTERM: time for transactions in flight
};

enum class DenyAction { reject, drop };

struct Access {
    CidrList allow;  // empty = everyone not denied
    CidrList deny;   // checked first
    CidrList trusted;  // may relay to any domain (empty by default: nobody relays)
    DenyAction deny_action = DenyAction::reject;
};

struct Log {
    log::Level level = log::Level::info;
    log::Format format = log::Format::logfmt;
    std::string file;  // empty = stderr
};

struct Spool {
    std::filesystem::path dir;  // default: <data_dir>/spool
    unsigned sync_threads = 8;  // concurrent fsyncs; the journal merges them (group commit)
};

enum class LineEndings { lf, crlf };

struct Delivery {
    std::filesystem::path maildir_root;  // default: <data_dir>/mail; mailbox = <root>/<domain>/<user>
    unsigned workers = 4;                // concurrent local deliveries
    LineEndings maildir_line_endings = LineEndings::lf;
};

struct Queue {
    Duration retry_initial = std::chrono::minutes(5);
    Duration retry_max = std::chrono::hours(4);
    Duration lifetime = std::chrono::hours(24 * 5);
};

struct Domain {
    std::string name;                    // lower-case
    std::vector<std::string> mailboxes;  // local parts, lower-case
    std::map<std::string, std::vector<std::string>> aliases;  // local part -> mailbox addresses
    std::optional<std::string> catch_all;  // mailbox address for unknown local parts
    bool any_user = false;  // every (safe) local part is a mailbox of its own
};

struct Config {
    std::string hostname;  // default: the system host name
    std::filesystem::path data_dir = "./sluice-data";
    unsigned workers = 0;  // event-loop threads; 0 = one per core
    std::string recipient_delimiter = "+";  // "user+tag" delivers to "user"; empty = off
    std::vector<Listener> listeners;
    Limits limits;
    Timeouts timeouts;
    Access access;
    Log log;
    Spool spool;
    Delivery delivery;
    Queue queue;
    std::vector<Domain> domains;
};

// Thrown for any invalid configuration. what() reads "<source>:<line>:<col>: <key>: <message>".
class ConfigError : public std::runtime_error {
public:
    ConfigError(std::string source, std::string key, int line, int column, std::string message);
    const std::string& key() const { return key_; }
    int line() const { return line_; }
    const std::string& message() const { return message_; }

private:
    std::string key_;
    int line_;
    std::string message_;
};

// Parses and validates. Relative paths are resolved against the current directory at load time.
Config load_file(const std::filesystem::path& path);
Config load_string(std::string_view toml_text, std::string_view source_name = "<string>");

// The embedded default: 127.0.0.1:2525, domain "localhost" with any_user, data in ./sluice-data.
Config default_config();

// Parses "30s", "5m", "4h", "2d", "250ms" or a bare number of seconds. nullopt if invalid.
std::optional<Duration> parse_duration(std::string_view text);
// Parses "1048576", "512K", "25M", "1G" (binary multiples). nullopt if invalid.
std::optional<std::size_t> parse_size(std::string_view text);

// True if a (lower-case) local part may name a mailbox, and so a directory: 1 to 64 characters from
// a-z 0-9 . _ - and not starting with '.'. Shared by config validation and the local router.
bool is_safe_local_part(std::string_view local);

}  // namespace sluice::config
