// smtp_client.cpp: one outgoing SMTP connection (see smtp_client.hpp).
#include "delivery/smtp_client.hpp"

#include "delivery/smtp_transaction.hpp"

#include <fmt/format.h>
#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "auth/sasl.hpp"
#include "delivery/smtp_client_data.hpp"

// GCC 12 reports a false -Wmismatched-new-delete on some coroutine frames (GCC PR 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace sluice::delivery {
namespace asio = boost::asio;
using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
// Time allowed to send our TLS close_notify after QUIT.
constexpr std::chrono::milliseconds kTlsCloseTimeout = 2s;

// GCC 12 miscompiles some coroutine constructs (co_await inside conditions and ?:, braced
// initializer lists in co_return): replies are built by this plain function and awaited values
// are stored in variables first.
ServerReply make_reply(int code, std::string enhanced, std::string line) {
    ServerReply r;
    r.code = code;
    r.enhanced = std::move(enhanced);
    r.lines.push_back(std::move(line));
    return r;
}

SmtpConnection::SmtpConnection(asio::any_io_executor ex, asio::ssl::context& ssl)
    : stream_(ex, ssl), deadline_(ex) {}

void SmtpConnection::arm(std::chrono::milliseconds d) {
    deadline_.start(weak_from_this(), [this] {
        timed_out_ = true;
        boost::system::error_code ignored;
        stream_.next_layer().cancel(ignored);
    });
    timed_out_ = false;
    deadline_.expires_after(d);
}

void SmtpConnection::disarm() {
    deadline_.clear();
}  // timed_out_ stays for network_error()

smtp::Reply SmtpConnection::network_error(std::string_view what,
                                          const boost::system::error_code& ec) const {
    const std::string why = timed_out_ ? std::string("timed out") : ec.message();
    return smtp::Reply{421, greeted_ ? "4.4.2" : "4.4.1",
                       fmt::format("{} {}[{}]: {}", what, host_, ip_, why)};
}

void SmtpConnection::close() {
    boost::system::error_code ec;
    disarm();
    stream_.next_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    stream_.next_layer().close(ec);
    open_ = false;
}

