// connection.cpp: the per-connection coroutine (see connection.hpp).
#include "server/connection.hpp"

#include "common/ascii.hpp"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cerrno>
#include <span>

#include "auth/password.hpp"
#include "common/log.hpp"
#include "intake/intake.hpp"
#include "server/async_blocking.hpp"
#include "smtp/data_reader.hpp"

namespace sluice::server {
namespace asio = boost::asio;
using asio::use_awaitable;
constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::size_t kReadBuffer = 16 * 1024;
// Time allowed to deliver a final 421 to a client after a timeout.
constexpr auto kFinalWriteTimeout = std::chrono::seconds(10);
// Time allowed to send our TLS close_notify at the end of a session.
constexpr auto kTlsCloseTimeout = std::chrono::seconds(2);

smtp::SessionLimits session_limits(const config::Limits& l, const config::Listener& listener) {
    smtp::SessionLimits s;
    s.message_size = listener.message_size.value_or(l.message_size);
    s.recipients = l.recipients;
    s.command_line = l.command_line;
    s.text_line = l.text_line;
    s.header_size = l.header_size;
    s.forbid_unauth_pipelining = l.forbid_unauth_pipelining;
    s.errors = l.errors;
    s.transactions = l.transactions;
    return s;
}

smtp::SessionInfo session_info(const Context& ctx, const config::Listener& l,
                               const policy::Chain& chain, const std::string& ip,
                               std::uint16_t port) {
    smtp::SessionInfo i{ctx.cfg.hostname, l.name, ip, port, true};
    const bool implicit = l.role == config::ListenerRole::submissions;
    i.starttls = ctx.tls != nullptr && l.starttls && !implicit;
    i.tls_active = implicit;
    i.auth = ctx.users != nullptr;
    i.auth_plaintext = l.auth_plaintext;
    i.require_auth = l.role != config::ListenerRole::mx;
    // Every MAIL: a transaction's added headers start empty there (the chain is asked only when
    // a stage wants the event, so this costs one state change).
    i.check_sender = true;
    i.check_helo = chain.wants(policy::Event::helo);
    return i;
}

// The refusals fail2ban acts on (packaging/fail2ban): logged as warnings, which also reach the
// disk at once. The rest (an unknown user, a syntax error, a full queue) are routine for an MX.
bool abusive(std::string_view reason) {
    static constexpr std::string_view kAbuse[] = {
        "auth_failed",     "auth_locked",  "auth_lockout",  "auth_busy",
        "auth_throttled",  "relay_denied", "bare_cr_lf",    "bare_lf_command",
        "too_many_errors", "http",         "access_denied", "pipelining"};
    return std::find(std::begin(kAbuse), std::end(kAbuse), reason) != std::end(kAbuse);
}

}  // namespace

void log_refusal(std::uint64_t session, std::string_view ip, const smtp::Refusal& r) {
    const auto level = abusive(r.reason) ? log::Level::warn : log::Level::info;
    if (!log::enabled(level)) return;
    // Fixed fields first, in a fixed order (the fail2ban filter anchors on them); the optional
    // ones only when known; the reply text, which may quote client input, last.
    log::Field f[11];
    std::size_t n = 0;
    if (session) f[n++] = {"session", session};
    f[n++] = {"ip", ip};
    f[n++] = {"command", r.command};
    f[n++] = {"code", r.code};
    f[n++] = {"enhanced", r.enhanced};
    f[n++] = {"reason", r.reason};
    if (!r.from.empty()) f[n++] = {"from", r.from};
    if (!r.rcpt.empty()) f[n++] = {"rcpt", r.rcpt};
    if (!r.user.empty()) f[n++] = {"user", r.user};
    f[n++] = {"reply", r.text};
    log::event(level, "smtp_reject", std::span<const log::Field>(f, n));
}

