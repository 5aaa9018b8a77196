// load.cpp: reads the TOML configuration and validates every key into a Config (see config.hpp and
// docs/configuration.md).
//
// SECURITY: the file is trusted operator input, but its values become paths, limits, access lists
// and mailbox names, so each is type- and range-checked here, once, and the rest of the server can
// rely on a Config being consistent. Unknown keys are errors, so a misspelt key never silently
// keeps its default. Every error names the full key path and the line it was found on.
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

#include "config/config.hpp"

namespace sluice::config {
namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

std::string format_what(const std::string& source, const std::string& key, int line, int column,
                        const std::string& message) {
    std::string s = source + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
    if (!key.empty()) s += key + ": ";
    return s + message;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// RFC 1035 2.3.1 host name (letters, digits, hyphens; labels of 1-63; at most 253 in total). The
// last label may not be all digits, so an IPv4 address is never taken for a name.
bool is_valid_domain_name(std::string_view name) {
    if (name.empty() || name.size() > 253) return false;
    std::size_t start = 0;
    bool last_all_digits = false;
    while (true) {
        const std::size_t dot = name.find('.', start);
        const std::string_view label = name.substr(
            start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty() || label.size() > 63) return false;
        if (label.front() == '-' || label.back() == '-') return false;
        last_all_digits = true;
        for (const char c : label) {
            const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            if (!alpha && !is_digit(c) && c != '-') return false;
            if (!is_digit(c)) last_all_digits = false;
        }
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return !last_all_digits;
}

// Listener names appear in logs and Received headers: keep them to a plain token.
bool is_valid_listener_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
               c == '_' || c == '.';
    });
}

std::string system_hostname() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) == 0 && is_valid_domain_name(buf)) return buf;
    return "localhost";
}

std::filesystem::path absolute_path(const std::filesystem::path& p) {
    return std::filesystem::absolute(p).lexically_normal();
}

const char* type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::table:
            return "table";
        case toml::node_type::array:
            return "array";
        case toml::node_type::string:
            return "string";
        case toml::node_type::integer:
            return "integer";
        case toml::node_type::floating_point:
            return "float";
        case toml::node_type::boolean:
            return "boolean";
        case toml::node_type::date:
            return "date";
        case toml::node_type::time:
            return "time";
        case toml::node_type::date_time:
            return "date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

std::string join(const std::string& prefix, std::string_view name) {
    return prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
}

// An alias or catch-all target waiting for every domain to be known.
struct PendingTarget {
    std::size_t domain;      // index of the domain that declares it
    std::string key;         // "domain[0].aliases.team"
    const toml::node* node;  // the string, for its line
    std::string alias;       // alias name, or empty for catch_all
};

class Loader {
  public:
    explicit Loader(std::string source) : source_(std::move(source)) {}

    Config load(const toml::table& root);

  private:
    [[noreturn]] void fail(const std::string& key, const toml::source_region& where,
                           const std::string& message) const {
        throw ConfigError(source_, key, static_cast<int>(where.begin.line),
                          static_cast<int>(where.begin.column), message);
    }
    [[noreturn]] void fail(const std::string& key, const toml::node& node,
                           const std::string& message) const {
        fail(key, node.source(), message);
    }
    [[noreturn]] void wrong_type(const std::string& key, const toml::node& node,
                                 std::string_view expected) const {
        fail(key, node, "expected " + std::string(expected) + ", got " + type_name(node));
    }

    void check_keys(const toml::table& t, const std::string& prefix,
                    std::initializer_list<std::string_view> allowed) const;
    const toml::table* table(const toml::table& t, const std::string& prefix,
                             std::string_view name) const;
    std::optional<std::string> string(const toml::table& t, const std::string& prefix,
                                      std::string_view name) const;
    std::optional<bool> boolean(const toml::table& t, const std::string& prefix,
                                std::string_view name) const;
    std::optional<std::int64_t> integer(const toml::table& t, const std::string& prefix,
                                        std::string_view name, std::int64_t min,
                                        std::int64_t max) const;
    std::optional<std::filesystem::path> path(const toml::table& t, const std::string& prefix,
                                              std::string_view name) const;
    std::optional<Duration> duration(const toml::table& t, const std::string& prefix,
                                     std::string_view name) const;
    std::vector<const toml::node*> string_array(const toml::node& n, const std::string& key) const;
    void cidr_list(const toml::table& t, const std::string& prefix, std::string_view name,
                   CidrList& into) const;
    std::optional<DenyAction> deny_action(const toml::table& t, const std::string& prefix) const;
    std::optional<std::size_t> message_size(const toml::table& t, const std::string& prefix) const;

    void load_limits(const toml::table& t, Limits& out) const;
    void load_timeouts(const toml::table& t, Timeouts& out) const;
    void load_access(const toml::table& t, Access& out) const;
    void load_log(const toml::table& t, Log& out) const;
    void load_queue(const toml::table& t, Queue& out) const;
    void load_dns(const toml::table& t, Dns& out) const;
    void load_relay(const toml::table& t, Relay& out) const;
    RelayHost relay_host(const toml::table& t, const std::string& prefix, std::string_view name,
                         bool required) const;
    TlsPolicy tls_policy(const toml::table& t, const std::string& prefix, std::string_view name,
                         TlsPolicy def) const;
    void load_listeners(const toml::node& n, std::vector<Listener>& out) const;
    void load_tls(const toml::table& t, Tls& out) const;
    void load_auth(const toml::table& t, Auth& out) const;
    void load_rate_limits(const toml::node& n, std::vector<RateLimit>& out) const;
    void check_roles(const toml::table& root, const Config& cfg) const;
    void load_domains(const toml::node& n, std::vector<Domain>& out) const;
    std::string resolve_target(const PendingTarget& p, const std::vector<Domain>& domains) const;

    std::string source_;
};

void Loader::check_keys(const toml::table& t, const std::string& prefix,
                        std::initializer_list<std::string_view> allowed) const {
    for (auto&& [k, v] : t) {
        if (std::find(allowed.begin(), allowed.end(), k.str()) == allowed.end()) {
            fail(join(prefix, k.str()), k.source(), "unknown key");
        }
    }
}

const toml::table* Loader::table(const toml::table& t, const std::string& prefix,
                                 std::string_view name) const {
    const toml::node* n = t.get(name);
    if (n == nullptr) return nullptr;
    if (!n->is_table()) wrong_type(join(prefix, name), *n, "table");
    return n->as_table();
}

