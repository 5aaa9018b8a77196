// control_socket.hpp: the local control socket through which `sluice queue flush|hold|release|
// delete` act on the running server. A Unix-domain stream socket (default <data_dir>/control.sock)
// served by one coroutine on the event loop; each connection carries one request line and gets one
// response line (server/control_protocol.hpp). The queue commands read and write the spool, so they
// run on a private one-thread pool (which also serialises them), never on the event loop.
//
// SECURITY: the socket is the trust boundary. It is created with mode 0600 (chmod before listen(),
// so nobody can connect in between) in the data directory, after privileges are dropped, so only
// the user the server runs as (and root) can connect; the peer's uid is checked again with
// SO_PEERCRED. Requests are still validated strictly (control_protocol), read with a length cap
// and a deadline. A stale socket file is replaced only if it is a socket nobody answers on.
#pragma once

#include <filesystem>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "queue/queue_manager.hpp"
#include "server/control_protocol.hpp"

namespace sluice::server {

// Runs one parsed request against the queue (blocking) and returns the response line.
[[nodiscard]] std::string execute_control(const control::Request& req, queue::QueueManager& q);

class ControlSocket {
  public:
    ControlSocket(boost::asio::io_context& io, std::filesystem::path path, queue::QueueManager& q);
    ~ControlSocket();
    ControlSocket(const ControlSocket&) = delete;
    ControlSocket& operator=(const ControlSocket&) = delete;

    // Creates the socket (mode 0600) and starts accepting. Throws std::runtime_error when the path
    // is unusable or another server answers on it.
    void start();

    // Stops accepting and removes the socket file. Idempotent.
    void close();

    // Waits for a command in progress (call after the event loop has stopped).
    void join();

    const std::filesystem::path& path() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::server
