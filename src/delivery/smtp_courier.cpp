// smtp_courier.cpp: remote delivery over SMTP (see smtp_courier.hpp).
#include "delivery/smtp_courier.hpp"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

#include "common/log.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on some coroutine frames (GCC PR 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace sluice::delivery {
namespace asio = boost::asio;

namespace {

bool is_ip_literal(const std::string& s) {
    boost::system::error_code ec;
    asio::ip::make_address(s, ec);
    return !ec;
}

// Releases limiter slots when the coroutine leaves, however it leaves (also when its frame is
// destroyed with the io_context at shutdown, after the courier: hence shared ownership).
struct SlotGuard {
    std::shared_ptr<AsyncLimiter> a;
    std::shared_ptr<AsyncLimiter> b;
    ~SlotGuard() {
        if (b) b->release();
        if (a) a->release();
    }
};

}  // namespace

CourierOptions courier_options(const config::Config& cfg) {
    CourierOptions o;
    o.relay = cfg.relay;
    o.hostname = cfg.hostname;
    for (const auto& l : cfg.listeners) o.self.emplace_back(l.address, l.port);
    return o;
}

dns::Resolver::Options resolver_options(const config::Config& cfg) {
    return {cfg.dns.forwarders, cfg.dns.timeout, cfg.dns.trust_anchor_file};
}

SmtpCourier::SmtpCourier(asio::io_context& io, dns::Lookup& resolver, CourierOptions opts)
    : io_(io),
      resolver_(resolver),
      opts_(std::move(opts)),
      tls_plain_(asio::ssl::context::tls_client),
      tls_verify_(asio::ssl::context::tls_client),
      global_(std::make_shared<AsyncLimiter>(opts_.relay.concurrency)),
      rng_(std::random_device{}()) {
    for (auto& h : {&tls_plain_, &tls_verify_})
        h->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3);
    tls_plain_.set_verify_mode(asio::ssl::verify_none);
    boost::system::error_code ec;
    tls_verify_.set_default_verify_paths(ec);
    tls_verify_.set_verify_mode(asio::ssl::verify_peer);
}

SmtpCourier::~SmtpCourier() = default;

SmtpCourier::Destination SmtpCourier::destination(const std::string& domain) const {
    for (const auto& r : opts_.relay.routes)
        if (r.domain == domain) return {fmt::format("route:{}:{}", r.to.host, r.to.port), r.to};
    if (opts_.relay.smarthost)
        return {fmt::format("smarthost:{}:{}", opts_.relay.smarthost->host,
                            opts_.relay.smarthost->port),
                opts_.relay.smarthost};
    return {"mx:" + domain, std::nullopt};
}

bool SmtpCourier::is_self(const std::string& ip, std::uint16_t port) const {
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(ip, ec);
    if (ec) return false;
    for (const auto& [lip, lport] : opts_.self) {
        if (lport != port) continue;
        auto l = asio::ip::make_address(lip, ec);
        if (ec) continue;
        if (l == addr) return true;
        if (l.is_unspecified() && addr.is_loopback()) return true;
    }
    return false;
}

std::shared_ptr<AsyncLimiter> SmtpCourier::limiter_for(const std::string& key) {
    std::lock_guard lock(mu_);
    auto& l = limiters_[key];
    if (!l) l = std::make_shared<AsyncLimiter>(opts_.relay.concurrency_per_destination);
    return l;
}

std::shared_ptr<SmtpConnection> SmtpCourier::take_idle(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = idle_.find(key);
    while (it != idle_.end() && !it->second.empty()) {
        Idle i = std::move(it->second.back());
        it->second.pop_back();
        asio::post(i.timer->get_executor(), [t = i.timer] { t->cancel(); });
        if (i.conn->usable()) return i.conn;
    }
    return nullptr;
}

bool SmtpCourier::remove_idle(const std::string& key, const SmtpConnection* conn) {
    std::lock_guard lock(mu_);
    auto it = idle_.find(key);
    if (it == idle_.end()) return false;
    auto& v = it->second;
    auto pos =
        std::find_if(v.begin(), v.end(), [&](const Idle& i) { return i.conn.get() == conn; });
    if (pos == v.end()) return false;
    v.erase(pos);
    return true;
}