std::optional<std::string> Loader::string(const toml::table& t, const std::string& prefix,
                                          std::string_view name) const {
    const toml::node* n = t.get(name);
    if (n == nullptr) return std::nullopt;
    if (!n->is_string()) wrong_type(join(prefix, name), *n, "string");
    return n->as_string()->get();
}

std::optional<bool> Loader::boolean(const toml::table& t, const std::string& prefix,
                                    std::string_view name) const {
    const toml::node* n = t.get(name);
    if (n == nullptr) return std::nullopt;
    if (!n->is_boolean()) wrong_type(join(prefix, name), *n, "boolean");
    return n->as_boolean()->get();
}

std::optional<std::int64_t> Loader::integer(const toml::table& t, const std::string& prefix,
                                            std::string_view name, std::int64_t min,
                                            std::int64_t max) const {
    const toml::node* n = t.get(name);
    if (n == nullptr) return std::nullopt;
    const std::string key = join(prefix, name);
    if (!n->is_integer()) wrong_type(key, *n, "integer");
    const std::int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
        if (max == kInt64Max) fail(key, *n, "must be at least " + std::to_string(min));
        fail(key, *n, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return v;
}

std::optional<std::filesystem::path> Loader::path(const toml::table& t, const std::string& prefix,
                                                  std::string_view name) const {
    const auto s = string(t, prefix, name);
    if (!s) return std::nullopt;
    if (s->empty()) fail(join(prefix, name), *t.get(name), "must not be empty");
    if (s->find('\0') != std::string::npos) {
        fail(join(prefix, name), *t.get(name), "must not contain NUL");
    }
    return absolute_path(*s);
}

std::optional<Duration> Loader::duration(const toml::table& t, const std::string& prefix,
                                         std::string_view name) const {
    const toml::node* n = t.get(name);
    if (n == nullptr) return std::nullopt;
    const std::string key = join(prefix, name);
    std::optional<Duration> d;
    if (n->is_integer()) {
        const std::int64_t secs = n->as_integer()->get();
        if (secs <= 0) fail(key, *n, "must be greater than zero");
        if (secs > kInt64Max / 1000) fail(key, *n, "too large");
        d = std::chrono::seconds(secs);
    } else if (n->is_string()) {
        d = parse_duration(n->as_string()->get());
        if (!d) {
            fail(key, *n,
                 "invalid duration \"" + n->as_string()->get() +
                     "\" (expected e.g. \"250ms\", \"30s\", \"5m\", \"4h\", \"2d\")");
        }
        if (d->count() <= 0) fail(key, *n, "must be greater than zero");
    } else {
        wrong_type(key, *n, "duration string or integer seconds");
    }
    return d;
}

std::vector<const toml::node*> Loader::string_array(const toml::node& n,
                                                    const std::string& key) const {
    if (!n.is_array()) wrong_type(key, n, "array of strings");
    std::vector<const toml::node*> out;
    for (const toml::node& e : *n.as_array()) {
        if (!e.is_string()) fail(key, e, std::string("expected string, got ") + type_name(e));
        out.push_back(&e);
    }
    return out;
}

// A size of at least 1024 bytes: an integer, or "512K", "25M", "1G".
std::optional<std::size_t> Loader::message_size(const toml::table& t,
                                                const std::string& prefix) const {
    const toml::node* n = t.get("message_size");
    if (n == nullptr) return std::nullopt;
    const std::string key = join(prefix, "message_size");
    std::optional<std::size_t> size;
    if (n->is_integer()) {
        const std::int64_t v = n->as_integer()->get();
        if (v >= 0)
            size = static_cast<std::size_t>(v);
        else
            fail(key, *n, "must be at least 1024");
    } else if (n->is_string()) {
        size = parse_size(n->as_string()->get());
        if (!size) {
            fail(key, *n,
                 "invalid size \"" + n->as_string()->get() +
                     "\" (expected bytes or e.g. \"512K\", \"25M\", \"1G\")");
        }
    } else {
        wrong_type(key, *n, "integer or size string");
    }
    if (*size < 1024) fail(key, *n, "must be at least 1024");
    return size;
}

// An array of networks ("10.0.0.0/8", "::1"); the error points at the bad element.
void Loader::cidr_list(const toml::table& t, const std::string& prefix, std::string_view name,
                       CidrList& into) const {
    const toml::node* n = t.get(name);
    if (n == nullptr) return;
    const std::string key = join(prefix, name);
    for (const toml::node* e : string_array(*n, key)) {
        const std::string& text = e->as_string()->get();
        const auto cidr = Cidr::parse(text);
        if (!cidr) {
            fail(key, *e,
                 "invalid network \"" + text +
                     "\" (expected an IP address or CIDR such as \"10.0.0.0/8\", \"::1\")");
        }
        into.add(*cidr);
    }
}

std::optional<DenyAction> Loader::deny_action(const toml::table& t,
                                              const std::string& prefix) const {
    const auto a = string(t, prefix, "deny_action");
    if (!a) return std::nullopt;
    if (*a == "reject") return DenyAction::reject;
    if (*a == "drop") return DenyAction::drop;
    fail(join(prefix, "deny_action"), *t.get("deny_action"), "must be \"reject\" or \"drop\"");
}

void Loader::load_limits(const toml::table& t, Limits& out) const {
    const std::string p = "limits";
    check_keys(t, p,
               {"message_size", "recipients", "command_line", "text_line", "connections",
                "connections_per_ip", "errors", "received_headers", "min_data_rate",
                "min_data_rate_grace", "transactions"});
    if (const auto size = message_size(t, p)) out.message_size = *size;
    const auto set = [&](std::string_view name, std::size_t& field, std::int64_t min) {
        if (const auto v = integer(t, p, name, min, kInt64Max)) {
            field = static_cast<std::size_t>(*v);
        }
    };
    set("recipients", out.recipients, 1);
    set("command_line", out.command_line, 512);
    set("text_line", out.text_line, 1000);
    set("connections", out.connections, 1);
    set("connections_per_ip", out.connections_per_ip, 1);
    set("errors", out.errors, 1);
    set("received_headers", out.received_headers, 1);
    set("min_data_rate", out.min_data_rate, 0);
    if (const auto d = duration(t, p, "min_data_rate_grace")) out.min_data_rate_grace = *d;
    set("transactions", out.transactions, 1);
}

void Loader::load_timeouts(const toml::table& t, Timeouts& out) const {
    const std::string p = "timeouts";
    check_keys(t, p, {"command", "data_block", "session", "shutdown_grace"});
    if (const auto d = duration(t, p, "command")) out.command = *d;
    if (const auto d = duration(t, p, "data_block")) out.data_block = *d;
    if (const auto d = duration(t, p, "session")) out.session = *d;
    if (const auto d = duration(t, p, "shutdown_grace")) out.shutdown_grace = *d;
}

void Loader::load_access(const toml::table& t, Access& out) const {
    const std::string p = "access";
    check_keys(t, p, {"allow", "deny", "deny_action", "trusted"});
    cidr_list(t, p, "allow", out.allow);
    cidr_list(t, p, "deny", out.deny);
    cidr_list(t, p, "trusted", out.trusted);
    if (const auto a = deny_action(t, p)) out.deny_action = *a;
}

void Loader::load_log(const toml::table& t, Log& out) const {
    const std::string p = "log";
    check_keys(t, p, {"level", "format", "file"});
    if (const auto l = string(t, p, "level")) {
        if (*l == "debug")
            out.level = log::Level::debug;
        else if (*l == "info")
            out.level = log::Level::info;
        else if (*l == "warn")
            out.level = log::Level::warn;
        else if (*l == "error")
            out.level = log::Level::error;
        else if (*l == "off")
            out.level = log::Level::off;
        else {
            fail("log.level", *t.get("level"),
                 "must be one of \"debug\", \"info\", \"warn\", \"error\", \"off\"");
        }
    }
    if (const auto f = string(t, p, "format")) {
        if (*f == "logfmt")
            out.format = log::Format::logfmt;
        else if (*f == "json")
            out.format = log::Format::json;
        else
            fail("log.format", *t.get("format"), "must be \"logfmt\" or \"json\"");
    }
    if (const auto f = string(t, p, "file")) {
        if (f->find('\0') != std::string::npos) {
            fail("log.file", *t.get("file"), "must not contain NUL");
        }
        out.file = f->empty() ? std::string() : absolute_path(*f).string();
    }
}

void Loader::load_queue(const toml::table& t, Queue& out) const {
    const std::string p = "queue";
    check_keys(t, p, {"retry_initial", "retry_max", "lifetime", "delay_warning"});
    if (const auto d = duration(t, p, "delay_warning")) out.delay_warning = *d;
    if (const auto d = duration(t, p, "retry_initial")) out.retry_initial = *d;
    if (const auto d = duration(t, p, "retry_max")) out.retry_max = *d;
    if (const auto d = duration(t, p, "lifetime")) out.lifetime = *d;
    if (out.retry_max < out.retry_initial) {
        if (const toml::node* n = t.get("retry_max")) {
            fail("queue.retry_max", *n, "must not be shorter than retry_initial");
        }
        fail("queue.retry_initial", *t.get("retry_initial"),
             "must not be longer than retry_max (default 4h)");
    }
}

// "addr" or "addr@port" as libunbound's forward-addr takes it.
void Loader::load_dns(const toml::table& t, Dns& out) const {
    const std::string p = "dns";
    check_keys(t, p, {"forwarders", "timeout", "trust_anchor_file"});
    if (const toml::node* n = t.get("forwarders")) {
        for (const toml::node* e : string_array(*n, "dns.forwarders")) {
            const std::string& text = e->as_string()->get();
            const auto at = text.find('@');
            const std::string ip = text.substr(0, at);
            bool ok = IpAddress::parse(ip).has_value() && ip.find('[') == std::string::npos;
            if (ok && at != std::string::npos) {
                const std::string port = text.substr(at + 1);
                ok = !port.empty() && port.size() <= 5 &&
                     std::all_of(port.begin(), port.end(), is_digit) && std::stoul(port) >= 1 &&
                     std::stoul(port) <= 65535;
            }
            if (!ok) {
                fail("dns.forwarders", *e,
                     "invalid forwarder \"" + text +
                         "\" (expected an IP address, optionally with @port: \"127.0.0.1@5353\")");
            }
            out.forwarders.push_back(text);
        }
    }
    if (const auto d = duration(t, p, "timeout")) out.timeout = *d;
    if (const auto f = path(t, p, "trust_anchor_file")) out.trust_anchor_file = *f;
}

TlsPolicy Loader::tls_policy(const toml::table& t, const std::string& prefix, std::string_view name,
                             TlsPolicy def) const {
    const auto s = string(t, prefix, name);
    if (!s) return def;
    if (*s == "none") return TlsPolicy::none;
    if (*s == "opportunistic") return TlsPolicy::opportunistic;
    if (*s == "required") return TlsPolicy::required;
    fail(join(prefix, name), *t.get(name), "must be \"none\", \"opportunistic\" or \"required\"");
}

// "host", "host:port", "192.0.2.1:port", "[2001:db8::1]:port" or "[2001:db8::1]".
RelayHost Loader::relay_host(const toml::table& t, const std::string& prefix, std::string_view name,
                             bool required) const {
    RelayHost h;
    const std::string key = join(prefix, name);
    const auto s = string(t, prefix, name);
    if (!s) {
        if (required) fail(key, t.source(), "required key is missing");
        return h;
    }
    const toml::node& n = *t.get(name);
    std::string_view v = *s;
    std::string_view host = v;
    std::string_view port;
    if (!v.empty() && v.front() == '[') {
        const auto close = v.find(']');
        if (close == std::string_view::npos) fail(key, n, "missing ']'");
        host = v.substr(1, close - 1);
        const std::string_view after = v.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') fail(key, n, "expected \"[address]:port\"");
            port = after.substr(1);
        }
        if (!IpAddress::parse(host))
            fail(key, n, "\"" + std::string(host) + "\" is not an IP address");
    } else {
        if (std::count(v.begin(), v.end(), ':') == 1) {
            const auto colon = v.find(':');
            host = v.substr(0, colon);
            port = v.substr(colon + 1);
        } else if (v.find(':') != std::string_view::npos) {
            fail(key, n, "an IPv6 address must be written in brackets: \"[2001:db8::1]:25\"");
        }
        if (!IpAddress::parse(host) && !is_valid_domain_name(host)) {
            fail(key, n, "\"" + std::string(host) + "\" is neither a host name nor an IP address");
        }
    }
    h.host = lower(host);
    h.port = 25;
    if (!port.empty() || v.back() == ':') {
        if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), is_digit) ||
            std::stoul(std::string(port)) < 1 || std::stoul(std::string(port)) > 65535) {
            fail(key, n, "port must be a number between 1 and 65535");
        }
        h.port = static_cast<std::uint16_t>(std::stoul(std::string(port)));
    }
    return h;
}

