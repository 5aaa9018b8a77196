// load_network.cpp: [relay] and its routes, [[listener]], and the listener roles check (see
// loader.hpp).
#include "config/loader.hpp"

namespace sluice::config::detail {

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
                    "deny_action", "message_size", "verify"});
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
        if (const auto b = boolean(t, prefix, "verify")) l.verify = *b;
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

}  // namespace sluice::config::detail
