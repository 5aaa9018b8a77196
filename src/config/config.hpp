// config.hpp: the whole validated configuration of a Sluice instance.
//
// A Config is only ever built by load_file/load_string/default_config, which validate every key: a
// Config that exists is complete and consistent (no half-configured server). Unknown keys are
// errors, so a typo never silently falls back to a default. docs/configuration.md documents every
// key.
//
// SECURITY: the file is trusted operator input, but its values become paths, limits and access
// lists, so each is range-checked here rather than where it is used.
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

// mx: mail from anyone for local domains (port 25); submission: STARTTLS then AUTH before MAIL
// (587); submissions: implicit TLS, AUTH before MAIL (465). RFC 6409, RFC 8314.
enum class ListenerRole { mx, submission, submissions };

enum class DenyAction { reject, drop };

struct Listener {
    std::string name;     // unique; appears in logs and Received headers
    std::string address;  // IP literal as written ("127.0.0.1", "::1", "0.0.0.0", "::")
    std::uint16_t port = 0;
    ListenerRole role = ListenerRole::mx;
    bool starttls = true;         // offer STARTTLS (when [tls] is enabled; not on submissions)
    bool auth_plaintext = false;  // offer AUTH before TLS too (tests, a trusted LAN)
    // Checked in addition to [access]: refused if either denies, or if this allow list is not
    // empty and the client is not in it.
    CidrList allow{};
    CidrList deny{};
    std::optional<DenyAction> deny_action{};    // none: access.deny_action
    std::optional<std::size_t> message_size{};  // none: limits.message_size
    // Check inbound mail's authenticity ([verify]); none: on for mx, off for submission (whose
    // users are authenticated: their mail is signed, not judged).
    std::optional<bool> verify{};
    bool verifies() const { return verify.value_or(role == ListenerRole::mx); }
};

// [tls]: the server certificate for STARTTLS and implicit TLS.
struct Tls {
    bool enabled = true;
    std::filesystem::path cert_file;  // PEM chain; empty: self-signed <data_dir>/tls/cert.pem
    std::filesystem::path key_file;   // PEM key; empty: <data_dir>/tls/key.pem (generated)
    bool self_signed = true;          // both files empty: generate them on first start
    bool min_tls13 = false;           // min_version = "1.3"
};

struct AuthUser {
    std::string name;                           // the login, lower-cased ("alice@example.org")
    std::string password_hash;                  // "$argon2id$..." (sluice passwd)
    std::vector<std::string> addresses;         // more envelope senders it owns ("a@b", "@domain")
    std::optional<std::size_t> message_size{};  // after AUTH, replaces the listener's limit
};

// [auth]: who may log in (RFC 4954) and the failed-login policy.
struct Auth {
    std::vector<AuthUser> users;        // [[auth.user]]
    std::filesystem::path sqlite_file;  // more users in SQLite; empty = none
    std::size_t lockout_failures = 5;   // failures within lockout_window that lock the client out
    Duration lockout_window = std::chrono::minutes(10);
    Duration lockout_duration = std::chrono::minutes(15);
    Duration failure_delay = std::chrono::seconds(1);  // after a failure; doubles each time
    Duration max_failure_delay = std::chrono::seconds(8);
    std::size_t account_throttle_after = 5;  // failures at one account (any address) before spacing
    Duration account_max_delay = std::chrono::seconds(30);  // cap of that spacing
    unsigned threads = 2;            // password hashing threads (argon2id is slow on purpose)
    bool check_from_header = false;  // an authenticated user's From: must be an address it owns

    bool enabled() const { return !users.empty() || !sqlite_file.empty(); }
};

enum class RateScope { ip, user, sender };
enum class RateMetric { connections, messages, recipients };

// [[rate_limit]]: at most `limit` of `metric` per `window` for each `scope` value.
struct RateLimit {
    RateScope scope = RateScope::ip;
    RateMetric metric = RateMetric::messages;
    std::uint64_t limit = 0;
    Duration window = std::chrono::hours(1);
};