void Loader::load_relay(const toml::table& t, Relay& out) const {
    const std::string p = "relay";
    // Credentials for AUTH to a smarthost or route: user and password together, no control
    // characters (they go into an AUTH line).
    auto auth = [&](const toml::table& tt, const std::string& prefix, const char* user_key,
                    const char* password_key, const char* plaintext_key, RelayHost& h) {
        const auto user = string(tt, prefix, user_key);
        const auto password = string(tt, prefix, password_key);
        for (const char* key : {user_key, password_key}) {
            const auto& value = key == user_key ? user : password;
            if (!value) continue;
            if (value->empty()) fail(join(prefix, key), *tt.get(key), "must not be empty");
            for (const char c : *value) {
                if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                    fail(join(prefix, key), *tt.get(key), "must not contain control characters");
            }
        }
        if (user && !password)
            fail(join(prefix, user_key), *tt.get(user_key),
                 std::string("needs ") + join(prefix, password_key));
        if (password && !user)
            fail(join(prefix, password_key), *tt.get(password_key),
                 std::string("needs ") + join(prefix, user_key));
        if (const auto b = boolean(tt, prefix, plaintext_key)) {
            if (!user)
                fail(join(prefix, plaintext_key), *tt.get(plaintext_key),
                     std::string("needs ") + join(prefix, user_key));
            h.auth_plaintext = *b;
        }
        if (user) {
            h.user = *user;
            h.password = *password;
        }
    };
    check_keys(t, p,
               {"port", "smarthost", "smarthost_tls", "smarthost_tls_verify", "smarthost_user",
                "smarthost_password", "smarthost_auth_plaintext", "tls", "tls_verify",
                "connect_timeout", "command_timeout", "data_timeout", "concurrency",
                "concurrency_per_destination", "messages_per_connection", "idle_timeout", "route"});
    if (const auto v = integer(t, p, "port", 1, 65535)) out.port = static_cast<std::uint16_t>(*v);
    out.tls = tls_policy(t, p, "tls", TlsPolicy::opportunistic);
    if (const auto b = boolean(t, p, "tls_verify")) out.tls_verify = *b;
    if (t.get("smarthost")) {
        RelayHost h = relay_host(t, p, "smarthost", true);
        h.tls = tls_policy(t, p, "smarthost_tls", TlsPolicy::opportunistic);
        if (const auto b = boolean(t, p, "smarthost_tls_verify")) h.tls_verify = *b;
        auth(t, p, "smarthost_user", "smarthost_password", "smarthost_auth_plaintext", h);
        out.smarthost = h;
    } else {
        for (const char* k : {"smarthost_tls", "smarthost_tls_verify", "smarthost_user",
                              "smarthost_password", "smarthost_auth_plaintext"}) {
            if (const toml::node* n = t.get(k)) fail(join(p, k), *n, "needs relay.smarthost");
        }
    }
    if (const auto d = duration(t, p, "connect_timeout")) out.connect_timeout = *d;
    if (const auto d = duration(t, p, "command_timeout")) out.command_timeout = *d;
    if (const auto d = duration(t, p, "data_timeout")) out.data_timeout = *d;
    if (const auto d = duration(t, p, "idle_timeout")) out.idle_timeout = *d;
    if (const auto v = integer(t, p, "concurrency", 1, 10000))
        out.concurrency = static_cast<unsigned>(*v);
    if (const auto v = integer(t, p, "concurrency_per_destination", 1, 10000))
        out.concurrency_per_destination = static_cast<unsigned>(*v);
    if (const auto v = integer(t, p, "messages_per_connection", 1, 100000))
        out.messages_per_connection = static_cast<unsigned>(*v);
    if (const toml::node* rn = t.get("route")) {
        if (!rn->is_array_of_tables())
            wrong_type("relay.route", *rn, "array of tables ([[relay.route]])");
        std::map<std::string, std::string> seen;
        std::size_t i = 0;
        for (const toml::node& e : *rn->as_array()) {
            const std::string prefix = "relay.route[" + std::to_string(i++) + "]";
            const toml::table& rt = *e.as_table();
            check_keys(
                rt, prefix,
                {"domain", "host", "tls", "tls_verify", "user", "password", "auth_plaintext"});
            Route r;
            const auto d = string(rt, prefix, "domain");
            if (!d) fail(prefix + ".domain", e, "required key is missing");
            if (!is_valid_domain_name(*d)) {
                fail(prefix + ".domain", *rt.get("domain"),
                     "\"" + *d + "\" is not a valid domain name");
            }
            r.domain = lower(*d);
            if (const auto [it, fresh] = seen.emplace(r.domain, prefix); !fresh) {
                fail(prefix + ".domain", *rt.get("domain"),
                     "duplicate route for \"" + r.domain + "\" (also " + it->second + ")");
            }
            r.to = relay_host(rt, prefix, "host", true);
            r.to.tls = tls_policy(rt, prefix, "tls", TlsPolicy::opportunistic);
            if (const auto b = boolean(rt, prefix, "tls_verify")) r.to.tls_verify = *b;
            auth(rt, prefix, "user", "password", "auth_plaintext", r.to);
            out.routes.push_back(std::move(r));
        }
    }
}

