// connection.cpp: the per-connection coroutine (see connection.hpp).
#include "server/connection.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <cerrno>

#include "common/log.hpp"
#include "common/queue_id.hpp"
#include "server/async_commit.hpp"
#include "server/recipient_check.hpp"

namespace sluice::server {
namespace asio = boost::asio;
using asio::use_awaitable;
constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::size_t kReadBuffer = 16 * 1024;
// The data rate is judged only after this long, so a short message on a slow link is not cut off.
constexpr auto kDataRateGrace = std::chrono::seconds(10);
// Time allowed to deliver a final 421 to a client after a timeout.
constexpr auto kFinalWriteTimeout = std::chrono::seconds(10);

std::int64_t wall_now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

smtp::SessionLimits session_limits(const config::Limits& l) {
    smtp::SessionLimits s;
    s.message_size = l.message_size;
    s.recipients = l.recipients;
    s.command_line = l.command_line;
    s.text_line = l.text_line;
    s.errors = l.errors;
    s.received_headers = l.received_headers;
    s.transactions = l.transactions;
    return s;
}

}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, Context& ctx, const config::Listener& listener,
                       std::string client_ip, std::uint16_t client_port)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      ctx_(ctx),
      listener_(listener),
      client_ip_(std::move(client_ip)),
      client_port_(client_port),
      id_(ctx.next_session_id.fetch_add(1, std::memory_order_relaxed)),
      session_(smtp::SessionInfo{ctx.cfg.hostname, listener.name, client_ip_, client_port, false},
               session_limits(ctx.cfg.limits), wall_now_us,
               [](std::int64_t now) { return new_queue_id(now); }) {}

void Connection::set_deadline(clock::duration d) {
    deadline_ = std::min(clock::now() + d, session_deadline_);
    // The watchdog sleeps until the old deadline; wake it only when the new one is earlier (rare:
    // the common case moves the deadline forward and costs nothing).
    if (deadline_ < timer_.expiry()) timer_.cancel();
}

asio::awaitable<void> Connection::run(std::optional<smtp::Reply> rejection, bool release_slot) {
    auto self = shared_from_this();
    started_ = clock::now();
    session_deadline_ = started_ + ctx_.cfg.timeouts.session;
    deadline_ = session_deadline_;
    if (auto ip = IpAddress::parse(client_ip_))
        rcpt_ctx_.relay_allowed = ctx_.cfg.access.trusted.contains(*ip);
    log::info("connect", {{"session", id_},
                          {"ip", client_ip_},
                          {"port", static_cast<unsigned>(client_port_)},
                          {"listener", listener_.name}});
    if (rejection) {
        session_.start_rejected(*rejection);
        log::info("reject", {{"session", id_}, {"ip", client_ip_}, {"reply", rejection->text}});
    } else {
        session_.start();
    }
    asio::co_spawn(socket_.get_executor(), watchdog(), asio::detached);
    try {
        co_await serve();
    } catch (const std::exception& e) {
        close_reason_ = fmt::format("error: {}", e.what());
    }
    done_ = true;
    timer_.cancel();
    boost::system::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    if (release_slot) ctx_.limits.release(client_ip_);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started_).count();
    log::info("disconnect", {{"session", id_},
                             {"ip", client_ip_},
                             {"duration_ms", static_cast<long long>(ms)},
                             {"messages", session_.messages_accepted()},
                             {"recipients", session_.recipients_accepted()},
                             {"reason", close_reason_}});
}

void Connection::request_shutdown(bool force) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), force] {
        self->shutdown_requested_ = true;
        self->force_shutdown_ = self->force_shutdown_ || force;
        // Wake a session that waits for a command; one inside a transaction finishes it first.
        if (self->reading_ && (force || !self->session_.in_transaction())) {
            boost::system::error_code ec;
            self->socket_.cancel(ec);
        }
    });
}

asio::awaitable<void> Connection::watchdog() {
    auto self = shared_from_this();
    while (!done_) {
        timer_.expires_at(deadline_);
        co_await timer_.async_wait(as_tuple_awaitable);
        if (done_) co_return;
        if (deadline_ > clock::now()) continue;  // moved forward meanwhile
        boost::system::error_code ec;
        if (!timed_out_) {
            // Interrupt the pending read or write; serve() then sends 421 under a short deadline.
            timed_out_ = true;
            deadline_ = clock::now() + kFinalWriteTimeout;
            socket_.cancel(ec);
        } else {
            socket_.close(ec);  // the client will not even take our 421
            co_return;
        }
    }
}