Connection::Connection(asio::ip::tcp::socket socket, Context& ctx, const config::Listener& listener,
                       const policy::Chain& chain, std::string client_ip, std::uint16_t client_port)
    : socket_(std::move(socket)),
      deadline_(socket_.get_executor()),
      ctx_(ctx),
      listener_(listener),
      client_ip_(std::move(client_ip)),
      client_port_(client_port),
      id_(ctx.next_session_id.fetch_add(1, std::memory_order_relaxed)),
      session_(session_info(ctx, listener, chain, client_ip_, client_port),
               session_limits(ctx.cfg.limits, listener)),
      chain_(chain) {
    session_.on_refusal([this](const smtp::Refusal& r) { log_refusal(id_, client_ip_, r); });
    facts_.session = id_;
    facts_.listener = listener_.name;
    facts_.submission = listener_.role != config::ListenerRole::mx;
    facts_.client_ip = client_ip_;
    facts_.client_addr = IpAddress::parse(client_ip_);
    facts_.client_port = client_port_;
    facts_.trusted = facts_.client_addr && ctx_.cfg.access.trusted.contains(*facts_.client_addr);
}

void Connection::set_deadline(clock::duration d) {
    deadline_.expires_at(std::min(clock::now() + d, session_deadline_));
}

asio::awaitable<void> Connection::run() {
    auto self = shared_from_this();
    started_ = clock::now();
    session_deadline_ = started_ + ctx_.cfg.timeouts.session;
    deadline_.expires_at(session_deadline_);
    log::info("connect", {{"session", id_},
                          {"ip", client_ip_},
                          {"port", static_cast<unsigned>(client_port_)},
                          {"listener", listener_.name}});
    deadline_.start(self, [this] { on_deadline(); });
    chain_.open(facts_, policy_state_);
    // The connect event comes before any TLS handshake: a dropped client costs none.
    policy::Verdict greeting = co_await ask(policy::Event::connect);
    const bool drop = greeting.action == policy::Verdict::Action::disconnect;
    bool tls_ok = true;
    if (drop && greeting.reply.code == 0) {
        tls_ok = false;  // not a word, not even a TLS handshake
        disconnects(greeting);
    } else if (listener_.role == config::ListenerRole::submissions) {
        tls_ok = co_await handshake();
        if (tls_ok) {
            session_.implicit_tls(tls::describe(tls_->native_handle()));
            facts_.tls = true;
        }
    }
    if (!tls_ok) {
        // Nothing can be said to a client we share no TLS session with (or that was dropped).
    } else if (drop) {
        disconnects(greeting);  // its reply is queued; serve() writes it and closes
    } else if (!greeting.allows()) {
        session_.start_rejected(greeting.reply, greeting.reason);  // logged as smtp_reject
    } else {
        session_.start();
    }
    try {
        if (tls_ok) co_await serve();
    } catch (const std::exception& e) {
        close_reason_ = fmt::format("error: {}", e.what());
    }
    drop_body();
    // Whatever ended the session (a QUIT pipelined after the final dot, a timeout mid-DATA), its
    // bytes leave the server-wide count.
    ctx_.message_memory.fetch_sub(accounted_, std::memory_order_relaxed);
    accounted_ = 0;
    co_await close_tls();
    deadline_.stop();
    // close() alone sends the FIN after any queued reply (a shutdown() first only cost a system
    // call per connection, which failed with ENOTCONN whenever the client had closed first).
    boost::system::error_code ec;
    socket_.close(ec);
    ctx_.limits.release(client_ip_);
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

void Connection::close_with(smtp::Reply reply, std::string_view reason) {
    reply.text = fmt::format("{} {}", ctx_.cfg.hostname, reply.text);  // 421 names us (RFC 5321)
    session_.abort(reply, reason);
    close_reason_ = std::string(reason);
}

bool Connection::evict() {
    std::int64_t since = idle_since_.load(std::memory_order_relaxed);
    if (since == kNotIdle || !idle_since_.compare_exchange_strong(since, kNotIdle)) return false;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
        if (self->user_) return;  // logged in meanwhile: not ours to cut off
        self->evict_requested_ = true;
        if (self->reading_ && !self->session_.in_transaction()) {
            boost::system::error_code ec;
            self->socket_.cancel(ec);
        }
    });
    return true;
}

void Connection::mark_idle(bool waiting_for_command) {
    const bool evictable =
        waiting_for_command && !user_ && !session_.in_transaction() && !evict_requested_;
    idle_since_.store(evictable ? clock::now().time_since_epoch().count() : kNotIdle,
                      std::memory_order_relaxed);
}

Connection::clock::duration Connection::command_timeout() const {
    const auto& t = ctx_.cfg.timeouts;
    if (ctx_.limits.stressed()) return std::min<clock::duration>(t.command, t.stress_command);
    return t.command;
}

