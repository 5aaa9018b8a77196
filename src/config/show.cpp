// show.cpp: the effective configuration as TOML (see show.hpp). Key names follow load.cpp and
// docs/configuration.md; a key added there needs a line here (the round-trip test notices).
#include "config/show.hpp"

#include <toml++/toml.h>

#include <sstream>

namespace sluice::config {
namespace {

toml::array strings(const std::vector<std::string>& v) {
    toml::array a;
    for (const auto& s : v) a.push_back(s);
    return a;
}

toml::array networks(const CidrList& l) {
    toml::array a;
    for (const auto& c : l.nets()) a.push_back(c.to_string());
    return a;
}

std::string endpoint(const std::string& host, std::uint16_t port) {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string_view tls_policy(TlsPolicy p) {
    switch (p) {
        case TlsPolicy::none:
            return "none";
        case TlsPolicy::opportunistic:
            return "opportunistic";
        case TlsPolicy::required:
            return "required";
    }
    return "?";
}

std::string_view deny_action(DenyAction a) {
    return a == DenyAction::drop ? "drop" : "reject";
}

std::string_view level(log::Level l) {
    switch (l) {
        case log::Level::debug:
            return "debug";
        case log::Level::info:
            return "info";
        case log::Level::warn:
            return "warn";
        case log::Level::error:
            return "error";
        case log::Level::off:
            return "off";
    }
    return "?";
}

std::string_view role(ListenerRole r) {
    switch (r) {
        case ListenerRole::mx:
            return "mx";
        case ListenerRole::submission:
            return "submission";
        case ListenerRole::submissions:
            return "submissions";
    }
    return "?";
}

std::int64_t count(std::size_t n) {
    return static_cast<std::int64_t>(n);
}

toml::table listener(const Listener& l) {
    toml::table t{{"name", l.name},
                  {"address", endpoint(l.address, l.port)},
                  {"role", role(l.role)},
                  {"starttls", l.starttls},
                  {"auth_plaintext", l.auth_plaintext},
                  {"allow", networks(l.allow)},
                  {"deny", networks(l.deny)}};
    if (l.deny_action) t.insert("deny_action", deny_action(*l.deny_action));
    if (l.message_size) t.insert("message_size", format_size(*l.message_size));
    t.insert("verify", l.verifies());
    return t;
}

toml::table relay(const Relay& r) {
    toml::table t{{"port", r.port},
                  {"tls", tls_policy(r.tls)},
                  {"tls_verify", r.tls_verify},
                  {"connect_timeout", format_duration(r.connect_timeout)},
                  {"command_timeout", format_duration(r.command_timeout)},
                  {"data_timeout", format_duration(r.data_timeout)},
                  {"concurrency", r.concurrency},
                  {"concurrency_per_destination", r.concurrency_per_destination},
                  {"messages_per_connection", r.messages_per_connection},
                  {"idle_timeout", format_duration(r.idle_timeout)}};
    if (const auto& h = r.smarthost) {
        t.insert("smarthost", endpoint(h->host, h->port));
        t.insert("smarthost_tls", tls_policy(h->tls));
        t.insert("smarthost_tls_verify", h->tls_verify);
        if (!h->user.empty()) {
            t.insert("smarthost_user", h->user);
            t.insert("smarthost_password", kMasked);
            t.insert("smarthost_auth_plaintext", h->auth_plaintext);
        }
    }
    toml::array routes;
    for (const auto& rt : r.routes) {
        toml::table e{{"domain", rt.domain},
                      {"host", endpoint(rt.to.host, rt.to.port)},
                      {"tls", tls_policy(rt.to.tls)},
                      {"tls_verify", rt.to.tls_verify}};
        if (!rt.to.user.empty()) {
            e.insert("user", rt.to.user);
            e.insert("password", kMasked);
            e.insert("auth_plaintext", rt.to.auth_plaintext);
        }
        routes.push_back(std::move(e));
    }
    if (!routes.empty()) t.insert("route", std::move(routes));
    return t;
}

toml::table auth(const Auth& a) {
    toml::table t{{"lockout_failures", count(a.lockout_failures)},
                  {"lockout_window", format_duration(a.lockout_window)},
                  {"lockout_duration", format_duration(a.lockout_duration)},
                  {"failure_delay", format_duration(a.failure_delay)},
                  {"max_failure_delay", format_duration(a.max_failure_delay)},
                  {"account_throttle_after", count(a.account_throttle_after)},
                  {"account_max_delay", format_duration(a.account_max_delay)},
                  {"threads", a.threads},
                  {"check_from_header", a.check_from_header}};
    if (!a.sqlite_file.empty()) t.insert("sqlite_file", a.sqlite_file.string());
    toml::array users;
    for (const auto& u : a.users) {
        toml::table e{
            {"name", u.name}, {"password_hash", kMasked}, {"addresses", strings(u.addresses)}};
        if (u.message_size) e.insert("message_size", format_size(*u.message_size));
        users.push_back(std::move(e));
    }
    if (!users.empty()) t.insert("user", std::move(users));
    return t;
}

toml::array rate_limits(const std::vector<RateLimit>& v) {
    toml::array a;
    for (const auto& r : v) {
        const char* scope = r.scope == RateScope::ip     ? "ip"
                            : r.scope == RateScope::user ? "user"
                                                         : "sender";
        const char* metric = r.metric == RateMetric::connections ? "connections"
                             : r.metric == RateMetric::messages  ? "messages"
                                                                 : "recipients";
        a.push_back(toml::table{{"scope", scope},
                                {"metric", metric},
                                {"limit", static_cast<std::int64_t>(r.limit)},
                                {"window", format_duration(r.window)}});
    }
    return a;
}

toml::array domains(const std::vector<Domain>& v) {
    toml::array a;
    for (const auto& d : v) {
        toml::table aliases;
        for (const auto& [local, to] : d.aliases) aliases.insert(local, strings(to));
        toml::table e{{"name", d.name},
                      {"mailboxes", strings(d.mailboxes)},
                      {"aliases", std::move(aliases)},
                      {"any_user", d.any_user}};
        if (d.catch_all) e.insert("catch_all", *d.catch_all);
        a.push_back(std::move(e));
    }
    return a;
}

}  // namespace

std::string format_duration(Duration d) {
    const std::int64_t ms = d.count();
    struct Unit {
        std::int64_t ms;
        const char* name;
    };
    for (const Unit u :
         {Unit{86'400'000, "d"}, Unit{3'600'000, "h"}, Unit{60'000, "m"}, Unit{1'000, "s"}}) {
        if (ms != 0 && ms % u.ms == 0) return std::to_string(ms / u.ms) + u.name;
    }
    return std::to_string(ms) + "ms";
}

std::string format_size(std::size_t bytes) {
    for (const auto& [shift, name] : {std::pair{30, "G"}, std::pair{20, "M"}, std::pair{10, "K"}}) {
        const std::size_t unit = std::size_t{1} << shift;
        if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes / unit) + name;
    }
    return std::to_string(bytes);
}

std::string show(const Config& cfg) {
    const auto& lim = cfg.limits;
    toml::array listeners;
    for (const auto& l : cfg.listeners) listeners.push_back(listener(l));
    toml::table queue{{"retry_initial", format_duration(cfg.queue.retry_initial)},
                      {"retry_max", format_duration(cfg.queue.retry_max)},
                      {"lifetime", format_duration(cfg.queue.lifetime)}};
    if (cfg.queue.delay_warning)
        queue.insert("delay_warning", format_duration(*cfg.queue.delay_warning));
    toml::table dns{{"forwarders", strings(cfg.dns.forwarders)},
                    {"timeout", format_duration(cfg.dns.timeout)}};
    if (!cfg.dns.trust_anchor_file.empty())
        dns.insert("trust_anchor_file", cfg.dns.trust_anchor_file.string());
    toml::table tls{{"enabled", cfg.tls.enabled},
                    {"min_version", cfg.tls.min_tls13 ? "1.3" : "1.2"}};
    if (!cfg.tls.self_signed) {
        tls.insert("cert_file", cfg.tls.cert_file.string());
        tls.insert("key_file", cfg.tls.key_file.string());
    }

    toml::table root{
        {"hostname", cfg.hostname},
        {"data_dir", cfg.data_dir.string()},
        {"control_socket", cfg.control_socket.string()},
        {"workers", cfg.workers},
        {"recipient_delimiter", cfg.recipient_delimiter},
        {"user", cfg.user},
        {"listener", std::move(listeners)},
        {"limits", toml::table{{"message_size", format_size(lim.message_size)},
                               {"recipients", count(lim.recipients)},
                               {"command_line", count(lim.command_line)},
                               {"text_line", count(lim.text_line)},
                               {"connections", count(lim.connections)},
                               {"connections_per_ip", count(lim.connections_per_ip)},
                               {"connections_per_network", count(lim.connections_per_network)},
                               {"stress_connections", count(lim.stress_connections)},
                               {"errors", count(lim.errors)},
                               {"received_headers", count(lim.received_headers)},
                               {"min_data_rate", count(lim.min_data_rate)},
                               {"min_data_rate_grace", format_duration(lim.min_data_rate_grace)},
                               {"transactions", count(lim.transactions)},
                               {"header_size", format_size(lim.header_size)},
                               {"message_buffer", format_size(lim.message_buffer)},
                               {"message_buffers_total", format_size(lim.message_buffers_total)},
                               {"forbid_unauth_pipelining", lim.forbid_unauth_pipelining}}},
        {"timeouts", toml::table{{"command", format_duration(cfg.timeouts.command)},
                                 {"stress_command", format_duration(cfg.timeouts.stress_command)},
                                 {"data_block", format_duration(cfg.timeouts.data_block)},
                                 {"session", format_duration(cfg.timeouts.session)},
                                 {"shutdown_grace", format_duration(cfg.timeouts.shutdown_grace)}}},
        {"access", toml::table{{"allow", networks(cfg.access.allow)},
                               {"deny", networks(cfg.access.deny)},
                               {"trusted", networks(cfg.access.trusted)},
                               {"deny_action", deny_action(cfg.access.deny_action)}}},
        {"log", toml::table{{"level", level(cfg.log.level)},
                            {"format", cfg.log.format == log::Format::json ? "json" : "logfmt"},
                            {"file", cfg.log.file}}},
        {"spool", toml::table{{"dir", cfg.spool.dir.string()},
                              {"sync_threads", cfg.spool.sync_threads},
                              {"batch", cfg.spool.batch}}},
        {"delivery",
         toml::table{
             {"maildir_root", cfg.delivery.maildir_root.string()},
             {"workers", cfg.delivery.workers},
             {"maildir_line_endings",
              cfg.delivery.maildir_line_endings == LineEndings::crlf ? "crlf" : "lf"},
             {"maildir_sync", cfg.delivery.maildir_sync == MaildirSync::each ? "each" : "batch"},
             {"batch", cfg.delivery.batch},
             {"nice", cfg.delivery.nice}}},
        {"queue", std::move(queue)},
        {"dns", std::move(dns)},
        {"verify",
         toml::table{
             {"spf", cfg.verify.spf},
             {"spf_helo", cfg.verify.spf_helo},
             {"dkim", cfg.verify.dkim},
             {"dmarc", cfg.verify.dmarc},
             {"dmarc_reject", cfg.verify.dmarc_reject == DmarcAction::reject ? "reject" : "tag"},
             {"trusted_forwarders", networks(cfg.verify.trusted_forwarders)},
             {"skip", networks(cfg.verify.skip)},
             {"authserv_id", cfg.verify.authserv_id},
             {"received_spf", cfg.verify.received_spf},
             {"spf_fail", cfg.verify.spf_fail == SpfAction::reject ? "reject" : "tag"},
             {"spf_temperror",
              cfg.verify.spf_temperror == TempAction::tempfail ? "tempfail" : "accept"}}},
        {"relay", relay(cfg.relay)},
        {"tls", std::move(tls)},
        {"auth", auth(cfg.auth)},
        {"domain", domains(cfg.domains)},
    };
    if (!cfg.rate_limits.empty()) root.insert("rate_limit", rate_limits(cfg.rate_limits));
    if (!cfg.dkim_keys.empty()) {
        toml::array keys;
        for (const auto& k : cfg.dkim_keys)
            keys.push_back(toml::table{
                {"domain", k.domain}, {"selector", k.selector}, {"key_file", k.key_file.string()}});
        root.insert("dkim_key", std::move(keys));
    }
    std::ostringstream out;
    out << root << '\n';
    return out.str();
}

}  // namespace sluice::config