void SmtpCourier::put_idle(const std::string& key, std::shared_ptr<SmtpConnection> conn) {
    auto ex = conn->get_executor();
    auto timer = std::make_shared<asio::steady_timer>(ex, opts_.relay.idle_timeout);
    {
        std::lock_guard lock(mu_);
        idle_[key].push_back(Idle{conn, timer});
    }
    asio::post(ex, [this, key, conn, timer] {
        timer->async_wait([this, key, conn, timer](boost::system::error_code ec) {
            if (ec || !remove_idle(key, conn.get())) return;
            asio::co_spawn(conn->get_executor(), conn->quit(), asio::detached);
        });
    });
}

void SmtpCourier::deliver(Job job, std::function<void(Result)> done) {
    asio::co_spawn(asio::make_strand(io_), run(std::move(job)),
                   [done = std::move(done)](const std::exception_ptr& e, Result r) {
                       if (e) {
                           // Never leave the queue waiting: an unexpected error is temporary.
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                               log::error("relay_error", {{"error", ex.what()}});
                           } catch (...) {
                           }
                       }
                       done(std::move(r));
                   });
}

asio::awaitable<std::shared_ptr<SmtpConnection>> SmtpCourier::connect(const Destination& d,
                                                                      const std::string& domain,
                                                                      smtp::Reply& error) {
    std::vector<std::string> hosts;
    std::vector<std::uint16_t> preferences;  // of each host; empty for a configured route
    bool implicit = false;
    std::uint16_t port = opts_.relay.port;
    ClientOptions co;
    co.helo = opts_.hostname;
    co.connect_timeout = opts_.relay.connect_timeout;
    co.command_timeout = opts_.relay.command_timeout;
    co.data_timeout = opts_.relay.data_timeout;
    co.tls = opts_.relay.tls;
    co.tls_verify = opts_.relay.tls_verify;
    if (d.host) {
        hosts.push_back(d.host->host);
        port = d.host->port;
        co.tls = d.host->tls;
        co.tls_verify = d.host->tls_verify;
        co.user = d.host->user;
        co.password = d.host->password;
        co.auth_plaintext = d.host->auth_plaintext;
    } else {
        auto mx = co_await resolver_.mx(domain);
        log::debug("dns_mx", {{"domain", domain},
                              {"status", static_cast<int>(mx.status)},
                              {"records", mx.records.size()},
                              {"error", mx.error}});
        std::vector<std::string> self_names{opts_.hostname};
        for (auto& c : self_names[0])
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        dns::MxPlan plan;
        {
            std::lock_guard lock(mu_);
            plan = dns::plan_mx(domain, mx, self_names, rng_);
        }
        if (plan.error) {
            error = {plan.error->code, plan.error->enhanced, plan.error->text};
            co_return nullptr;
        }
        hosts = plan.hosts;
        preferences = plan.preferences;
        implicit = plan.implicit;
    }
    error = {451, "4.4.1", fmt::format("no mail host for {} could be reached", domain)};
    bool any_address = false, loop = false;
    std::optional<std::uint16_t> ours;  // the preference of an MX host that turned out to be us
    bool more_preferred = false;        // hosts before ours were tried (their error stands)
    for (std::size_t h = 0; h < hosts.size(); ++h) {
        const std::string& host = hosts[h];
        // RFC 5321 5.1: once we find ourselves among the MX hosts, that one and every one less
        // preferred are discarded (as plan_mx does for our host name): relaying to a backup would
        // loop between two servers that back each other up.
        if (ours && h < preferences.size() && preferences[h] >= *ours) break;
        std::vector<std::string> addrs;
        if (is_ip_literal(host)) {
            addrs.push_back(host);
        } else {
            auto aaaa = co_await resolver_.aaaa(host);
            auto a = co_await resolver_.a(host);
            addrs = dns::order_addresses(aaaa, a, {});
            if (addrs.empty()) {
                auto e = dns::address_error(host, aaaa, a, implicit);
                if (!any_address) error = {e.code, e.enhanced, e.text};
                log::warn("relay_connect", {{"domain", domain}, {"mx", host}, {"error", e.text}});
                continue;
            }
        }
        if (std::any_of(addrs.begin(), addrs.end(),
                        [&](const std::string& ip) { return is_self(ip, port); })) {
            // One of its addresses is ours: this host is us (its other addresses too).
            loop = true;
            more_preferred = more_preferred || h > 0;
            if (h < preferences.size()) ours = preferences[h];
            log::info("relay_self", {{"domain", domain}, {"mx", host}});
            continue;
        }
        for (const auto& ip : addrs) {
            any_address = true;
            auto conn = std::make_shared<SmtpConnection>(asio::make_strand(io_),
                                                         co.tls_verify ? tls_verify_ : tls_plain_);
            auto err = co_await asio::co_spawn(conn->get_executor(), conn->open(ip, port, host, co),
                                               asio::use_awaitable);
            if (err && err->enhanced == "4.7.5" && co.tls == config::TlsPolicy::opportunistic) {
                // Opportunistic TLS that fails its handshake: this host gets the message in the
                // clear rather than never (RFC 3207 leaves the choice to the client).
                log::warn("relay_tls_fallback",
                          {{"domain", domain}, {"mx", host}, {"ip", ip}, {"error", err->text}});
                co_await asio::co_spawn(conn->get_executor(), conn->quit(), asio::use_awaitable);
                ClientOptions plain = co;
                plain.tls = config::TlsPolicy::none;
                conn = std::make_shared<SmtpConnection>(asio::make_strand(io_), tls_plain_);
                err = co_await asio::co_spawn(
                    conn->get_executor(), conn->open(ip, port, host, plain), asio::use_awaitable);
            }
            if (!err) co_return conn;
            log::warn("relay_connect", {{"domain", domain},
                                        {"mx", host},
                                        {"ip", ip},
                                        {"code", err->code},
                                        {"error", err->text}});
            error = *err;
            co_await asio::co_spawn(conn->get_executor(), conn->quit(), asio::use_awaitable);
        }
    }
    // A loop only when we were the best choice: when a more preferred host failed (a DNS
    // timeout, say), its error, temporary most likely, is the answer and the message waits.
    if (loop && !any_address && !more_preferred)
        error = {554, "5.4.6", fmt::format("mail for {} loops back to myself", domain)};
    co_return nullptr;
}