void Connection::on_deadline() {
    boost::system::error_code ec;
    if (!timed_out_) {
        // Interrupt the pending read or write; serve() then sends 421 under a short deadline.
        timed_out_ = true;
        deadline_.expires_after(kFinalWriteTimeout);
        socket_.cancel(ec);
    } else {
        socket_.close(ec);  // the client will not even take our 421
    }
}

asio::awaitable<bool> Connection::flush() {
    std::string& out = session_.output();
    if (out.empty()) co_return true;
    if (!timed_out_) set_deadline(command_timeout());
    auto [ec, n] = tls_
                       ? co_await asio::async_write(*tls_, asio::buffer(out), as_tuple_awaitable)
                       : co_await asio::async_write(socket_, asio::buffer(out), as_tuple_awaitable);
    out.clear();
    if (ec) {
        tls_clean_ = false;  // a TLS record may have been cut short
        close_reason_ = timed_out_ ? "timeout" : "write_error";
        co_return false;
    }
    co_return true;
}

asio::awaitable<void> Connection::serve() {
    std::unique_ptr<char[]> buf(new char[kReadBuffer]);
    while (true) {
        const smtp::Event event = session_.next();
        // Working on a complete command (AUTH's hash, a policy lookup, a handshake): not idle.
        if (event != smtp::Event::need_input) mark_idle(false);
        switch (event) {
            case smtp::Event::need_input: {
                if (shutdown_requested_ && (force_shutdown_ || !session_.in_transaction())) {
                    session_.shutdown();
                    close_reason_ = "shutdown";
                    continue;
                }
                if (evict_requested_ && !session_.in_transaction() && !user_) {
                    close_with({421, "4.7.0", "Server busy, closing idle connection"}, "evicted");
                    continue;
                }
                if (!co_await flush()) co_return;
                // A shutdown requested while the replies were being written found no read to
                // cancel: act on it now rather than after the client's next command.
                if (shutdown_requested_ && (force_shutdown_ || !session_.in_transaction()))
                    continue;
                // A streamed body belongs to one message: gone when it was refused or aborted
                // (and never carried over to the next message of a pipelined group).
                if ((body_ || body_error_) &&
                    (!session_.message_open() || session_.message_serial() != body_serial_))
                    drop_body();
                account_memory();
                if (should_stream()) co_await stream_body();
                bool in_msg = session_.in_message();
                if (in_msg && !in_message_) {
                    message_started_ = clock::now();
                    message_bytes_ = 0;
                }
                in_message_ = in_msg;
                if (in_msg) {
                    set_deadline(ctx_.cfg.timeouts.data_block);  // per read; min_data_rate too
                    mark_idle(false);
                } else if (!session_.partial_command()) {
                    // A new command: its whole line must arrive within the command timeout
                    // (Postfix's smtpd_per_record_deadline). Bytes of it do not move the
                    // deadline, so a client dribbling a byte now and then is cut off in time.
                    set_deadline(command_timeout());
                    mark_idle(true);
                }
                reading_ = true;
                auto [ec, n] = tls_ ? co_await tls_->async_read_some(
                                          asio::buffer(buf.get(), kReadBuffer), as_tuple_awaitable)
                                    : co_await socket_.async_read_some(
                                          asio::buffer(buf.get(), kReadBuffer), as_tuple_awaitable);
                reading_ = false;
                if (ec) {
                    if (timed_out_) {
                        session_.timeout();
                        close_reason_ = "timeout";
                        continue;
                    }
                    if ((shutdown_requested_ || evict_requested_) &&
                        ec == asio::error::operation_aborted)
                        continue;
                    // eof over TLS: the client's close_notify; ours still answers it.
                    if (ec != asio::error::eof) tls_clean_ = false;
                    close_reason_ = ec == asio::error::eof ? "eof" : "read_error";
                    co_return;
                }
                // The rate is judged only after limits.min_data_rate_grace, so a short message on
                // a slow link is not cut off.
                if (in_message_ && ctx_.cfg.limits.min_data_rate > 0) {
                    message_bytes_ += n;
                    auto elapsed = clock::now() - message_started_;
                    // (Compared in the config's unit: a very long grace must not overflow.)
                    if (std::chrono::duration_cast<config::Duration>(elapsed) >=
                        ctx_.cfg.limits.min_data_rate_grace) {
                        double secs = std::chrono::duration<double>(elapsed).count();
                        if (static_cast<double>(message_bytes_) / secs <
                            static_cast<double>(ctx_.cfg.limits.min_data_rate)) {
                            close_with({421, "4.4.2", "Error: data rate too low"}, "slow_data");
                            continue;
                        }
                    }
                }
                session_.feed(std::string_view(buf.get(), n));
                break;
            }
            case smtp::Event::check_helo: {
                facts_.helo = session_.helo();
                auto v = co_await ask(policy::Event::helo);
                if (disconnects(v)) break;
                session_.helo_verdict(v.allows() ? smtp::Reply{250, "", ""} : v.reply, v.reason);
                if (!v.allows()) facts_.helo = {};
                break;
            }
            case smtp::Event::check_sender: {
                added_headers_.clear();  // a new transaction
                facts_.envelope = &session_.envelope();
                // Raised for every MAIL (see session_info); most chains ask nothing about it, and
                // then no coroutine frame is made on this per-message path.
                policy::Verdict v;
                if (chain_.wants(policy::Event::mail)) v = co_await ask(policy::Event::mail);
                if (disconnects(v)) break;
                for (auto& h : v.headers) added_headers_.push_back(std::move(h));
                session_.sender_verdict(v.allows() ? smtp::Reply{250, "2.1.0", "Ok"} : v.reply,
                                        v.reason);
                break;
            }
            case smtp::Event::check_recipient: {
                facts_.envelope = &session_.envelope();
                facts_.recipient = &session_.pending_recipient();
                auto v = co_await ask(policy::Event::rcpt);
                facts_.recipient = nullptr;
                if (disconnects(v)) break;
                if (v.allows())
                    for (auto& h : v.headers) added_headers_.push_back(std::move(h));
                session_.recipient_verdict(v.allows() ? smtp::Reply{250, "2.1.5", "Ok"} : v.reply,
                                           v.reason);
                break;
            }
            case smtp::Event::starttls:
                if (!co_await flush()) co_return;
                if (!co_await handshake()) co_return;
                session_.tls_started(tls::describe(tls_->native_handle()));
                // RFC 3207 4.2: nothing learnt before the handshake counts (AUTH included).
                user_.reset();
                facts_.user = nullptr;
                facts_.helo = {};
                facts_.tls = true;
                break;
            case smtp::Event::authenticate:
                co_await authenticate();
                break;
            case smtp::Event::commit:
                co_await commit();
                break;
            case smtp::Event::close:
                if (close_reason_ == "quit" && timed_out_) close_reason_ = "timeout";
                co_await flush();
                co_return;
        }
    }
}