void Loader::load_listeners(const toml::node& n, std::vector<Listener>& out) const {
    if (!n.is_array_of_tables()) wrong_type("listener", n, "array of tables ([[listener]])");
    std::map<std::string, std::string> names;      // name -> key of first use
    std::map<std::string, std::string> endpoints;  // "ip port" -> key of first use
    std::size_t i = 0;
    for (const toml::node& e : *n.as_array()) {
        const std::string prefix = "listener[" + std::to_string(i) + "]";
        const toml::table& t = *e.as_table();
        check_keys(t, prefix,
                   {"name", "address", "role", "starttls", "auth_plaintext", "allow", "deny",
                    "deny_action", "message_size"});
        Listener l;
        if (const auto role = string(t, prefix, "role")) {
            if (*role == "mx")
                l.role = ListenerRole::mx;
            else if (*role == "submission")
                l.role = ListenerRole::submission;
            else if (*role == "submissions")
                l.role = ListenerRole::submissions;
            else
                fail(prefix + ".role", *t.get("role"),
                     "must be \"mx\", \"submission\" or \"submissions\"");
        }
        if (const auto b = boolean(t, prefix, "starttls")) l.starttls = *b;
        if (const auto b = boolean(t, prefix, "auth_plaintext")) l.auth_plaintext = *b;
        cidr_list(t, prefix, "allow", l.allow);
        cidr_list(t, prefix, "deny", l.deny);
        l.deny_action = deny_action(t, prefix);
        l.message_size = message_size(t, prefix);
        l.name = "listener" + std::to_string(i);
        if (const auto name = string(t, prefix, "name")) {
            if (!is_valid_listener_name(*name)) {
                fail(prefix + ".name", *t.get("name"),
                     "must be 1-64 characters from A-Z a-z 0-9 . _ -");
            }
            l.name = *name;
        }
        const toml::node& name_node = t.get("name") ? *t.get("name") : e;
        if (const auto [it, fresh] = names.emplace(l.name, prefix); !fresh) {
            fail(prefix + ".name", name_node,
                 "duplicate listener name \"" + l.name + "\" (also " + it->second + ")");
        }

        const std::string key = prefix + ".address";
        const auto addr = string(t, prefix, "address");
        if (!addr) {
            l.address = "127.0.0.1";
            l.port = 2525;
        } else {
            const toml::node& an = *t.get("address");
            std::string_view s = *addr;
            std::string_view host;
            std::string_view port;
            if (!s.empty() && s.front() == '[') {
                const auto close = s.find(']');
                if (close == std::string_view::npos || close + 1 >= s.size() ||
                    s[close + 1] != ':') {
                    fail(key, an, "expected \"[IPv6]:port\"");
                }
                host = s.substr(1, close - 1);
                port = s.substr(close + 2);
                if (host.find(':') == std::string_view::npos) {
                    fail(key, an, "brackets are for IPv6 addresses only");
                }
            } else {
                const auto colon = s.rfind(':');
                if (colon == std::string_view::npos) fail(key, an, "expected \"IP:port\"");
                host = s.substr(0, colon);
                port = s.substr(colon + 1);
                if (host.find(':') != std::string_view::npos) {
                    fail(key, an, "an IPv6 address must be written in brackets: \"[::1]:2525\"");
                }
            }
            if (!IpAddress::parse(host) || host.find('[') != std::string_view::npos) {
                fail(key, an, "\"" + std::string(host) + "\" is not an IP address literal");
            }
            unsigned long p = 0;
            if (port.empty() || port.size() > 5 ||
                !std::all_of(port.begin(), port.end(), is_digit)) {
                fail(key, an, "port must be a number between 1 and 65535");
            }
            for (const char c : port) p = p * 10 + static_cast<unsigned long>(c - '0');
            if (p < 1 || p > 65535) fail(key, an, "port must be between 1 and 65535");
            l.address = std::string(host);
            l.port = static_cast<std::uint16_t>(p);
        }
        const std::string endpoint =
            IpAddress::parse(l.address)->to_string() + " " + std::to_string(l.port);
        if (const auto [it, fresh] = endpoints.emplace(endpoint, prefix); !fresh) {
            fail(key, t.get("address") ? *t.get("address") : e,
                 "same address and port as " + it->second);
        }
        out.push_back(std::move(l));
        ++i;
    }
}

