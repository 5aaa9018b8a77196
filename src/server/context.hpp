// context.hpp: what every connection shares with the server: configuration, the spool, the queue,
// the recipient router and the connection counters. Owned by Server; outlives every connection.
#pragma once

#include <atomic>
#include <cstdint>

#include "config/config.hpp"
#include "delivery/local_router.hpp"
#include "queue/queue_manager.hpp"
#include "server/connection_limits.hpp"
#include "spool/spool.hpp"

namespace sluice::server {

struct Context {
    const config::Config& cfg;
    spool::Spool& spool;
    queue::QueueManager& queue;
    const delivery::LocalRouter& router;
    ConnectionLimits& limits;
    std::atomic<std::uint64_t> next_session_id{1};
};

}  // namespace sluice::server
