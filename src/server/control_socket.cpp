// control_socket.cpp: the control socket's I/O (see control_socket.hpp).
#include "server/control_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

#include "common/log.hpp"
#include "server/async_blocking.hpp"

namespace sluice::server {
namespace asio = boost::asio;
using unix_stream = asio::local::stream_protocol;

namespace {
constexpr auto kRequestDeadline = std::chrono::seconds(10);
}  // namespace

namespace {

queue::AdminResult execute_one(control::Verb verb, const std::string& id, queue::QueueManager& q) {
    switch (verb) {
        case control::Verb::flush:
            return q.flush(id);
        case control::Verb::hold:
            return q.hold(id);
        case control::Verb::release:
            return q.release(id);
        case control::Verb::remove:
            return q.remove(id);
    }
    return {false, "unknown command"};
}

}  // namespace

std::string execute_control(const control::Request& req, queue::QueueManager& q) {
    if (req.ids.empty()) {  // FLUSH: every deferred message
        const std::size_t n = q.flush();
        return control::format_response(
            true,
            fmt::format("{} deferred message{} scheduled for delivery now", n, n == 1 ? "" : "s"));
    }
    if (req.ids.size() == 1) {
        const auto r = execute_one(req.verb, req.ids.front(), q);
        return control::format_response(r.ok, r.message);
    }
    // Several IDs (a bulk operation from the CLI): counts, and why each miss missed. A message
    // delivered since the CLI listed it is a miss, not an error of the request.
    control::BulkCounts counts;
    for (const auto& id : req.ids) {
        const auto r = execute_one(req.verb, id, q);
        if (r.ok) {
            ++counts.touched;
            continue;
        }
        ++counts.missed;
        if (counts.detail.size() < 1024) counts.detail += fmt::format("{}: {}; ", id, r.message);
    }
    return control::format_response(true, control::format_bulk(counts));
}

struct ControlSocket::Impl {
    asio::io_context& io;
    std::filesystem::path path;
    queue::QueueManager& queue;
    unix_stream::acceptor acceptor;
    asio::thread_pool pool{1};
    bool open = false;

    Impl(asio::io_context& i, std::filesystem::path p, queue::QueueManager& q)
        : io(i), path(std::move(p)), queue(q), acceptor(i) {}

    // A socket file left by a server that is gone is removed; one that answers is another server.
    void remove_stale() {
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0) return;
        if (!S_ISSOCK(st.st_mode))
            throw std::runtime_error(fmt::format(
                "control socket {}: exists and is not a socket; not replacing it", path.string()));
        unix_stream::socket probe(io);
        boost::system::error_code ec;
        probe.connect(unix_stream::endpoint(path.string()), ec);
        if (!ec)
            throw std::runtime_error(
                fmt::format("control socket {}: another server is answering on it", path.string()));
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            throw std::runtime_error(
                fmt::format("control socket {}: cannot remove stale socket: {}", path.string(),
                            std::strerror(errno)));
    }

    void bind_and_listen() {
        if (path.string().size() >= sizeof(sockaddr_un::sun_path))
            throw std::runtime_error(fmt::format("control socket {}: path longer than {} bytes",
                                                 path.string(), sizeof(sockaddr_un::sun_path) - 1));
        remove_stale();
        boost::system::error_code ec;
        acceptor.open(unix_stream(), ec);
        if (!ec) acceptor.bind(unix_stream::endpoint(path.string()), ec);
        // 0600 before listen(): until then a connect() is refused, so nobody else ever gets in.
        if (!ec && ::chmod(path.c_str(), S_IRUSR | S_IWUSR) != 0)
            ec.assign(errno, boost::system::system_category());
        if (!ec) acceptor.listen(16, ec);
        if (ec) {
            acceptor.close();
            ::unlink(path.c_str());
            throw std::runtime_error(
                fmt::format("control socket {}: {}", path.string(), ec.message()));
        }
        open = true;
    }

    static bool peer_allowed(unix_stream::socket& s, uid_t& uid) {
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
            return false;
        uid = cred.uid;
        return cred.uid == ::geteuid() || cred.uid == 0;
    }

    asio::awaitable<void> serve(unix_stream::socket sock) {
        uid_t uid = static_cast<uid_t>(-1);
        if (!peer_allowed(sock, uid)) {
            log::warn("control_denied", {{"uid", static_cast<long long>(uid)}});
            co_return;
        }
        // Deadline: a client that does not send its line in time is disconnected.
        asio::steady_timer deadline(sock.get_executor(), kRequestDeadline);
        deadline.async_wait([&sock](const boost::system::error_code& ec) {
            if (!ec) {
                boost::system::error_code ignored;
                sock.close(ignored);
            }
        });
        std::string line;
        auto [ec, n] = co_await asio::async_read_until(
            sock, asio::dynamic_buffer(line, control::kMaxRequestLine + 2), '\n',
            asio::as_tuple(asio::use_awaitable));
        std::string response;
        if (ec) {
            response = control::format_response(
                false, ec == asio::error::not_found ? "request line too long" : "no request");
        } else {
            auto parsed = control::parse_request(std::string_view(line).substr(0, n));
            if (!parsed.request) {
                response = control::format_response(false, parsed.error);
            } else {
                log::info("control", {{"request", std::string_view(line).substr(0, n - 1)}});
                // The job captures only pointers: g++ 12 may destroy a temporary inside a co_await
                // expression twice, which a captured std::string does not survive.
                const control::Request* req = &*parsed.request;
                auto job = [this, req]() noexcept {
                    try {
                        return execute_control(*req, queue);
                    } catch (const std::exception& e) {
                        return control::format_response(false, e.what());
                    }
                };
                response = co_await async_blocking(pool, job, asio::use_awaitable);
            }
        }
        deadline.cancel();
        if (sock.is_open())
            co_await asio::async_write(sock, asio::buffer(response),
                                       asio::as_tuple(asio::use_awaitable));
    }

    asio::awaitable<void> accept_loop() {
        while (acceptor.is_open()) {
            auto [ec, sock] = co_await acceptor.async_accept(asio::make_strand(io),
                                                             asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
                log::warn("control_accept_error", {{"error", ec.message()}});
                asio::steady_timer t(io, std::chrono::milliseconds(100));
                co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
                continue;
            }
            auto ex = sock.get_executor();
            asio::co_spawn(ex, serve(std::move(sock)), asio::detached);
        }
    }
};

ControlSocket::ControlSocket(asio::io_context& io, std::filesystem::path path,
                             queue::QueueManager& q)
    : impl_(std::make_unique<Impl>(io, std::move(path), q)) {}

ControlSocket::~ControlSocket() {
    close();
    join();
}

void ControlSocket::start() {
    impl_->bind_and_listen();
    asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
    log::info("control_socket", {{"path", impl_->path.string()}});
}

void ControlSocket::close() {
    if (!impl_->open) return;
    impl_->open = false;
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    ::unlink(impl_->path.c_str());
}

void ControlSocket::join() {
    impl_->pool.join();
}

const std::filesystem::path& ControlSocket::path() const {
    return impl_->path;
}

}  // namespace sluice::server
