// smtp_client.hpp: one outgoing SMTP connection, as an Asio coroutine: connect, greeting,
// EHLO (HELO when EHLO is refused), STARTTLS, then any number of transactions, then QUIT.
//
// A transaction sends MAIL, every RCPT and DATA in one write when the peer offers PIPELINING,
// passes SIZE, BODY, SMTPUTF8 and the DSN parameters the peer announced, and returns one reply per
// recipient: a refused RCPT keeps its own reply, accepted ones get the reply to the message. A
// message that needs 8BITMIME, BINARYMIME or SMTPUTF8 is not sent to a peer without it (each
// recipient fails with a reply saying why) rather than being damaged. Network errors and timeouts
// become 421 replies ("4.4.1" before the greeting, "4.4.2" after), and the connection is then
// unusable.
//
// SECURITY: the remote server is untrusted: replies are parsed by ReplyParser (bounded lines and
// counts), every wait has a deadline (connect, each reply, the message), and TLS certificates are
// verified only when the route asks for it (opportunistic TLS protects against passive snooping).
// STANDARDS: RFC 5321 (3.3, 4.1, 4.5.3.2 timeouts, 4.5.2 transparency); RFC 2920 PIPELINING;
// RFC 3207 STARTTLS; RFC 1870 SIZE; RFC 6152 8BITMIME; RFC 3030 CHUNKING/BINARYMIME; RFC 6531
// SMTPUTF8; RFC 3461 DSN; RFC 4954 AUTH (RFC 4616 PLAIN; LOGIN).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/deadline.hpp"
#include "common/envelope.hpp"
#include "config/config.hpp"
#include "delivery/smtp_client_reply.hpp"
#include "smtp/reply.hpp"

namespace sluice::delivery {

struct ClientOptions {
    std::string helo;  // our name in EHLO
    std::chrono::milliseconds connect_timeout = std::chrono::seconds(30);
    std::chrono::milliseconds command_timeout = std::chrono::minutes(2);
    std::chrono::milliseconds data_timeout = std::chrono::minutes(5);
    config::TlsPolicy tls = config::TlsPolicy::opportunistic;
    bool tls_verify = false;
    // AUTH (PLAIN, else LOGIN) after STARTTLS when user is set; refused without TLS unless
    // auth_plaintext. Any failure is temporary (a misconfiguration must not bounce mail).
    std::string user;
    std::string password;  // SECURITY: never logged
    bool auth_plaintext = false;
};

class SmtpConnection : public std::enable_shared_from_this<SmtpConnection> {
  public:
    SmtpConnection(boost::asio::any_io_executor ex, boost::asio::ssl::context& ssl);

    // Connects to ip:port (host is the name for logs, SNI and verification) and gets the session
    // ready for MAIL. Returns the failure (the greeting, EHLO/HELO or STARTTLS reply, or a 421 for
    // network errors), or nothing when ready.
    boost::asio::awaitable<std::optional<smtp::Reply>> open(std::string ip, std::uint16_t port,
                                                            std::string host,
                                                            const ClientOptions& opts);

    // One transaction for env.recipients (all of them). Returns one reply per recipient.
    boost::asio::awaitable<std::vector<smtp::Reply>> send(const Envelope& env,
                                                          std::string_view message);

    // QUIT, politely and briefly; ends TLS with our close_notify (not waiting for the peer's);
    // closes the connection.
    boost::asio::awaitable<void> quit();
    void close();

    bool usable() const { return open_ && !broken_; }
    boost::asio::any_io_executor get_executor() { return stream_.get_executor(); }
    const std::string& host() const { return host_; }
    const std::string& ip() const { return ip_; }
    std::string tls_description() const;  // "TLSv1.3 TLS_AES_256_GCM_SHA384", or "" without TLS
    const Extensions& extensions() const { return ext_; }
    unsigned transactions() const { return transactions_; }

  private:
    using Stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
    boost::asio::awaitable<ServerReply> read_reply(std::chrono::milliseconds timeout);
    boost::asio::awaitable<bool> write(std::string_view data, std::chrono::milliseconds timeout);
    boost::asio::awaitable<ServerReply> command(std::string_view line);
    boost::asio::awaitable<std::optional<smtp::Reply>> hello();
    boost::asio::awaitable<std::optional<smtp::Reply>> open_session(std::string ip,
                                                                    std::uint16_t port,
                                                                    std::string host,
                                                                    const ClientOptions& opts);
    boost::asio::awaitable<std::optional<smtp::Reply>> authenticate();
    boost::asio::awaitable<void> close_tls();
    // Every wait is bounded by deadline_ (common/deadline.hpp): arm before, disarm after. When it
    // passes, the socket's operations are cancelled and timed_out_ says why they failed.
    void arm(std::chrono::milliseconds d);
    void disarm();
    smtp::Reply network_error(std::string_view what, const boost::system::error_code& ec) const;

    Stream stream_;
    Deadline deadline_;
    ClientOptions opts_;
    ReplyParser parser_;
    Extensions ext_;
    std::string host_, ip_;
    std::uint16_t port_ = 0;
    bool tls_ = false;
    bool open_ = false;
    bool broken_ = false;
    bool greeted_ = false;
    bool timed_out_ = false;
    unsigned transactions_ = 0;
};

}  // namespace sluice::delivery