asio::awaitable<policy::Verdict> Connection::ask(policy::Event e) {
    if (!chain_.wants(e)) co_return policy::Verdict::next();
    co_return co_await chain_.run(e, facts_);
}

bool Connection::disconnects(const policy::Verdict& v) {
    if (v.action != policy::Verdict::Action::disconnect) return false;
    close_reason_ = std::string(v.reason);
    if (v.reply.code != 0) {
        session_.abort(v.reply, v.reason);  // logged as smtp_reject; next() then closes
    } else {
        log_refusal(id_, client_ip_, {"CONNECT", v.reason, 0, "", v.reply.text});
        session_.abort({}, v.reason);
        session_.output().clear();  // not a word
    }
    return true;
}

asio::awaitable<void> Connection::commit() {
    auto& pm = session_.pending_message();
    if ((body_ || body_error_) && session_.message_serial() != body_serial_) drop_body();
    if (body_ || body_error_) {
        // Part of the body is in the spool already: the rest follows it there, and only the
        // header section stays in memory for the policies and the Intake.
        if (pm.message.size() > pm.header_size) {
            feed_body(std::string_view(pm.message).substr(0, pm.header_size),
                      std::string_view(pm.message).substr(pm.header_size));
            co_await write_body(pm.message.substr(pm.header_size));
        }
        pm.message.resize(pm.header_size);
        if (body_error_ != 0) {
            const bool full = body_error_ == ENOSPC || body_error_ == EDQUOT;
            drop_body();
            session_.commit_done(
                full ? smtp::Reply{452, "4.3.1", "Insufficient system storage, try again later"}
                     : smtp::Reply{451, "4.3.0", "Local error in processing, try again later"},
                "not_stored");
            co_return;
        }
    } else {
        // Held whole: the body reaches the stages that read it in one piece.
        const std::string_view m = pm.message;
        feed_body(m.substr(0, pm.header_size), m.substr(std::min(pm.header_size, m.size())));
    }
    facts_.envelope = &pm.envelope;
    for (auto e : {policy::Event::headers, policy::Event::message}) {
        if (!chain_.wants(e)) continue;
        facts_.message = e == policy::Event::headers ? smtp::header_section(pm.message)
                                                     : std::string_view(pm.message);
        auto v = co_await chain_.run(e, facts_);
        facts_.message = {};
        if (disconnects(v)) co_return;
        if (!v.allows()) {
            facts_.envelope = &session_.envelope();
            session_.commit_done(v.reply, v.reason);
            co_return;
        }
        for (auto& h : v.headers) added_headers_.push_back(std::move(h));
    }
    intake::Submission sub{std::move(pm.envelope),
                           std::move(pm.message),
                           std::move(pm.tls),
                           std::move(added_headers_),
                           user_ ? user_->name : std::string(),
                           id_};
    sub.body = std::move(body_);
    sub.local_sender = facts_.relay_allowed();
    if (sign_hash_ && sub.body) sub.body_hash = sign_hash_->finish();
    sign_hash_.reset();
    body_error_ = 0;
    added_headers_.clear();
    facts_.envelope = &session_.envelope();
    intake::Result r = co_await ctx_.intake->submit(std::move(sub));
    session_.commit_done(r.reply, r.reason);
}

}  // namespace sluice::server

