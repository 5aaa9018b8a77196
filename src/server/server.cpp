// server.cpp: listeners, accept loops, shutdown (see server.hpp).
#include "server/server.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/log.hpp"
#include "common/sync_dir.hpp"
#include "common/thread_name.hpp"
#include "delivery/maildir_transport.hpp"
#include "delivery/smtp_courier.hpp"
#include "dns/resolver.hpp"
#include "intake/intake.hpp"
#include "server/connection.hpp"
#include "server/control_socket.hpp"
#include "server/policies.hpp"
#include "server/privileges.hpp"
#include "server/sd_notify.hpp"
#include "server/security.hpp"

namespace sluice::server {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kMinIdleToEvict = std::chrono::seconds(1);
constexpr int kListenBacklog = 4096;  // a tiny backlog drops bursts of new connections

std::string ip_string(const asio::ip::address& a) {
    // Show IPv4-mapped IPv6 clients as plain IPv4 so limits and logs treat them as one client.
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
    return a.to_string();
}
}  // namespace

struct Server::Impl {
    config::Config cfg;
    asio::io_context io;
    spool::Spool spool;
    delivery::LocalRouter router;
    dns::Resolver resolver;
    delivery::SmtpCourier courier;
    delivery::MaildirTransport maildir;
    queue::QueueManager queue;
    ConnectionLimits limits;
    asio::thread_pool file_pool{2};  // streamed message bodies (page-cache writes, no sync)
    Context ctx;
    std::unique_ptr<intake::Intake> intake;
    std::vector<policy::Chain> chains;  // one per listener, as cfg.listeners
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    asio::signal_set signals;
    asio::signal_set hup_signal{io, SIGHUP};
    std::unique_ptr<Security> security;
    std::unique_ptr<ControlSocket> control;  // queue admin (sluice queue flush/hold/...)
    std::mutex conns_mu;
    std::set<std::shared_ptr<Connection>> conns;
    bool stopping = false;
    std::atomic<bool> stressed{false};  // as last logged

    explicit Impl(config::Config c)
        : cfg(std::move(c)),
          io(static_cast<int>(cfg.workers)),
          spool(spool::Spool::Options{cfg.spool.dir, cfg.spool.sync_threads, nullptr,
                                      cfg.spool.batch}),
          router(cfg),
          resolver(io, delivery::resolver_options(cfg)),
          courier(io, resolver, delivery::courier_options(cfg)),
          maildir(delivery::maildir_options(cfg), router),
          queue(queue::options_from(cfg, &maildir, &courier), spool, router),
          limits(cfg.limits.connections, cfg.limits.connections_per_ip,
                 cfg.limits.connections_per_network, cfg.limits.stress_connections),
          ctx{cfg, spool, queue, router, limits},
          signals(io, SIGTERM, SIGINT) {}