asio::awaitable<Result> SmtpCourier::run(Job job) {
    const auto started = std::chrono::steady_clock::now();
    const Destination d = destination(job.domain);
    log::debug("relay_job", {{"queue_id", job.msg->envelope.queue_id},
                             {"domain", job.domain},
                             {"destination", d.key},
                             {"rcpts", job.rcpts.size()}});
    Result result;
    SlotGuard guard;
    co_await global_->acquire();
    guard.a = global_;
    auto dl = limiter_for(d.key);
    co_await dl->acquire();
    guard.b = dl;

    Envelope env = job.msg->envelope;
    env.recipients.clear();
    for (std::size_t i : job.rcpts) env.recipients.push_back(job.msg->envelope.recipients.at(i));

    std::vector<smtp::Reply> replies;
    std::shared_ptr<SmtpConnection> conn = take_idle(d.key);
    bool reused = conn != nullptr;
    smtp::Reply error;
    for (int round = 0; round < 2; ++round) {
        if (!conn) conn = co_await connect(d, job.domain, error);
        if (!conn) {
            replies.assign(env.recipients.size(), error);
            break;
        }
        replies = co_await asio::co_spawn(conn->get_executor(), conn->send(env, job.msg->message),
                                          asio::use_awaitable);
        // A reused connection the peer closed while idle: try once more on a fresh one.
        const bool lost = !conn->usable() && std::all_of(replies.begin(), replies.end(),
                                                         [](auto& r) { return r.code == 421; });
        if (reused && lost && round == 0) {
            conn.reset();
            reused = false;
            continue;
        }
        break;
    }
    if (conn) {
        result.mx = conn->host();
        result.ip = conn->ip();
        result.tls = conn->tls_description();
        const bool dsn = conn->extensions().dsn;
        if (conn->usable() && conn->transactions() < opts_.relay.messages_per_connection)
            put_idle(d.key, conn);
        else
            co_await asio::co_spawn(conn->get_executor(), conn->quit(), asio::use_awaitable);
        for (std::size_t k = 0; k < job.rcpts.size(); ++k)
            result.rcpts.push_back({job.rcpts[k], replies[k], dsn});
    } else {
        for (std::size_t k = 0; k < job.rcpts.size(); ++k)
            result.rcpts.push_back({job.rcpts[k], replies[k], false});
    }
    result.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - started)
                             .count();
    co_return result;
}

}  // namespace sluice::delivery
