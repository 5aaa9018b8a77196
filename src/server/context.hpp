// context.hpp: what every connection shares with the server: configuration, the spool, the queue,
// the recipient router and the connection counters. Owned by Server; outlives every connection.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <boost/asio/thread_pool.hpp>

#include "auth/login_guard.hpp"
#include "auth/user_store.hpp"
#include "config/config.hpp"
#include "delivery/local_router.hpp"
#include "intake/intake.hpp"
#include "policy/rate_limit.hpp"
#include "queue/queue_manager.hpp"
#include "server/connection_limits.hpp"
#include "spool/spool.hpp"
#include "tls/context.hpp"

namespace sluice::server {

struct Context {
    const config::Config& cfg;
    spool::Spool& spool;
    queue::QueueManager& queue;
    const delivery::LocalRouter& router;
    ConnectionLimits& limits;
    std::atomic<std::uint64_t> next_session_id{1};
    // TLS, AUTH and sending limits (set by Server::run; null when not configured).
    tls::ContextHolder* tls = nullptr;
    const auth::UserStore* users = nullptr;
    auth::LoginGuard* login_guard = nullptr;
    boost::asio::thread_pool* auth_pool = nullptr;
    policy::RateLimiter* rate_limiter = nullptr;
    intake::Intake* intake = nullptr;  // every accepted message goes through it
    // Blocking file writes of connections (message bodies streamed into the spool).
    boost::asio::thread_pool* file_pool = nullptr;
    // Message bytes all connections hold in memory (limits.message_buffers_total).
    std::atomic<std::size_t> message_memory{0};
};

}  // namespace sluice::server
