// security.hpp: owns the TLS context, the user store, the login guard, the auth thread pool and
// the rate limiter for a running server, built from the configuration, and wires them into the
// Context that every connection shares. Also: certificate reload (SIGHUP) and the rate-limit
// counters' persistence across restarts.
//
// SECURITY: the certificate key and the user database are read here, before privileges are
// dropped; a reload after the drop needs files the service user can read (a failed reload keeps
// the old certificate). Counters are saved off the event loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>

#include "server/context.hpp"

namespace sluice::server {

class Security {
  public:
    // Makes the self-signed certificate when configured so, loads everything; throws
    // std::runtime_error when a file cannot be used.
    Security(const config::Config& cfg, boost::asio::io_context& io);
    ~Security();

    void attach(Context& ctx);
    // SIGHUP: reload the certificate and key (logged either way).
    void reload();
    // Starts the periodic save of the rate-limit counters; stop() saves them a last time.
    void start();
    void stop();

  private:
    void schedule_save();
    void save_counters_now();

    const config::Config& cfg_;
    boost::asio::io_context& io_;
    std::unique_ptr<tls::ContextHolder> tls_;
    std::unique_ptr<auth::UserStore> users_;
    std::unique_ptr<auth::LoginGuard> guard_;
    std::unique_ptr<boost::asio::thread_pool> pool_;
    std::unique_ptr<policy::MemoryCounterStore> counters_;
    std::unique_ptr<policy::RateLimiter> limiter_;
    std::string counters_path_;
    boost::asio::steady_timer save_timer_;
    std::mutex save_mu_;
    bool stopped_ = false;
};

}  // namespace sluice::server