struct Limits {
    std::size_t message_size = 25 * 1024 * 1024;  // bytes, advertised in EHLO SIZE
    std::size_t recipients = 100;                 // per message; RFC 5321 4.5.3.1.8 wants >= 100
    std::size_t command_line = 512;               // octets incl. CRLF; RFC minimum 512
    std::size_t text_line = 1000;                 // octets incl. CRLF; RFC minimum 1000
    std::size_t connections = 1000;               // in total
    std::size_t connections_per_ip = 20;          // an IPv6 client: per /64
    std::size_t connections_per_network = 100;    // per IPv4 /24 and IPv6 /48
    std::size_t stress_connections = 0;  // stress from this many on; 0 = 3/4 of `connections`
    std::size_t errors = 10;             // protocol errors before 421 and disconnect
    std::size_t received_headers = 50;   // more than this: 554 5.4.6 (mail loop)
    std::size_t min_data_rate = 1024;    // bytes/s while receiving a message; 0 = off
    Duration min_data_rate_grace = std::chrono::seconds(10);  // before the rate is judged
    std::size_t transactions = 1000;                          // messages per connection
    std::size_t header_size = 100 * 1024;  // a message's header section; 552 5.3.4 beyond
    // Message bytes one connection holds in memory before the body streams into the spool, and
    // all connections together (past it, every body streams as soon as it arrives).
    std::size_t message_buffer = 128 * 1024;
    std::size_t message_buffers_total = 64 * 1024 * 1024;
    bool forbid_unauth_pipelining = true;  // RFC 2920 3.1 for clients that did not AUTH
};

struct Timeouts {
    Duration command = std::chrono::minutes(5);          // RFC 5321 4.5.3.2.7; per command line
    Duration stress_command = std::chrono::seconds(10);  // the same under stress
    Duration data_block = std::chrono::minutes(3);       // between reads during DATA/BDAT
    Duration session = std::chrono::minutes(30);         // whole connection
    Duration shutdown_grace = std::chrono::seconds(30);  // SIGTERM: time for transactions in flight
};

struct Access {
    CidrList allow;    // empty = everyone not denied
    CidrList deny;     // checked first
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
    unsigned sync_threads = 1;  // syncs in flight at once; commits queued behind them are batched
    unsigned batch = 64;        // most commits made durable by one syncfs (group commit)
};

enum class LineEndings { lf, crlf };

// How Maildir copies are made durable: `batch` writes the copies a delivery thread has in hand and
// syncs their file system once (syncfs); `each` fsyncs every file and new/ on its own.
enum class MaildirSync { batch, each };

struct Delivery {
    std::filesystem::path
        maildir_root;      // default: <data_dir>/mail; mailbox = <root>/<domain>/<user>
    unsigned workers = 0;  // concurrent local deliveries; 0 = one per core, at least 2
    LineEndings maildir_line_endings = LineEndings::lf;
    MaildirSync maildir_sync = MaildirSync::batch;
    unsigned batch = 32;  // messages a delivery thread takes at once (and syncs together)
    int nice = 10;        // delivery threads yield the CPU to reception under load (0 = equal)
};

struct Queue {
    Duration retry_initial = std::chrono::minutes(5);
    Duration retry_max = std::chrono::hours(4);
    Duration lifetime = std::chrono::hours(24 * 5);
    std::optional<Duration> delay_warning;  // send a "delayed" DSN after this long; none = never
};

// [dns]: how recipient domains are resolved (docs/relay.md).
struct Dns {
    std::vector<std::string> forwarders;  // "addr" or "addr@port"; empty = the system's resolv.conf
    Duration timeout = std::chrono::seconds(10);  // per query; then a temporary failure
    std::filesystem::path trust_anchor_file;      // DNSSEC root key; empty = no validation
};

// What an SPF result does beyond being recorded in Authentication-Results.
enum class SpfAction { tag, reject };        // fail: reject = 550 5.7.23 at MAIL FROM
enum class TempAction { accept, tempfail };  // temperror: tempfail = 451 4.7.24 at MAIL FROM

enum class DmarcAction { reject, tag };  // p=reject: 550 5.7.1 at the end of data, or report only