asio::awaitable<bool> Connection::flush() {
    std::string& out = session_.output();
    if (out.empty()) co_return true;
    if (!timed_out_) set_deadline(ctx_.cfg.timeouts.command);
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(out), as_tuple_awaitable);
    out.clear();
    if (ec) {
        close_reason_ = timed_out_ ? "timeout" : "write_error";
        co_return false;
    }
    co_return true;
}

void Connection::handle_commit_result(const spool::CommitResult& r,
                                      const std::shared_ptr<const spool::StoredMessage>& msg) {
    const Envelope& env = msg->envelope;
    smtp::Reply reply;
    if (r.ok) {
        reply = {250, "2.0.0", fmt::format("Ok: queued as {}", env.queue_id)};
        ctx_.queue.enqueue(msg);
    } else if (r.err_no == ENOSPC || r.err_no == EDQUOT) {
        reply = {452, "4.3.1", "Insufficient system storage, try again later"};
    } else {
        reply = {451, "4.3.0", "Local error in processing, try again later"};
    }
    if (r.ok)
        log::info("message", {{"session", id_},
                              {"queue_id", env.queue_id},
                              {"from", env.sender},
                              {"rcpts", env.recipients.size()},
                              {"size", msg->message.size()},
                              {"code", reply.code}});
    else
        log::error("message", {{"session", id_},
                               {"queue_id", env.queue_id},
                               {"from", env.sender},
                               {"rcpts", env.recipients.size()},
                               {"size", msg->message.size()},
                               {"code", reply.code},
                               {"error", r.error}});
    session_.commit_done(reply);
}

asio::awaitable<void> Connection::serve() {
    std::unique_ptr<char[]> buf(new char[kReadBuffer]);
    while (true) {
        switch (session_.next()) {
            case smtp::Event::need_input: {
                if (shutdown_requested_ && (force_shutdown_ || !session_.in_transaction())) {
                    session_.shutdown();
                    close_reason_ = "shutdown";
                    continue;
                }
                if (!co_await flush()) co_return;
                bool in_msg = session_.in_message();
                if (in_msg && !in_message_) {
                    message_started_ = clock::now();
                    message_bytes_ = 0;
                }
                in_message_ = in_msg;
                set_deadline(in_msg ? ctx_.cfg.timeouts.data_block : ctx_.cfg.timeouts.command);
                reading_ = true;
                auto [ec, n] = co_await socket_.async_read_some(
                    asio::buffer(buf.get(), kReadBuffer), as_tuple_awaitable);
                reading_ = false;
                if (ec) {
                    if (timed_out_) {
                        session_.timeout();
                        close_reason_ = "timeout";
                        continue;
                    }
                    if (shutdown_requested_ && ec == asio::error::operation_aborted) continue;
                    close_reason_ = ec == asio::error::eof ? "eof" : "read_error";
                    co_return;
                }
                if (in_message_ && ctx_.cfg.limits.min_data_rate > 0) {
                    message_bytes_ += n;
                    auto elapsed = clock::now() - message_started_;
                    if (elapsed >= kDataRateGrace) {
                        double secs = std::chrono::duration<double>(elapsed).count();
                        if (static_cast<double>(message_bytes_) / secs <
                            static_cast<double>(ctx_.cfg.limits.min_data_rate)) {
                            session_.abort(
                                {421, "4.4.2",
                                 fmt::format("{} Error: data rate too low", ctx_.cfg.hostname)});
                            close_reason_ = "slow_data";
                            continue;
                        }
                    }
                }
                session_.feed(std::string_view(buf.get(), n));
                break;
            }
            case smtp::Event::check_recipient:
                session_.recipient_verdict(
                    check_recipient(ctx_.router, session_.pending_recipient(), rcpt_ctx_));
                break;
            case smtp::Event::commit: {
                auto& pm = session_.pending_message();
                auto msg = std::make_shared<const spool::StoredMessage>(
                    spool::StoredMessage{std::move(pm.envelope), std::move(pm.message)});
                auto result = co_await async_commit(ctx_.spool, msg, use_awaitable);
                handle_commit_result(result, msg);
                break;
            }
            case smtp::Event::close:
                if (close_reason_ == "quit" && timed_out_) close_reason_ = "timeout";
                co_await flush();
                co_return;
        }
    }
}

}  // namespace sluice::server