    void bind_listeners() {
        for (const auto& l : cfg.listeners) {
            boost::system::error_code ec;
            auto addr = asio::ip::make_address(l.address, ec);
            if (ec)
                throw std::runtime_error(
                    fmt::format("listener {}: bad address {}", l.name, l.address));
            tcp::endpoint ep(addr, l.port);
            auto acc = std::make_unique<tcp::acceptor>(io);
            acc->open(ep.protocol(), ec);
            if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
            if (!ec && addr.is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
            if (!ec) acc->bind(ep, ec);
            if (!ec) acc->listen(kListenBacklog, ec);
            if (ec)
                throw std::runtime_error(fmt::format("listener {}: cannot listen on {}:{}: {}",
                                                     l.name, l.address, l.port, ec.message()));
            acceptors.push_back(std::move(acc));
        }
    }

    // Admission, before any session: the connection rate limit and the connection counts. What
    // a client may do once admitted is the Policy chain's (access lists at its connect event).
    asio::awaitable<void> accept_loop(tcp::acceptor& acc, const config::Listener& l,
                                      const policy::Chain& chain) {
        while (true) {
            tcp::endpoint remote;  // filled by accept itself: no getpeername() per connection
            auto [ec, sock] = co_await acc.async_accept(asio::make_strand(io), remote,
                                                        asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (ec == asio::error::operation_aborted || !acc.is_open()) co_return;
                // EMFILE and friends: back off briefly instead of spinning.
                log::warn("accept_error", {{"listener", l.name}, {"error", ec.message()}});
                asio::steady_timer t(io, std::chrono::milliseconds(100));
                co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
                continue;
            }
            boost::system::error_code ec2;
            sock.set_option(tcp::no_delay(true), ec2);
            std::string ip = ip_string(remote.address());
            std::optional<smtp::Reply> rejection;
            if (ctx.rate_limiter && ctx.rate_limiter->has(policy::Metric::connections)) {
                auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
                policy::Subjects who{ip, {}, {}};
                if (auto rule = ctx.rate_limiter->check(policy::Metric::connections, who, 1, now)) {
                    rejection = smtp::Reply{
                        421, "4.7.0",
                        fmt::format("{} {}", cfg.hostname, policy::RateLimiter::describe(*rule))};
                    log_refusal(0, ip,
                                {"CONNECT", "rate_limit", rejection->code, rejection->enhanced,
                                 rejection->text});
                    auto text = std::make_shared<std::string>(smtp::format_reply(*rejection));
                    auto s = std::make_shared<tcp::socket>(std::move(sock));
                    asio::async_write(*s, asio::buffer(*text), [s, text](auto, auto) {});
                    continue;
                }
                ctx.rate_limiter->record(policy::Metric::connections, who, 1, now);
            }
            auto admit = limits.acquire(ip);
            // Every slot taken: the idlest unauthenticated session makes room (a slowloris
            // attack holds slots with sessions that never finish a command).
            if (admit == ConnectionLimits::Admit::total_full && evict_idlest())
                admit = limits.force_acquire(ip);
            note_stress();
            switch (admit) {
                case ConnectionLimits::Admit::ok:
                    break;
                case ConnectionLimits::Admit::total_full:
                    rejection = smtp::Reply{
                        421, "4.7.0",
                        fmt::format("{} Too many connections, try again later", cfg.hostname)};
                    break;
                case ConnectionLimits::Admit::ip_full:
                    rejection = smtp::Reply{
                        421, "4.7.0",
                        fmt::format("{} Too many connections from your address", cfg.hostname)};
                    break;
                case ConnectionLimits::Admit::net_full:
                    rejection = smtp::Reply{
                        421, "4.7.0",
                        fmt::format("{} Too many connections from your network", cfg.hostname)};
                    break;
            }
            if (rejection) {
                // Over a limit: say why and hang up, without a session.
                log_refusal(0, ip,
                            {"CONNECT", "too_many_connections", rejection->code,
                             rejection->enhanced, rejection->text});
                auto text = std::make_shared<std::string>(smtp::format_reply(*rejection));
                auto s = std::make_shared<tcp::socket>(std::move(sock));
                asio::async_write(*s, asio::buffer(*text), [s, text](auto, auto) {});
                continue;
            }
            auto conn =
                std::make_shared<Connection>(std::move(sock), ctx, l, chain, ip, remote.port());
            {
                std::lock_guard lock(conns_mu);
                conns.insert(conn);
            }
            asio::co_spawn(
                conn->get_executor(),
                [this, conn]() -> asio::awaitable<void> {
                    co_await conn->run();
                    std::lock_guard lock(conns_mu);
                    conns.erase(conn);
                },
                asio::detached);
        }
    }

    // Asks the connection that has waited longest for a command, unauthenticated and outside a
    // transaction, to close (421); true if there was one that has waited at least
    // kMinIdleToEvict (busy sessions are never cut off for a newcomer).
    bool evict_idlest() {
        std::shared_ptr<Connection> victim;
        auto oldest = std::chrono::steady_clock::time_point::max();
        {
            std::lock_guard lock(conns_mu);
            for (const auto& c : conns) {
                const auto since = c->idle_since();
                if (since < oldest) {
                    oldest = since;
                    victim = c;
                }
            }
        }
        if (!victim || oldest > std::chrono::steady_clock::now() - kMinIdleToEvict) return false;
        return victim->evict();
    }

    void note_stress() {
        const bool now = limits.stressed();
        if (now == stressed.exchange(now)) return;
        if (now)
            log::warn("stress",
                      {{"connections", limits.active()},
                       {"command_timeout_s", std::chrono::duration_cast<std::chrono::seconds>(
                                                 cfg.timeouts.stress_command)
                                                 .count()}});
        else
            log::info("stress_over", {{"connections", limits.active()}});
    }

    std::size_t connection_count() {
        std::lock_guard lock(conns_mu);
        return conns.size();
    }

    void request_shutdown_all(bool force) {
        std::lock_guard lock(conns_mu);
        for (auto& c : conns) c->request_shutdown(force);
    }

    asio::awaitable<void> shutdown_sequence() {
        log::info("shutdown", {{"connections", connection_count()}});
        sd_notify(fmt::format("STOPPING=1\nSTATUS=Stopping: {} connections to finish",
                              connection_count()));
        for (auto& a : acceptors) {
            boost::system::error_code ec;
            a->close(ec);
        }
        if (control) control->close();
        request_shutdown_all(false);
        asio::steady_timer t(io);
        auto grace_end = std::chrono::steady_clock::now() + cfg.timeouts.shutdown_grace;
        bool forced = false;
        while (connection_count() > 0) {
            if (!forced && std::chrono::steady_clock::now() >= grace_end) {
                request_shutdown_all(true);
                forced = true;
            }
            t.expires_after(std::chrono::milliseconds(20));
            co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        io.stop();
    }
};

Server::Server(config::Config cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}
Server::~Server() = default;

void Server::run() {
    Impl& s = *impl_;
    // Whatever lives under data_dir (control socket, TLS key, rate-limit state) needs it, even
    // when the spool and Maildir root are configured elsewhere. New: 0700, as the spool.
    if (std::error_code ec; std::filesystem::create_directories(s.cfg.data_dir, ec))
        std::filesystem::permissions(s.cfg.data_dir, std::filesystem::perms::owner_all, ec);
    else if (ec)
        throw std::runtime_error("data_dir " + s.cfg.data_dir.string() + ": " + ec.message());
    s.bind_listeners();
    // Certificates and user databases are read (or made) while still privileged.
    s.security = std::make_unique<Security>(s.cfg, s.io);
    s.security->attach(s.ctx);
    s.intake = std::make_unique<intake::Intake>(
        intake::Intake::Options{s.cfg.hostname}, s.spool,
        [&s](std::shared_ptr<const spool::StoredMessage> m) { s.queue.enqueue(std::move(m)); },
        s.ctx.rate_limiter);
    s.intake->add_modifier(intake::strip_forged_results(s.cfg.verify.authserv_id));
    // Signing keys are read now, while still privileged (key files are 0600, root's or ours).
    if (!s.cfg.dkim_keys.empty()) {
        std::vector<trust::dkim::SigningKey> keys;
        for (std::size_t i = 0; i < s.cfg.dkim_keys.size(); ++i) {
            const auto& k = s.cfg.dkim_keys[i];
            std::string err;
            auto key = trust::dkim::load_signing_key(k.key_file, k.domain, k.selector, &err);
            if (!key) throw std::runtime_error(fmt::format("dkim_key[{}].key_file: {}", i, err));
            keys.push_back(std::move(*key));
        }
        s.intake->add_modifier(intake::dkim_signer(std::move(keys)));
    }
    s.ctx.intake = s.intake.get();
    s.ctx.file_pool = &s.file_pool;
    for (const auto& l : s.cfg.listeners)
        s.chains.push_back(build_chain(s.cfg, l, s.router, s.ctx.users != nullptr,
                                       s.ctx.rate_limiter, s.resolver));
    drop_privileges(s.cfg.user, {s.cfg.data_dir, s.cfg.spool.dir, s.cfg.delivery.maildir_root});
    // Created after the privilege drop, so it belongs to the user that owns the data directory;
    // before recovery, so a second server on the same data directory stops here. Commands are
    // served once the event loop runs, after the queue has started.
    s.control = std::make_unique<ControlSocket>(s.io, s.cfg.control_socket, s.queue);
    s.control->start();
    if ((s.cfg.spool.batch > 1 || s.cfg.delivery.maildir_sync == config::MaildirSync::batch) &&
        !syncfs_reports_errors()) {
        log::warn("sync_batching_off",
                  {{"reason", "kernel older than 5.8: syncfs does not report write errors"},
                   {"effect", "one fsync per spool commit and per Maildir copy"}});
    }
    auto recovered = s.spool.recover();
    log::info("spool_recovered",
              {{"messages", recovered.size()}, {"dir", s.cfg.spool.dir.string()}});
    s.maildir.start();
    s.queue.start(std::move(recovered));

    for (std::size_t i = 0; i < s.acceptors.size(); ++i) {
        const auto& l = s.cfg.listeners[i];
        log::info("listening", {{"listener", l.name},
                                {"address", l.address},
                                {"port", static_cast<unsigned>(l.port)}});
        asio::co_spawn(s.io, s.accept_loop(*s.acceptors[i], l, s.chains[i]), asio::detached);
    }
    // Readiness (Type=notify): posted behind the accept loops, so it is sent from the running
    // event loop once every listener accepts and the queue is delivering.
    asio::post(s.io, [&s] {
        sd_notify(
            fmt::format("READY=1\nSTATUS=Accepting mail on {} listener(s)", s.acceptors.size()));
    });
    s.security->start();
    // SIGHUP: new TLS handshakes use the reloaded certificate; sessions keep theirs.
    std::function<void()> wait_hup = [&s, &wait_hup] {
        s.hup_signal.async_wait([&s, &wait_hup](const boost::system::error_code& ec, int) {
            if (ec) return;
            sd_notify(sd_reloading_state());  // systemctl reload waits for the READY=1
            log::reopen();                    // [log] file, after logrotate moved it
            s.security->reload();
            sd_notify("READY=1");
            wait_hup();
        });
    };
    wait_hup();
    s.signals.async_wait([&s](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        log::info("signal", {{"signal", sig}});
        asio::co_spawn(s.io, s.shutdown_sequence(), asio::detached);
    });

    // Default: half the cores. The spool, delivery and kernel (TCP, file system) work of a message
    // takes about as much CPU as its protocol work, and threads sharing one io_context wake each
    // other for every handler they hand over: on 2 cores one event-loop thread accepted ~6% more
    // with 10% less CPU per message than two (docs/benchmarks.md).
    unsigned n =
        s.cfg.workers ? s.cfg.workers : std::max(1u, std::thread::hardware_concurrency() / 2);
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < n; ++i)
        threads.emplace_back([&s] {
            set_thread_name("sluice-io");
            s.io.run();
        });
    s.io.run();
    for (auto& t : threads) t.join();
    s.control->close();
    s.control->join();  // a queue command in progress finishes before the queue stops
    // The transports first: none answers a queue that is gone (a dropped job stays in the spool).
    s.maildir.stop();
    s.queue.stop();
    s.security->stop();
    log::info("stopped", {});
}

}  // namespace sluice::server
