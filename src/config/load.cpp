// load.cpp: reads the TOML configuration and validates every key into a Config (see config.hpp and
// docs/configuration.md).
//
// SECURITY: the file is trusted operator input, but its values become paths, limits, access lists
// and mailbox names, so each is type- and range-checked here, once, and the rest of the server can
// rely on a Config being consistent. Unknown keys are errors, so a misspelt key never silently
// keeps its default. Every error names the full key path and the line it was found on.
#include "config/loader.hpp"

namespace sluice::config {
namespace detail {

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
    return size(t, prefix, "message_size", 1024);
}

std::optional<std::size_t> Loader::size(const toml::table& t, const std::string& prefix,
                                        std::string_view name, std::size_t min) const {
    const toml::node* n = t.get(name);
    if (n == nullptr) return std::nullopt;
    const std::string key = join(prefix, name);
    const std::string too_small = "must be at least " + std::to_string(min);
    std::optional<std::size_t> size;
    if (n->is_integer()) {
        const std::int64_t v = n->as_integer()->get();
        if (v >= 0)
            size = static_cast<std::size_t>(v);
        else
            fail(key, *n, too_small);
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
    if (*size < min) fail(key, *n, too_small);
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

Config Loader::load(const toml::table& root) {
    Config cfg;
    check_keys(root, "",
               {"hostname", "data_dir", "control_socket", "workers",    "recipient_delimiter",
                "user",     "listener", "limits",         "timeouts",   "access",
                "log",      "spool",    "delivery",       "queue",      "dns",
                "relay",    "tls",      "auth",           "rate_limit", "domain",
                "verify",   "dkim_key"});

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
    cfg.verify.authserv_id = cfg.hostname;
    if (const auto* t = table(root, "", "verify")) load_verify(*t, cfg.verify);
    if (const auto* t = table(root, "", "relay")) load_relay(*t, cfg.relay);
    if (const auto* t = table(root, "", "tls")) load_tls(*t, cfg.tls);
    if (cfg.tls.self_signed) {
        cfg.tls.cert_file = cfg.data_dir / "tls" / "cert.pem";
        cfg.tls.key_file = cfg.data_dir / "tls" / "key.pem";
    }
    if (const auto* t = table(root, "", "auth")) load_auth(*t, cfg.auth);
    if (const toml::node* n = root.get("rate_limit")) load_rate_limits(*n, cfg.rate_limits);
    if (const toml::node* n = root.get("dkim_key")) load_dkim_keys(*n, cfg.dkim_keys);
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

}  // namespace detail

using namespace detail;  // the loader and its helpers (loader.hpp)

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
    cfg.verify.authserv_id = cfg.hostname;
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
