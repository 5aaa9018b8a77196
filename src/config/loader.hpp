// loader.hpp: the configuration loader's internals (private to src/config): the typed, checked
// getters every section uses and one method per section, split by file: load.cpp (getters, the
// whole-file driver, the public entry points), load_sections.cpp (limits, timeouts, access, log,
// queue, dns, tls, auth, rate limits), load_network.cpp (relay, listeners, roles),
// load_domains.cpp (domains, aliases, catch-alls).
#pragma once

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

namespace sluice::config::detail {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

inline std::string format_what(const std::string& source, const std::string& key, int line,
                               int column, const std::string& message) {
    std::string s = source + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
    if (!key.empty()) s += key + ": ";
    return s + message;
}

inline std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// RFC 1035 2.3.1 host name (letters, digits, hyphens; labels of 1-63; at most 253 in total). The
// last label may not be all digits, so an IPv4 address is never taken for a name.
inline bool is_valid_domain_name(std::string_view name) {
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
inline bool is_valid_listener_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
               c == '_' || c == '.';
    });
}

inline std::string system_hostname() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) == 0 && is_valid_domain_name(buf)) return buf;
    return "localhost";
}

inline std::filesystem::path absolute_path(const std::filesystem::path& p) {
    return std::filesystem::absolute(p).lexically_normal();
}

inline const char* type_name(const toml::node& n) {
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

inline std::string join(const std::string& prefix, std::string_view name) {
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
    // A byte count: an integer or "512K", "25M", "1G"; at least `min`.
    std::optional<std::size_t> size(const toml::table& t, const std::string& prefix,
                                    std::string_view name, std::size_t min) const;

    void load_limits(const toml::table& t, Limits& out) const;
    void load_timeouts(const toml::table& t, Timeouts& out) const;
    void load_access(const toml::table& t, Access& out) const;
    void load_log(const toml::table& t, Log& out) const;
    void load_queue(const toml::table& t, Queue& out) const;
    void load_verify(const toml::table& t, Verify& out) const;
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
    void load_dkim_keys(const toml::node& n, std::vector<DkimKey>& out) const;
    void check_roles(const toml::table& root, const Config& cfg) const;
    void load_domains(const toml::node& n, std::vector<Domain>& out) const;
    std::string resolve_target(const PendingTarget& p, const std::vector<Domain>& domains) const;

    std::string source_;
};

}  // namespace sluice::config::detail