// [verify]: inbound message authentication on the listeners that verify (docs/authentication.md).
struct Verify {
    bool spf = true;       // the MAIL FROM identity (the HELO's for the null sender)
    bool spf_helo = true;  // also the HELO identity, reported as smtp.helo (RFC 7208 2.3)
    bool dkim = true;      // DKIM signatures (RFC 6376), body hashes computed as it arrives
    bool dmarc = true;     // RFC 7489 policies of the From domain
    DmarcAction dmarc_reject = DmarcAction::reject;
    // Clients whose mail fails DMARC without being refused (forwarders, mailing lists we take
    // mail from): reported, never rejected.
    CidrList trusted_forwarders;
    std::string authserv_id;              // the name in Authentication-Results; default: hostname
    bool received_spf = false;            // also a Received-SPF field (RFC 7208 9.1)
    SpfAction spf_fail = SpfAction::tag;  // DMARC, not SPF alone, should refuse mail
    // Clients never judged (as policyd-spf's skip_addresses): local programs handing mail in.
    // Clients allowed to relay (trusted networks, authenticated users) are never judged either.
    CidrList skip{{*Cidr::parse("127.0.0.0/8"), *Cidr::parse("::1/128")}};
    TempAction spf_temperror = TempAction::accept;
};

enum class TlsPolicy { none, opportunistic, required };

// Where mail for a domain (or for every domain: the smarthost) goes instead of its MX hosts.
struct RelayHost {
    std::string host;  // a name (resolved by A/AAAA, never MX) or an IP literal without brackets
    std::uint16_t port = 25;
    TlsPolicy tls = TlsPolicy::opportunistic;
    bool tls_verify = false;  // verify the peer certificate against the system CAs and the name
    // AUTH (PLAIN, else LOGIN) with these credentials when user is set; never over a connection
    // without TLS unless auth_plaintext. SECURITY: the password is never logged.
    std::string user;
    std::string password;
    bool auth_plaintext = false;
};

struct Route {
    std::string domain;  // lower-case
    RelayHost to;
};

// [relay]: the SMTP client that delivers to other servers.
struct Relay {
    std::uint16_t port = 25;             // port of MX hosts (tests use another)
    std::optional<RelayHost> smarthost;  // every non-local domain without a route goes here
    std::vector<Route> routes;
    TlsPolicy tls = TlsPolicy::opportunistic;  // for MX delivery
    bool tls_verify = false;
    Duration connect_timeout = std::chrono::seconds(30);
    Duration command_timeout = std::chrono::minutes(2);  // each reply (RFC 5321 4.5.3.2 allows 5m)
    Duration data_timeout = std::chrono::minutes(5);     // the reply after the message (RFC: 10m)
    unsigned concurrency = 20;                           // connections in total
    unsigned concurrency_per_destination = 4;            // connections to one domain (or route)
    unsigned messages_per_connection = 100;              // then the connection is closed
    Duration idle_timeout = std::chrono::seconds(5);     // idle connection kept this long for reuse
};

struct Domain {
    std::string name;                                         // lower-case
    std::vector<std::string> mailboxes;                       // local parts, lower-case
    std::map<std::string, std::vector<std::string>> aliases;  // local part -> mailbox addresses
    std::optional<std::string> catch_all;  // mailbox address for unknown local parts
    bool any_user = false;                 // every (safe) local part is a mailbox of its own
};

// [[dkim_key]]: a key that signs mail of our own senders whose From domain is `domain` (or a
// subdomain without keys of its own). Several keys of one domain all sign (rsa + ed25519).
struct DkimKey {
    std::string domain;              // lower-case
    std::string selector;            // the DNS label: <selector>._domainkey.<domain>
    std::filesystem::path key_file;  // PEM private key (sluice dkim keygen), read at start
};

struct Config {
    std::string hostname;  // default: the system host name
    std::filesystem::path data_dir = "./sluice-data";
    std::filesystem::path control_socket;   // default: <data_dir>/control.sock (queue admin CLI)
    unsigned workers = 0;                   // event-loop threads; 0 = one per core
    std::string recipient_delimiter = "+";  // "user+tag" delivers to "user"; empty = off
    std::string user;  // started as root: run as this user after binding; empty = no drop
    std::vector<Listener> listeners;
    Limits limits;
    Timeouts timeouts;
    Access access;
    Log log;
    Spool spool;
    Delivery delivery;
    Queue queue;
    Dns dns;
    Verify verify;
    Relay relay;
    Tls tls;
    Auth auth;
    std::vector<RateLimit> rate_limits;
    std::vector<DkimKey> dkim_keys;
    std::vector<Domain> domains;
};

// Thrown for any invalid configuration. what() reads "<source>:<line>:<col>: <key>: <message>".
class ConfigError : public std::runtime_error {
  public:
    ConfigError(const std::string& source, std::string key, int line, int column,
                std::string message);
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