namespace sluice::server {

asio::awaitable<bool> Connection::handshake() {
    if (ctx_.tls == nullptr) co_return false;
    tls_ctx_ = ctx_.tls->get();
    tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *tls_ctx_);
    set_deadline(command_timeout());  // shorter under stress: a stalled handshake holds a slot
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, as_tuple_awaitable);
    if (ec) {
        close_reason_ = timed_out_ ? "timeout" : "tls_handshake_failed";
        log::info("tls_failed", {{"session", id_}, {"ip", client_ip_}, {"error", ec.message()}});
        co_return false;
    }
    tls_clean_ = true;
    log::info("tls",
              {{"session", id_},
               {"ip", client_ip_},
               {"version", SSL_get_version(tls_->native_handle())},
               {"cipher", SSL_CIPHER_get_name(SSL_get_current_cipher(tls_->native_handle()))}});
    co_return true;
}

// Ends an intact TLS session with our close_notify alert (RFC 8446 6.1), so that the client can
// tell the end of the session from a truncation. One-way: the SMTP dialogue is over, so we do not
// wait for the client's close_notify (a client that never sends one must not hold the connection
// or its slot). Marking the client's as received makes SSL_shutdown send ours and report done
// without reading; async_shutdown then only writes a few bytes. The deadline bounds that write by
// kTlsCloseTimeout (a client that reads nothing, its window full): it cancels, then closes.
asio::awaitable<void> Connection::close_tls() {
    if (!tls_ || !tls_clean_ || !socket_.is_open()) co_return;
    tls_clean_ = false;
    SSL* ssl = tls_->native_handle();
    SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
    // Not set_deadline(): the session deadline may have passed (that is why we are closing).
    deadline_.expires_after(kTlsCloseTimeout);
    auto [ec] = co_await tls_->async_shutdown(as_tuple_awaitable);
    if (ec)
        log::debug("tls_close", {{"session", id_}, {"ip", client_ip_}, {"error", ec.message()}});
}

