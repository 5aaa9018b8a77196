// server.hpp: the running MTA: listeners, connections, spool, queue manager and signal handling.
//
// Start-up order: bind every listener (so a port conflict fails before anything else happens),
// recover the spool, start delivery, then accept. SIGTERM/SIGINT: stop accepting, let transactions
// in flight finish (or 421 them after timeouts.shutdown_grace), let deliveries in progress finish,
// exit.
#pragma once

#include <memory>

#include "config/config.hpp"

namespace sluice::server {

class Server {
  public:
    explicit Server(config::Config cfg);
    ~Server();

    // Blocks until shutdown. Throws std::runtime_error when a listener cannot be bound.
    void run();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::server