void Loader::load_tls(const toml::table& t, Tls& out) const {
    const std::string p = "tls";
    check_keys(t, p, {"enabled", "cert_file", "key_file", "min_version"});
    if (const auto b = boolean(t, p, "enabled")) out.enabled = *b;
    const auto cert = path(t, p, "cert_file");
    const auto key = path(t, p, "key_file");
    if (cert.has_value() != key.has_value()) {
        const char* missing = cert ? "key_file" : "cert_file";
        fail(join(p, missing), t.source(), "cert_file and key_file must be given together");
    }
    if (cert) {
        out.cert_file = *cert;
        out.key_file = *key;
        out.self_signed = false;
    }
    if (const auto v = string(t, p, "min_version")) {
        if (*v == "1.2")
            out.min_tls13 = false;
        else if (*v == "1.3")
            out.min_tls13 = true;
        else
            fail("tls.min_version", *t.get("min_version"), "must be \"1.2\" or \"1.3\"");
    }
}

void Loader::load_auth(const toml::table& t, Auth& out) const {
    const std::string p = "auth";
    check_keys(t, p,
               {"user", "sqlite_file", "lockout_failures", "lockout_window", "lockout_duration",
                "failure_delay", "max_failure_delay", "threads", "check_from_header"});
    if (const auto b = boolean(t, p, "check_from_header")) out.check_from_header = *b;
    if (const auto f = path(t, p, "sqlite_file")) out.sqlite_file = *f;
    if (const auto v = integer(t, p, "lockout_failures", 1, 1000))
        out.lockout_failures = static_cast<std::size_t>(*v);
    if (const auto d = duration(t, p, "lockout_window")) out.lockout_window = *d;
    if (const auto d = duration(t, p, "lockout_duration")) out.lockout_duration = *d;
    if (const auto d = duration(t, p, "failure_delay")) out.failure_delay = *d;
    if (const auto d = duration(t, p, "max_failure_delay")) out.max_failure_delay = *d;
    if (out.max_failure_delay < out.failure_delay)
        fail("auth.max_failure_delay",
             t.get("max_failure_delay") ? t.get("max_failure_delay")->source() : t.source(),
             "must not be shorter than failure_delay");
    if (const auto v = integer(t, p, "threads", 1, 64)) out.threads = static_cast<unsigned>(*v);
    const toml::node* users = t.get("user");
    if (users == nullptr) return;
    if (!users->is_array_of_tables())
        wrong_type("auth.user", *users, "array of tables ([[auth.user]])");
    std::map<std::string, std::string> names;
    std::size_t i = 0;
    for (const toml::node& e : *users->as_array()) {
        const std::string prefix = "auth.user[" + std::to_string(i++) + "]";
        const toml::table& u = *e.as_table();
        check_keys(u, prefix, {"name", "password_hash", "addresses", "message_size"});
        AuthUser user;
        const auto name = string(u, prefix, "name");
        if (!name) fail(prefix + ".name", u.source(), "required key is missing");
        const bool name_ok = !name->empty() && name->size() <= 256 &&
                             std::all_of(name->begin(), name->end(), [](char c) {
                                 return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
                             });
        if (!name_ok)
            fail(prefix + ".name", *u.get("name"),
                 "must be 1-256 printable characters without spaces");
        user.name = lower(*name);
        if (const auto [it, fresh] = names.emplace(user.name, prefix); !fresh)
            fail(prefix + ".name", *u.get("name"),
                 "duplicate user \"" + user.name + "\" (also " + it->second + ")");
        const auto hash = string(u, prefix, "password_hash");
        if (!hash) fail(prefix + ".password_hash", u.source(), "required key is missing");
        if (hash->rfind("$argon2id$", 0) != 0 || hash->size() > 256 ||
            hash->find_first_of(" \t\r\n") != std::string::npos)
            fail(prefix + ".password_hash", *u.get("password_hash"),
                 "must be an argon2id hash (\"$argon2id$...\", see `sluice passwd`)");
        user.password_hash = *hash;
        if (const toml::node* a = u.get("addresses")) {
            for (const toml::node* x : string_array(*a, prefix + ".addresses")) {
                const std::string& addr = x->as_string()->get();
                const auto at = addr.rfind('@');
                if (at == std::string::npos || at + 1 >= addr.size() ||
                    !is_valid_domain_name(addr.substr(at + 1)) ||
                    addr.find_first_of(" <>\t\r\n") != std::string::npos)
                    fail(prefix + ".addresses", *x,
                         "invalid address \"" + addr +
                             "\" (expected \"user@domain\" or \"@domain\" for the whole domain)");
                user.addresses.push_back(lower(addr));
            }
        }
        user.message_size = message_size(u, prefix);
        out.users.push_back(std::move(user));
    }
}

