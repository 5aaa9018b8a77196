// load_sections.cpp: the [limits], [timeouts], [access], [log], [queue], [dns], [tls], [auth] and
// [[rate_limit]] sections (see loader.hpp).
#include "common/ascii.hpp"
#include "config/loader.hpp"

namespace sluice::config::detail {

void Loader::load_limits(const toml::table& t, Limits& out) const {
    const std::string p = "limits";
    check_keys(
        t, p,
        {"message_size", "recipients", "command_line", "text_line", "connections",
         "connections_per_ip", "errors", "received_headers", "min_data_rate", "min_data_rate_grace",
         "transactions", "header_size", "message_buffer", "message_buffers_total",
         "forbid_unauth_pipelining", "connections_per_network", "stress_connections"});
    if (const auto b = boolean(t, p, "forbid_unauth_pipelining")) out.forbid_unauth_pipelining = *b;
    if (const auto size = message_size(t, p)) out.message_size = *size;
    if (const auto v = size(t, p, "header_size", 1024)) out.header_size = *v;
    if (const auto v = size(t, p, "message_buffer", 4096)) out.message_buffer = *v;
    if (const auto v = size(t, p, "message_buffers_total", 65536)) out.message_buffers_total = *v;
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
    set("connections_per_network", out.connections_per_network, 1);
    set("stress_connections", out.stress_connections, 0);
    set("errors", out.errors, 1);
    set("received_headers", out.received_headers, 1);
    set("min_data_rate", out.min_data_rate, 0);
    if (const auto d = duration(t, p, "min_data_rate_grace")) out.min_data_rate_grace = *d;
    set("transactions", out.transactions, 1);
}

void Loader::load_timeouts(const toml::table& t, Timeouts& out) const {
    const std::string p = "timeouts";
    check_keys(t, p, {"command", "stress_command", "data_block", "session", "shutdown_grace"});
    if (const auto d = duration(t, p, "command")) out.command = *d;
    if (const auto d = duration(t, p, "stress_command")) out.stress_command = *d;
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

void Loader::load_verify(const toml::table& t, Verify& out) const {
    const std::string p = "verify";
    check_keys(t, p,
               {"spf", "spf_helo", "authserv_id", "received_spf", "spf_fail", "spf_temperror",
                "skip", "dkim", "dmarc", "dmarc_reject", "trusted_forwarders"});
    if (const auto b = boolean(t, p, "dkim")) out.dkim = *b;
    if (const auto b = boolean(t, p, "dmarc")) out.dmarc = *b;
    cidr_list(t, p, "trusted_forwarders", out.trusted_forwarders);
    if (const auto a = string(t, p, "dmarc_reject")) {
        if (*a == "reject")
            out.dmarc_reject = DmarcAction::reject;
        else if (*a == "tag")
            out.dmarc_reject = DmarcAction::tag;
        else
            fail("verify.dmarc_reject", *t.get("dmarc_reject"), "must be \"reject\" or \"tag\"");
    }
    if (t.get("skip")) {
        out.skip = CidrList{};
        cidr_list(t, p, "skip", out.skip);
    }
    if (const auto b = boolean(t, p, "spf")) out.spf = *b;
    if (const auto b = boolean(t, p, "spf_helo")) out.spf_helo = *b;
    if (const auto b = boolean(t, p, "received_spf")) out.received_spf = *b;
    if (const auto id = string(t, p, "authserv_id")) {
        // A value (RFC 8601 2.2: a token or a domain name) that goes into a header field as is.
        bool ok = !id->empty() && id->size() <= 255;
        for (char c : *id)
            ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_');
        if (!ok)
            fail("verify.authserv_id", *t.get("authserv_id"),
                 "must be a host name (letters, digits, '.', '-', '_')");
        out.authserv_id = *id;
    }
    if (const auto a = string(t, p, "spf_fail")) {
        if (*a == "tag")
            out.spf_fail = SpfAction::tag;
        else if (*a == "reject")
            out.spf_fail = SpfAction::reject;
        else
            fail("verify.spf_fail", *t.get("spf_fail"), "must be \"tag\" or \"reject\"");
    }
    if (const auto a = string(t, p, "spf_temperror")) {
        if (*a == "accept")
            out.spf_temperror = TempAction::accept;
        else if (*a == "tempfail")
            out.spf_temperror = TempAction::tempfail;
        else
            fail("verify.spf_temperror", *t.get("spf_temperror"),
                 "must be \"accept\" or \"tempfail\"");
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
                "failure_delay", "max_failure_delay", "account_throttle_after", "account_max_delay",
                "threads", "check_from_header"});
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
    if (const auto v = integer(t, p, "account_throttle_after", 1, 100000))
        out.account_throttle_after = static_cast<std::size_t>(*v);
    if (const auto d = duration(t, p, "account_max_delay")) out.account_max_delay = *d;
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

void Loader::load_dkim_keys(const toml::node& n, std::vector<DkimKey>& out) const {
    if (!n.is_array_of_tables()) wrong_type("dkim_key", n, "array of tables ([[dkim_key]])");
    std::size_t i = 0;
    for (const toml::node& e : *n.as_array()) {
        const std::string prefix = "dkim_key[" + std::to_string(i++) + "]";
        const toml::table& t = *e.as_table();
        check_keys(t, prefix, {"domain", "selector", "key_file"});
        DkimKey k;
        const auto domain = string(t, prefix, "domain");
        if (!domain) fail(prefix + ".domain", t.source(), "required key is missing");
        if (!is_valid_domain_name(*domain))
            fail(prefix + ".domain", *t.get("domain"), "\"" + *domain + "\" is not a domain name");
        k.domain = ascii_lower(*domain);
        const auto selector = string(t, prefix, "selector");
        if (!selector) fail(prefix + ".selector", t.source(), "required key is missing");
        // One or more DNS labels (RFC 6376 3.1), as they appear in <selector>._domainkey.
        bool ok = !selector->empty() && selector->size() <= 63 && selector->front() != '.' &&
                  selector->back() != '.' && selector->find("..") == std::string::npos;
        for (char c : *selector)
            ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.');
        if (!ok)
            fail(prefix + ".selector", *t.get("selector"),
                 "must be DNS labels (letters, digits, '-', '_', '.')");
        k.selector = *selector;
        const auto file = path(t, prefix, "key_file");
        if (!file) fail(prefix + ".key_file", t.source(), "required key is missing");
        k.key_file = *file;
        for (const auto& other : out)
            if (other.domain == k.domain && other.selector == k.selector)
                fail(prefix + ".selector", *t.get("selector"),
                     "domain " + k.domain + " already has a key with this selector");
        out.push_back(std::move(k));
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

}  // namespace sluice::config::detail
