// connection.hpp: one client connection: a coroutine that moves bytes between the socket and the
// sans-I/O smtp::Session, answers its events by asking the listener's Policy chain (connect,
// HELO, MAIL, RCPT, headers, message) and handing finished messages to the Intake, and enforces
// the deadlines (per command, per data block, per session) and the minimum data rate. No policy
// and no storage logic lives here: new checks are Policy stages, message edits Intake modifiers.
//
// Strand rule: everything of one connection (the serve loop, the deadline, request_shutdown's
// posted handler, the Policy stages it awaits, the Intake's resumption) runs on the connection's
// strand (the socket's executor), so its members need no lock.
//
// One Deadline (common/deadline.hpp) bounds every wait: a read does not arm a timer of its own,
// it only moves the deadline forward, which keeps a connection cheap (10,000 idle ones must fit
// in little memory). The session deadline caps every other one.
//
// TLS: the connection keeps its tcp::socket and, after STARTTLS (or at once on an implicit-TLS
// listener), layers an ssl::stream<tcp::socket&> over it; reads and writes pick the stream with
// one branch, so the plaintext path costs no allocation or virtual call. The deadline
// cancels the socket either way. A TLS session ends with our close_notify before the TCP close
// (one-way, under a short deadline: see close_tls). AUTH credentials are checked on the auth
// thread pool (argon2id is slow on purpose); failures are delayed and counted per client address
// (auth::LoginGuard).
//
// SECURITY: everything read from the socket goes to the Session, which validates it; this layer
// only bounds time and memory (fixed read buffer, no unbounded queues). Bytes read before a
// STARTTLS handshake are all handed to the Session, which discards those after the command.
// STANDARDS: RFC 3207, RFC 8314, RFC 4954, RFC 6409 (submission sender checks).
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "common/deadline.hpp"
#include "policy/chain.hpp"
#include "server/context.hpp"
#include "smtp/session.hpp"
#include "trust/dkim_canon.hpp"

namespace sluice::server {

// The one log line of a refusal (event smtp_reject, docs/logging.md): the session's refusals and
// the listener's own (session 0: refused before a session began, as over a connection limit).
void log_refusal(std::uint64_t session, std::string_view ip, const smtp::Refusal& r);

class Connection : public std::enable_shared_from_this<Connection> {
  public:
    using clock_time = std::chrono::steady_clock::time_point;

    // The server has admitted the connection (it holds a slot in ctx.limits, released at the
    // end); `chain` is the listener's Policy chain.
    Connection(boost::asio::ip::tcp::socket socket, Context& ctx, const config::Listener& listener,
               const policy::Chain& chain, std::string client_ip, std::uint16_t client_port);

    // Runs the session to its end.
    boost::asio::awaitable<void> run();

    boost::asio::any_io_executor get_executor() { return socket_.get_executor(); }

    // Thread-safe. Graceful: idle sessions get 421 at once, transactions in flight finish first.
    // force: 421 even inside a transaction (nothing unacknowledged is ever kept).
    void request_shutdown(bool force);

    // Thread-safe. When this session waits for a command and is unauthenticated and outside a
    // transaction: since when (the time its current command line started); otherwise max().
    clock_time idle_since() const {
        return clock_time(clock_time::duration(idle_since_.load(std::memory_order_relaxed)));
    }
    // Thread-safe. Asks an idle session (see idle_since) to close with 421 to make room for a new
    // client; false if it is not idle (any more) or already asked.
    bool evict();

  private:
    using clock = std::chrono::steady_clock;

    boost::asio::awaitable<void> serve();
    // The deadline passed: the first time, cancel what is pending and allow a short final write
    // (the 421); the second time, close the socket.
    void on_deadline();
    boost::asio::awaitable<bool> flush();
    boost::asio::awaitable<bool> handshake();
    boost::asio::awaitable<void> close_tls();
    boost::asio::awaitable<void> authenticate();
    void set_deadline(clock::duration d);
    // Asks the Policy chain about `e` (only when some stage wants it: else allowed at once).
    boost::asio::awaitable<policy::Verdict> ask(policy::Event e);
    // A `disconnect` verdict ends the session (with its reply, or without a word): true then.
    bool disconnects(const policy::Verdict& v);
    // End of data: the headers and message events, then the Intake's commit.
    boost::asio::awaitable<void> commit();
    // Large messages: the body goes into a spool slot while it arrives (limits.message_buffer,
    // limits.message_buffers_total), so memory per connection stays bounded whatever the size.
    void account_memory();  // this connection's share of ctx_.message_memory, kept current
    bool should_stream() const;
    boost::asio::awaitable<void> stream_body();
    // Hands body bytes to the policy stages that read bodies (DKIM hashes), when any does.
    void feed_body(std::string_view header, std::string_view chunk);
    boost::asio::awaitable<int> write_body(std::string bytes);  // on the file pool; errno
    void drop_body();                                           // an aborted message

    boost::asio::ip::tcp::socket socket_;
    // Set once TLS is up; holds the context it was made with (a SIGHUP reload swaps the server's).
    std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
    std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
    // The TLS session is intact: handshake done, no TLS read or write has failed (a read cancelled
    // by a deadline or a shutdown leaves it intact). Only then may it end with close_notify.
    bool tls_clean_ = false;
    Deadline deadline_;
    Context& ctx_;
    const config::Listener& listener_;
    std::string client_ip_;
    std::uint16_t client_port_;
    std::uint64_t id_;
    smtp::Session session_;

    clock::time_point started_;
    clock::time_point session_deadline_;
    bool timed_out_ = false;
    bool shutdown_requested_ = false;
    bool force_shutdown_ = false;
    bool reading_ = false;
    bool evict_requested_ = false;
    static constexpr std::int64_t kNotIdle = std::numeric_limits<std::int64_t>::max();
    std::atomic<std::int64_t> idle_since_{kNotIdle};  // clock ticks; see idle_since()
    void mark_idle(bool waiting_for_command);
    // A 421 of ours (the host name is put in front of `reply.text`), then the session closes.
    void close_with(smtp::Reply reply, std::string_view reason);
    clock::duration command_timeout() const;  // shorter under stress
    // Data rate accounting for the message being received.
    bool in_message_ = false;
    clock::time_point message_started_;
    std::size_t message_bytes_ = 0;
    std::string close_reason_ = "quit";
    std::optional<auth::User> user_;  // after a successful AUTH
    // What the Policy stages see; kept current as the session goes (helo, TLS, user, envelope).
    const policy::Chain& chain_;
    policy::Facts facts_;
    std::vector<std::unique_ptr<policy::StageState>> policy_state_;
    std::vector<std::string> added_headers_;     // from this transaction's verdicts, for the Intake
    std::shared_ptr<spool::IncomingBody> body_;  // this message's streamed body, if any
    int body_error_ = 0;                         // a write of it failed: 451/452 at end of data
    std::optional<trust::dkim::BodyHasher> sign_hash_;  // its DKIM body hash, for the signer
    std::uint64_t body_serial_ = 0;  // the session's message_serial() it belongs to
    std::size_t accounted_ = 0;      // our bytes in ctx_.message_memory
};

}  // namespace sluice::server