void Loader::load_rate_limits(const toml::node& n, std::vector<RateLimit>& out) const {
    if (!n.is_array_of_tables()) wrong_type("rate_limit", n, "array of tables ([[rate_limit]])");
    std::size_t i = 0;
    for (const toml::node& e : *n.as_array()) {
        const std::string prefix = "rate_limit[" + std::to_string(i++) + "]";
        const toml::table& t = *e.as_table();
        check_keys(t, prefix, {"scope", "metric", "limit", "window"});
        RateLimit r;
        const auto scope = string(t, prefix, "scope");
        if (!scope) fail(prefix + ".scope", t.source(), "required key is missing");
        if (*scope == "ip")
            r.scope = RateScope::ip;
        else if (*scope == "user")
            r.scope = RateScope::user;
        else if (*scope == "sender")
            r.scope = RateScope::sender;
        else
            fail(prefix + ".scope", *t.get("scope"), "must be \"ip\", \"user\" or \"sender\"");
        const auto metric = string(t, prefix, "metric");
        if (!metric) fail(prefix + ".metric", t.source(), "required key is missing");
        if (*metric == "connections")
            r.metric = RateMetric::connections;
        else if (*metric == "messages")
            r.metric = RateMetric::messages;
        else if (*metric == "recipients")
            r.metric = RateMetric::recipients;
        else
            fail(prefix + ".metric", *t.get("metric"),
                 "must be \"connections\", \"messages\" or \"recipients\"");
        if (r.metric == RateMetric::connections && r.scope != RateScope::ip)
            fail(prefix + ".metric", *t.get("metric"),
                 "connections can only be limited per ip (user and sender are not known yet)");
        const auto limit = integer(t, prefix, "limit", 1, kInt64Max);
        if (!limit) fail(prefix + ".limit", t.source(), "required key is missing");
        r.limit = static_cast<std::uint64_t>(*limit);
        const auto window = duration(t, prefix, "window");
        if (!window) fail(prefix + ".window", t.source(), "required key is missing");
        r.window = *window;
        out.push_back(r);
    }
}

// A submission listener must be usable: someone must be able to log in, over TLS or not.
void Loader::check_roles(const toml::table& root, const Config& cfg) const {
    const toml::node* ln = root.get("listener");
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
        const Listener& l = cfg.listeners[i];
        if (l.role == ListenerRole::mx) continue;
        const std::string key = "listener[" + std::to_string(i) + "].role";
        const toml::node* where = ln && ln->is_array() ? ln->as_array()->get(i) : nullptr;
        const toml::source_region src = where ? where->source() : root.source();
        if (!cfg.auth.enabled())
            fail(key, src, "a submission listener needs users ([[auth.user]] or auth.sqlite_file)");
        if (l.role == ListenerRole::submissions && !cfg.tls.enabled)
            fail(key, src, "submissions (implicit TLS) needs [tls] enabled");
        if (l.role == ListenerRole::submission && !l.auth_plaintext &&
            (!cfg.tls.enabled || !l.starttls))
            fail(key, src, "submission needs STARTTLS (or auth_plaintext = true) to log in");
    }
}

void Loader::load_domains(const toml::node& n, std::vector<Domain>& out) const {
    if (!n.is_array_of_tables()) wrong_type("domain", n, "array of tables ([[domain]])");
    std::map<std::string, std::string> names;  // domain name -> key of first use
    std::vector<PendingTarget> pending;
    std::size_t i = 0;
    for (const toml::node& e : *n.as_array()) {
        const std::string prefix = "domain[" + std::to_string(i) + "]";
        const toml::table& t = *e.as_table();
        check_keys(t, prefix, {"name", "mailboxes", "aliases", "catch_all", "any_user"});
        Domain d;

        const auto name = string(t, prefix, "name");
        if (!name) fail(prefix + ".name", e, "required key is missing");
        if (!is_valid_domain_name(*name)) {
            fail(prefix + ".name", *t.get("name"), "\"" + *name + "\" is not a valid domain name");
        }
        d.name = lower(*name);
        if (const auto [it, fresh] = names.emplace(d.name, prefix); !fresh) {
            fail(prefix + ".name", *t.get("name"),
                 "duplicate domain \"" + d.name + "\" (also " + it->second + ")");
        }

        if (const toml::node* mn = t.get("mailboxes")) {
            const std::string key = prefix + ".mailboxes";
            for (const toml::node* m : string_array(*mn, key)) {
                const std::string local = lower(m->as_string()->get());
                if (!is_safe_local_part(local)) {
                    fail(key, *m,
                         "\"" + m->as_string()->get() +
                             "\" is not a valid mailbox name (1-64 characters from a-z 0-9 . _ -, "
                             "not starting with '.')");
                }
                if (std::find(d.mailboxes.begin(), d.mailboxes.end(), local) != d.mailboxes.end()) {
                    fail(key, *m, "duplicate mailbox \"" + local + "\"");
                }
                d.mailboxes.push_back(local);
            }
        }

        if (const toml::table* at = table(t, prefix, "aliases")) {
            for (auto&& [k, v] : *at) {
                const std::string key = prefix + ".aliases." + std::string(k.str());
                const std::string alias = lower(k.str());
                if (!is_safe_local_part(alias)) {
                    fail(key, k.source(),
                         "\"" + std::string(k.str()) +
                             "\" is not a valid alias name (1-64 characters from a-z 0-9 . _ -, "
                             "not starting with '.')");
                }
                if (std::find(d.mailboxes.begin(), d.mailboxes.end(), alias) != d.mailboxes.end()) {
                    fail(key, k.source(), "\"" + alias + "\" is both a mailbox and an alias");
                }
                if (d.aliases.count(alias) != 0) {
                    fail(key, k.source(), "duplicate alias \"" + alias + "\"");
                }
                const auto targets = string_array(v, key);
                if (targets.empty()) fail(key, v, "an alias needs at least one target");
                d.aliases[alias];  // filled once every domain is known
                for (const toml::node* target : targets) {
                    pending.push_back(PendingTarget{i, key, target, alias});
                }
            }
        }

        if (const toml::node* cn = t.get("catch_all")) {
            if (!cn->is_string()) wrong_type(prefix + ".catch_all", *cn, "string");
            pending.push_back(PendingTarget{i, prefix + ".catch_all", cn, {}});
        }
        if (const auto any = boolean(t, prefix, "any_user")) d.any_user = *any;

        out.push_back(std::move(d));
        ++i;
    }

    for (const PendingTarget& p : pending) {
        std::string address = resolve_target(p, out);
        Domain& d = out[p.domain];
        if (p.alias.empty()) {
            d.catch_all = std::move(address);
        } else {
            auto& targets = d.aliases[p.alias];
            if (std::find(targets.begin(), targets.end(), address) == targets.end()) {
                targets.push_back(std::move(address));
            }
        }
    }
}