std::string SmtpConnection::tls_description() const {
    if (!tls_) return {};
    SSL* ssl = const_cast<Stream&>(stream_).native_handle();
    return fmt::format("{} {}", SSL_get_version(ssl),
                       SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
}

asio::awaitable<ServerReply> SmtpConnection::read_reply(std::chrono::milliseconds timeout) {
    char buf[8192];
    while (true) {
        if (auto r = parser_.next()) {
            if (r->code == 0) {
                broken_ = true;
                co_return make_reply(421, "4.5.0",
                                     fmt::format("4.5.0 malformed reply from {}[{}]", host_, ip_));
            }
            co_return *r;
        }
        if (broken_) co_return make_reply(421, "4.4.2", "4.4.2 connection is broken");
        arm(timeout);
        // (No co_await inside ?: : GCC 12 miscompiles it.)
        boost::system::error_code ec;
        std::size_t n = 0;
        if (tls_)
            std::tie(ec, n) = co_await stream_.async_read_some(asio::buffer(buf), kTuple);
        else
            std::tie(ec, n) =
                co_await stream_.next_layer().async_read_some(asio::buffer(buf), kTuple);
        disarm();
        if (ec) {
            broken_ = true;
            auto r = network_error("lost connection with", ec);
            co_return make_reply(r.code, r.enhanced, r.enhanced + " " + r.text);
        }
        parser_.feed(std::string_view(buf, n));
    }
}

asio::awaitable<bool> SmtpConnection::write(std::string_view data,
                                            std::chrono::milliseconds timeout) {
    if (broken_) co_return false;
    arm(timeout);
    boost::system::error_code ec;
    std::size_t n = 0;
    if (tls_)
        std::tie(ec, n) = co_await asio::async_write(stream_, asio::buffer(data), kTuple);
    else
        std::tie(ec, n) =
            co_await asio::async_write(stream_.next_layer(), asio::buffer(data), kTuple);
    (void)n;
    disarm();
    if (ec) broken_ = true;
    co_return !ec;
}

asio::awaitable<ServerReply> SmtpConnection::command(std::string_view line) {
    const bool written = co_await write(line, opts_.command_timeout);
    if (!written)
        co_return make_reply(421, "4.4.2",
                             fmt::format("4.4.2 lost connection with {}[{}]", host_, ip_));
    co_return co_await read_reply(opts_.command_timeout);
}

asio::awaitable<std::optional<smtp::Reply>> SmtpConnection::hello() {
    auto r = co_await command(fmt::format("EHLO {}\r\n", opts_.helo));
    if (r.code >= 500 && usable()) {  // 5xx to EHLO: an old server; try HELO
        r = co_await command(fmt::format("HELO {}\r\n", opts_.helo));
        ext_ = Extensions{};
    } else {
        ext_ = parse_ehlo(r);
    }
    if (r.code != 250) co_return r.to_reply();
    co_return std::nullopt;
}

asio::awaitable<std::optional<smtp::Reply>> SmtpConnection::open(std::string ip, std::uint16_t port,
                                                                 std::string host,
                                                                 const ClientOptions& opts) {
    auto err = co_await open_session(std::move(ip), port, std::move(host), opts);
    if (err || opts_.user.empty()) co_return err;
    auto auth_err = co_await authenticate();
    co_return auth_err;
}

asio::awaitable<std::optional<smtp::Reply>> SmtpConnection::authenticate() {
    const std::string peer = fmt::format("{}[{}]", host_, ip_);
    if (!tls_ && !opts_.auth_plaintext)
        co_return smtp::Reply{451, "4.7.0",
                              fmt::format("refusing to send credentials to {} without TLS", peer)};
    if (!ext_.auth_plain && !ext_.auth_login)
        co_return smtp::Reply{451, "4.7.0",
                              fmt::format("{} does not offer AUTH PLAIN or LOGIN", peer)};
    ServerReply r;
    if (ext_.auth_plain) {
        std::string cred;
        cred.push_back('\0');
        cred += opts_.user;
        cred.push_back('\0');
        cred += opts_.password;
        std::string line = "AUTH PLAIN " + auth::base64_encode(cred) + "\r\n";
        r = co_await command(line);
        std::fill(cred.begin(), cred.end(), '\0');
        std::fill(line.begin(), line.end(), '\0');
    } else {
        r = co_await command("AUTH LOGIN\r\n");
        if (r.code == 334) r = co_await command(auth::base64_encode(opts_.user) + "\r\n");
        if (r.code == 334) {
            std::string line = auth::base64_encode(opts_.password) + "\r\n";
            r = co_await command(line);
            std::fill(line.begin(), line.end(), '\0');
        }
    }
    if (r.code == 235) co_return std::nullopt;
    const smtp::Reply remote = r.to_reply();
    if (!usable()) co_return remote;
    // A refused login is temporary here: the mail waits for the configuration to be fixed.
    co_return smtp::Reply{454, "4.7.0",
                          fmt::format("authentication as {} to {} failed: {} {} {}", opts_.user,
                                      peer, remote.code, remote.enhanced, remote.text)};
}

asio::awaitable<std::optional<smtp::Reply>> SmtpConnection::open_session(
    std::string ip, std::uint16_t port, std::string host, const ClientOptions& opts) {
    opts_ = opts;
    host_ = std::move(host);
    ip_ = std::move(ip);
    port_ = port;
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(ip_, ec);
    if (ec) co_return smtp::Reply{451, "4.4.1", fmt::format("bad address {}", ip_)};
    asio::ip::tcp::endpoint ep(addr, port);
    arm(opts_.connect_timeout);
    std::tie(ec) = co_await stream_.next_layer().async_connect(ep, kTuple);
    disarm();
    if (ec) {
        broken_ = true;
        co_return network_error("connect to", ec);
    }
    open_ = true;
    stream_.next_layer().set_option(asio::ip::tcp::no_delay(true), ec);
    auto greeting = co_await read_reply(opts_.command_timeout);
    if (greeting.code != 220) co_return greeting.to_reply();
    greeted_ = true;
    if (auto err = co_await hello()) co_return err;
    if (opts_.tls == config::TlsPolicy::none) co_return std::nullopt;
    if (!ext_.starttls) {
        if (opts_.tls == config::TlsPolicy::required)
            co_return smtp::Reply{
                451, "4.7.4",
                fmt::format("TLS is required but {}[{}] does not offer STARTTLS", host_, ip_)};
        co_return std::nullopt;
    }
    auto r = co_await command("STARTTLS\r\n");
    if (r.code != 220) {
        if (opts_.tls == config::TlsPolicy::required || !usable()) co_return r.to_reply();
        co_return std::nullopt;  // opportunistic: carry on in the clear
    }
    if (parser_.buffered()) {
        // Bytes after the 220 arrived before TLS: a STARTTLS injection attempt (CVE-2011-0411).
        broken_ = true;
        co_return smtp::Reply{421, "4.5.0",
                              fmt::format("{}[{}] sent data after STARTTLS", host_, ip_)};
    }
    SSL* ssl = stream_.native_handle();
    boost::system::error_code parse_ec;
    asio::ip::make_address(host_, parse_ec);
    if (parse_ec) SSL_set_tlsext_host_name(ssl, host_.c_str());
    if (opts_.tls_verify) {
        stream_.set_verify_mode(asio::ssl::verify_peer);
        stream_.set_verify_callback(asio::ssl::host_name_verification(host_));
    } else {
        stream_.set_verify_mode(asio::ssl::verify_none);
    }
    arm(opts_.command_timeout);
    std::tie(ec) = co_await stream_.async_handshake(asio::ssl::stream_base::client, kTuple);
    disarm();
    if (ec) {
        broken_ = true;
        co_return smtp::Reply{
            421, "4.7.5",
            fmt::format("TLS handshake with {}[{}] failed: {}", host_, ip_, ec.message())};
    }
    tls_ = true;
    // RFC 3207 4.2: forget what was learnt before TLS and ask again.
    if (auto err = co_await hello()) co_return err;
    co_return std::nullopt;
}

asio::awaitable<std::vector<smtp::Reply>> SmtpConnection::send(const Envelope& env,
                                                               std::string_view message) {
    ++transactions_;
    // The transaction's logic is ClientTransaction's (no I/O); this only moves its bytes.
    ClientTransaction t(env, message, ext_, fmt::format("{}[{}]", host_, ip_));
    while (true) {
        const auto step = t.next();
        const auto timeout = step.data ? opts_.data_timeout : opts_.command_timeout;
        if (step.action == ClientTransaction::Action::write) {
            t.written(co_await write(step.bytes, timeout));
        } else if (step.action == ClientTransaction::Action::read) {
            const auto r = co_await read_reply(timeout);
            t.replied(r.to_reply(), usable());
        } else {
            break;
        }
    }
    co_return t.results();
}

asio::awaitable<void> SmtpConnection::quit() {
    auto self = shared_from_this();  // the caller may drop its reference while we wait
    if (usable()) {
        auto saved = opts_.command_timeout;
        opts_.command_timeout = std::min<std::chrono::milliseconds>(saved, 5s);
        (void)co_await command("QUIT\r\n");
        opts_.command_timeout = saved;
    }
    if (tls_ && usable()) co_await close_tls();
    close();
}

// Ends the TLS session with our close_notify (RFC 8446 6.1) so that the peer sees a clean end
// rather than a truncation. One-way: after QUIT there is nothing more to hear, so we do not wait
// for the peer's close_notify. Marking it as received makes SSL_shutdown send ours and report
// done without reading; async_shutdown then only writes a few bytes, within kTlsCloseTimeout.
asio::awaitable<void> SmtpConnection::close_tls() {
    SSL* ssl = stream_.native_handle();
    SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
    arm(kTlsCloseTimeout);
    auto [ec] = co_await stream_.async_shutdown(kTuple);
    (void)ec;  // the connection is closed next either way
    disarm();
}

}  // namespace sluice::delivery
