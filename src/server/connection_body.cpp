// connection_body.cpp: a large message's body streams into the spool while it arrives (see
// connection.hpp), so memory per connection is bounded by limits.message_buffer (and all
// connections together by limits.message_buffers_total) whatever the message size. The writes
// are page-cache writes on the file pool, never on the event loop; the message becomes durable
// only at its commit (spool.hpp, IncomingBody).
#include <boost/asio/use_awaitable.hpp>

#include <cerrno>
#include <system_error>

#include "common/log.hpp"
#include "server/async_blocking.hpp"
#include "server/connection.hpp"

namespace sluice::server {
namespace asio = boost::asio;
using asio::use_awaitable;

namespace {
// Past limits.message_buffers_total, bodies stream in writes of at least this much.
constexpr std::size_t kMinStreamChunk = 16 * 1024;
}  // namespace

void Connection::account_memory() {
    const std::size_t now = session_.message_buffered();
    if (now == accounted_) return;
    if (now > accounted_)
        ctx_.message_memory.fetch_add(now - accounted_, std::memory_order_relaxed);
    else
        ctx_.message_memory.fetch_sub(accounted_ - now, std::memory_order_relaxed);
    accounted_ = now;
}

bool Connection::should_stream() const {
    const std::size_t body = session_.body_buffered();
    if (body == 0) return false;
    const config::Limits& l = ctx_.cfg.limits;
    if (session_.message_buffered() >= l.message_buffer) return true;
    // Past the server-wide cap every body streams, once it is worth a write.
    return body >= kMinStreamChunk &&
           ctx_.message_memory.load(std::memory_order_relaxed) > l.message_buffers_total;
}

void Connection::drop_body() {
    // Never committed: its slot is free again (spool.hpp, IncomingBody). Released on the file
    // pool, where shrinking a large abandoned slot file may block.
    if (body_) asio::post(*ctx_.file_pool, [b = std::move(body_)]() mutable { b.reset(); });
    body_.reset();
    body_error_ = 0;
    sign_hash_.reset();
}

asio::awaitable<int> Connection::write_body(std::string bytes) {
    if (body_error_ != 0) co_return body_error_;
    auto chunk = std::make_shared<std::string>(std::move(bytes));
    using Written = std::pair<std::shared_ptr<spool::IncomingBody>, int>;
    // A named lambda (see authenticate); runs on the file pool, never on the event loop.
    auto write = [&spool = ctx_.spool, body = body_, chunk]() -> Written {
        std::shared_ptr<spool::IncomingBody> b = body;
        int err = 0;
        if (!b && !(b = spool.begin_body(&err))) return {nullptr, err};
        return {b, b->append(*chunk)};
    };
    auto [b, err] = co_await async_blocking(*ctx_.file_pool, std::move(write), use_awaitable);
    if (b) body_ = std::move(b);
    if (err != 0) {
        body_error_ = err;
        log::error("message_stream", {{"session", id_},
                                      {"ip", client_ip_},
                                      {"error", std::generic_category().message(err)}});
    }
    co_return err;
}

void Connection::feed_body(std::string_view header, std::string_view chunk) {
    if (sign_hash_) sign_hash_->update(chunk);  // set only while a body streams
    if (!chain_.reads_body() || chunk.empty()) return;
    facts_.message = header;
    chain_.body(facts_, chunk);
    facts_.message = {};
}

asio::awaitable<void> Connection::stream_body() {
    if (!body_ && !body_error_) {
        body_serial_ = session_.message_serial();
        // The body will not be in memory at intake: a signer's body hash is made on the way.
        sign_hash_.reset();
        if (ctx_.intake->needs_body_hash() && facts_.relay_allowed())
            sign_hash_.emplace(trust::dkim::Canon::relaxed, trust::dkim::Hash::sha256);
    }
    std::string chunk = session_.take_body();
    account_memory();
    feed_body(session_.message_header(), chunk);
    co_await write_body(std::move(chunk));  // a failure is answered at the end of data
}

}  // namespace sluice::server