// "alice" -> "alice@<declaring domain>"; "bob@example.net" -> itself. The result must be a mailbox.
std::string Loader::resolve_target(const PendingTarget& p,
                                   const std::vector<Domain>& domains) const {
    const std::string& text = p.node->as_string()->get();
    const std::string target = lower(text);
    std::string local = target;
    std::string domain = domains[p.domain].name;
    if (const auto at = target.rfind('@'); at != std::string::npos) {
        local = target.substr(0, at);
        domain = target.substr(at + 1);
    }
    const auto it = std::find_if(domains.begin(), domains.end(),
                                 [&](const Domain& d) { return d.name == domain; });
    if (it == domains.end()) {
        fail(p.key, *p.node,
             "target \"" + text + "\": domain \"" + domain + "\" is not a configured [[domain]]");
    }
    const bool mailbox =
        std::find(it->mailboxes.begin(), it->mailboxes.end(), local) != it->mailboxes.end() ||
        (it->any_user && is_safe_local_part(local));
    if (!mailbox) {
        if (it->aliases.count(local) != 0) {
            fail(
                p.key, *p.node,
                "target \"" + text + "\" is an alias; targets must be mailboxes (no alias chains)");
        }
        fail(p.key, *p.node,
             "target \"" + text + "\" is not a mailbox of domain \"" + domain + "\"");
    }
    return local + "@" + domain;
}

Config Loader::load(const toml::table& root) {
    Config cfg;
    check_keys(root, "",
               {"hostname", "data_dir", "control_socket", "workers",    "recipient_delimiter",
                "user",     "listener", "limits",         "timeouts",   "access",
                "log",      "spool",    "delivery",       "queue",      "dns",
                "relay",    "tls",      "auth",           "rate_limit", "domain"});

    if (const auto h = string(root, "", "hostname")) {
        if (!is_valid_domain_name(*h)) {
            fail("hostname", *root.get("hostname"), "\"" + *h + "\" is not a valid domain name");
        }
        cfg.hostname = *h;
    } else {
        cfg.hostname = system_hostname();
    }
    if (const auto p = path(root, "", "data_dir")) cfg.data_dir = *p;
    cfg.data_dir = absolute_path(cfg.data_dir);
    cfg.control_socket = cfg.data_dir / "control.sock";
    if (const auto p = path(root, "", "control_socket")) {
        cfg.control_socket = *p;
        if (cfg.control_socket.string().size() > 107)  // sockaddr_un::sun_path, with its NUL
            fail("control_socket", *root.get("control_socket"),
                 "path too long for a Unix socket (107 bytes at most)");
    }
    if (const auto w = integer(root, "", "workers", 0, 1024))
        cfg.workers = static_cast<unsigned>(*w);
    if (const auto d = string(root, "", "recipient_delimiter")) {
        if (!(d->empty() || (d->size() == 1 &&
                             std::string_view("+-_.").find((*d)[0]) != std::string_view::npos))) {
            fail("recipient_delimiter", *root.get("recipient_delimiter"),
                 "must be \"\" or one of \"+\", \"-\", \"_\", \".\"");
        }
        cfg.recipient_delimiter = *d;
    }
    if (const auto u = string(root, "", "user")) {
        // A POSIX portable user name: resolved with getpwnam when the server starts as root.
        // "" is the documented default: no privilege drop.
        bool ok = u->empty() || (u->size() <= 32 && (*u)[0] != '-');
        for (char c : *u)
            ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.');
        if (!ok) fail("user", *root.get("user"), "must be a user name (letters, digits, _ - .)");
        cfg.user = *u;
    }

    if (const toml::node* n = root.get("listener")) load_listeners(*n, cfg.listeners);
    if (cfg.listeners.empty()) cfg.listeners.push_back(Listener{"smtp", "127.0.0.1", 2525});

    if (const auto* t = table(root, "", "limits")) load_limits(*t, cfg.limits);
    if (const auto* t = table(root, "", "timeouts")) load_timeouts(*t, cfg.timeouts);
    if (const auto* t = table(root, "", "access")) load_access(*t, cfg.access);
    if (const auto* t = table(root, "", "log")) load_log(*t, cfg.log);
    if (const auto* t = table(root, "", "queue")) load_queue(*t, cfg.queue);
    if (const auto* t = table(root, "", "dns")) load_dns(*t, cfg.dns);
    if (const auto* t = table(root, "", "relay")) load_relay(*t, cfg.relay);
    if (const auto* t = table(root, "", "tls")) load_tls(*t, cfg.tls);
    if (cfg.tls.self_signed) {
        cfg.tls.cert_file = cfg.data_dir / "tls" / "cert.pem";
        cfg.tls.key_file = cfg.data_dir / "tls" / "key.pem";
    }
    if (const auto* t = table(root, "", "auth")) load_auth(*t, cfg.auth);
    if (const toml::node* n = root.get("rate_limit")) load_rate_limits(*n, cfg.rate_limits);
    check_roles(root, cfg);

    cfg.spool.dir = cfg.data_dir / "spool";
    if (const auto* t = table(root, "", "spool")) {
        check_keys(*t, "spool", {"dir", "sync_threads", "batch"});
        if (const auto p = path(*t, "spool", "dir")) cfg.spool.dir = *p;
        if (const auto n = integer(*t, "spool", "sync_threads", 1, 64)) {
            cfg.spool.sync_threads = static_cast<unsigned>(*n);
        }
        if (const auto n = integer(*t, "spool", "batch", 1, 1024)) {
            cfg.spool.batch = static_cast<unsigned>(*n);
        }
    }

    cfg.delivery.maildir_root = cfg.data_dir / "mail";
    if (const auto* t = table(root, "", "delivery")) {
        check_keys(
            *t, "delivery",
            {"maildir_root", "workers", "maildir_line_endings", "maildir_sync", "batch", "nice"});
        if (const auto p = path(*t, "delivery", "maildir_root")) cfg.delivery.maildir_root = *p;
        if (const auto n = integer(*t, "delivery", "workers", 0, 256)) {
            cfg.delivery.workers = static_cast<unsigned>(*n);
        }
        if (const auto le = string(*t, "delivery", "maildir_line_endings")) {
            if (*le == "lf")
                cfg.delivery.maildir_line_endings = LineEndings::lf;
            else if (*le == "crlf")
                cfg.delivery.maildir_line_endings = LineEndings::crlf;
            else {
                fail("delivery.maildir_line_endings", *t->get("maildir_line_endings"),
                     "must be \"lf\" or \"crlf\"");
            }
        }
        if (const auto ms = string(*t, "delivery", "maildir_sync")) {
            if (*ms == "batch")
                cfg.delivery.maildir_sync = MaildirSync::batch;
            else if (*ms == "each")
                cfg.delivery.maildir_sync = MaildirSync::each;
            else
                fail("delivery.maildir_sync", *t->get("maildir_sync"),
                     "must be \"batch\" or \"each\"");
        }
        if (const auto n = integer(*t, "delivery", "batch", 1, 1024)) {
            cfg.delivery.batch = static_cast<unsigned>(*n);
        }
        if (const auto n = integer(*t, "delivery", "nice", 0, 19)) {
            cfg.delivery.nice = static_cast<int>(*n);
        }
    }

    if (const toml::node* n = root.get("domain")) load_domains(*n, cfg.domains);
    return cfg;
}

}  // namespace