asio::awaitable<void> Connection::authenticate() {
    auth::LoginGuard& guard = *ctx_.login_guard;
    const auth::Credentials& c = session_.pending_credentials();
    // Reserve the guess before the hash is checked: attempts in flight count against the limits.
    const auto attempt = guard.begin(client_ip_, c.authcid, clock::now());
    using Decision = auth::LoginGuard::Decision;
    if (attempt.decision != Decision::check) {
        const bool account = attempt.decision == Decision::throttled;
        const char* reason = account                              ? "auth_throttled"
                             : attempt.decision == Decision::busy ? "auth_busy"
                                                                  : "auth_locked";
        log::warn(reason, {{"session", id_}, {"ip", client_ip_}, {"user", c.authcid}});
        session_.auth_verdict(
            {454, "4.7.0",
             account ? "Too many failed logins for this account, try again later"
                     : "Too many failed logins from your address, try again later"},
            "", reason);
        co_return;
    }
    // Settled exactly once: below, or as a failure if this coroutine is torn down before (at
    // shutdown), so a reservation never leaks and leaves the address "busy".
    struct Unsettled {
        auth::LoginGuard* guard;
        const std::string& ip;
        std::string login;
        ~Unsettled() {
            if (guard) guard->failed(ip, login, clock::now());
        }
    } unsettled{&guard, client_ip_, c.authcid};
    if (attempt.throttle_started)
        log::warn("auth_account_throttled", {{"session", id_},
                                             {"ip", client_ip_},
                                             {"user", c.authcid},
                                             {"throttled_total", guard.throttled_attempts()}});
    if (attempt.wait > clock::duration::zero()) {
        // Our wait, not the client's: the command deadline starts after it.
        set_deadline(attempt.wait + ctx_.cfg.timeouts.command);
        asio::steady_timer slot(socket_.get_executor(), attempt.wait);
        co_await slot.async_wait(as_tuple_awaitable);
    }
    struct Job {
        const auth::UserStore* users;
        std::string authzid, authcid, password;
    };
    auto job = std::make_shared<Job>(Job{ctx_.users, c.authzid, c.authcid, c.password});
    // The password hash check is slow on purpose: it runs on the auth pool, never here.
    // A named lambda, not a temporary inside the co_await expression: GCC 12 destroys such
    // temporaries twice (ASan saw the captured shared_ptr freed while still in use).
    auto check = [job]() -> std::optional<auth::User> {
        std::optional<auth::User> u;
        try {
            u = job->users->find(job->authcid);
        } catch (const std::exception&) {
            u.reset();
        }
        // Unknown users cost the same time as known ones: no user enumeration by timing.
        bool ok = auth::verify_password(u ? u->password_hash : auth::dummy_hash(), job->password);
        auth::Credentials wipe{{}, {}, std::move(job->password)};
        auth::wipe(wipe);
        // Acting for someone else (authzid) is not supported: only oneself.
        if (!job->authzid.empty() && u && !ascii_iequals(job->authzid, u->name)) ok = false;
        if (!ok) u.reset();
        return u;
    };
    std::optional<auth::User> user =
        co_await async_blocking(*ctx_.auth_pool, std::move(check), use_awaitable);
    const std::string login = job->authcid;
    unsettled.guard = nullptr;
    if (user && !guard.succeeded(client_ip_, login, clock::now())) {
        // Other attempts from this address locked it while this one was checked.
        log::warn("auth_locked", {{"session", id_}, {"ip", client_ip_}, {"user", login}});
        session_.auth_verdict(
            {454, "4.7.0", "Too many failed logins from your address, try again later"}, "",
            "auth_locked");
        co_return;
    }
    if (user) {
        log::info("auth",
                  {{"session", id_}, {"ip", client_ip_}, {"user", user->name}, {"ok", true}});
        user_ = std::move(user);
        facts_.user = &*user_;  // authenticated users may relay
        session_.auth_verdict({235, "2.7.0", "Authentication successful"}, user_->name);
        if (user_->message_size) session_.set_message_size(*user_->message_size);
        co_return;
    }
    auto f = guard.failed(client_ip_, login, clock::now());
    log::warn("auth", {{"session", id_},
                       {"ip", client_ip_},
                       {"user", login},
                       {"ok", false},
                       {"failures", f.count},
                       {"locked", f.locked_now}});
    asio::steady_timer delay(socket_.get_executor(), f.delay);
    co_await delay.async_wait(as_tuple_awaitable);
    session_.auth_verdict({535, "5.7.8", "Authentication credentials invalid"}, "", "auth_failed");
    if (f.locked_now) {
        close_with({421, "4.7.0", "Too many failed logins, closing connection"}, "auth_lockout");
    }
}

}  // namespace sluice::server