ConfigError::ConfigError(const std::string& source, std::string key, int line, int column,
                         std::string message)
    : std::runtime_error(format_what(source, key, line, column, message)),
      key_(std::move(key)),
      line_(line),
      message_(std::move(message)) {}

bool is_safe_local_part(std::string_view local) {
    if (local.empty() || local.size() > 64 || local.front() == '.') return false;
    return std::all_of(local.begin(), local.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || is_digit(c) || c == '.' || c == '_' || c == '-';
    });
}

Config load_string(std::string_view toml_text, std::string_view source_name) {
    const std::string source(source_name);
    toml::table root;
    try {
        root = toml::parse(toml_text, std::string_view(source));
    } catch (const toml::parse_error& e) {
        throw ConfigError(source, {}, static_cast<int>(e.source().begin.line),
                          static_cast<int>(e.source().begin.column), std::string(e.description()));
    }
    return Loader(source).load(root);
}

Config load_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        throw ConfigError(path.string(), {}, 0, 0,
                          "cannot open file: " + std::generic_category().message(err));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw ConfigError(path.string(), {}, 0, 0, "cannot read file");
    }
    return load_string(text.str(), path.string());
}

Config default_config() {
    Config cfg;
    cfg.hostname = system_hostname();
    cfg.data_dir = absolute_path(cfg.data_dir);
    cfg.listeners.push_back(Listener{"smtp", "127.0.0.1", 2525});
    cfg.spool.dir = cfg.data_dir / "spool";
    cfg.control_socket = cfg.data_dir / "control.sock";
    cfg.tls.cert_file = cfg.data_dir / "tls" / "cert.pem";
    cfg.tls.key_file = cfg.data_dir / "tls" / "key.pem";
    cfg.delivery.maildir_root = cfg.data_dir / "mail";
    Domain local;
    local.name = "localhost";
    local.any_user = true;
    cfg.domains.push_back(std::move(local));
    return cfg;
}

std::optional<Duration> parse_duration(std::string_view text) {
    std::size_t i = 0;
    std::int64_t value = 0;
    while (i < text.size() && is_digit(text[i])) {
        const int digit = text[i] - '0';
        if (value > (kInt64Max - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
        ++i;
    }
    if (i == 0) return std::nullopt;
    const std::string_view unit = text.substr(i);
    std::int64_t factor = 0;  // milliseconds per unit
    if (unit == "ms")
        factor = 1;
    else if (unit.empty() || unit == "s")
        factor = 1000;
    else if (unit == "m")
        factor = 60 * 1000;
    else if (unit == "h")
        factor = 60 * 60 * 1000;
    else if (unit == "d")
        factor = 24 * 60 * 60 * 1000;
    else
        return std::nullopt;
    if (value > kInt64Max / factor) return std::nullopt;
    return Duration(value * factor);
}

std::optional<std::size_t> parse_size(std::string_view text) {
    constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
    std::size_t i = 0;
    std::size_t value = 0;
    while (i < text.size() && is_digit(text[i])) {
        const auto digit = static_cast<std::size_t>(text[i] - '0');
        if (value > (kMax - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
        ++i;
    }
    if (i == 0) return std::nullopt;
    const std::string_view unit = text.substr(i);
    std::size_t factor = 1;
    if (unit.empty())
        factor = 1;
    else if (unit == "K" || unit == "k")
        factor = std::size_t{1} << 10;
    else if (unit == "M" || unit == "m")
        factor = std::size_t{1} << 20;
    else if (unit == "G" || unit == "g")
        factor = std::size_t{1} << 30;
    else
        return std::nullopt;
    if (value > kMax / factor) return std::nullopt;
    return value * factor;
}

}  // namespace sluice::config
