// session.hpp: the SMTP server session as a state machine without I/O.
//
// Bytes go in with feed(); next() processes as much buffered input as it can and returns an Event
// telling the driver what it needs: more input, a decision (HELO, sender, recipient: the driver
// asks its Policy chain), a commit (the driver hands pending_message() to the Intake, which adds
// the queue ID and trace header), or a close.
// Replies accumulate in output(); the driver writes them when next() asks for input (so a pipelined
// group of commands gets one write, RFC 2920) and before closing. Nothing here blocks or touches
// the network or disk, so the whole session is unit-tested and fuzzed byte by byte.
//
// The commands are a table of {verb, allowed states, handler}: sequencing is checked in one place,
// before any handler runs. A transaction's 250 after DATA/BDAT LAST is produced only by
// commit_done(), which the driver calls once the spool has made the message durable.
//
// STARTTLS answers 220 and returns Event::starttls with every byte buffered after the command
// thrown away, and ignores feed() until tls_started(): whatever a client (or a man in the middle)
// pipelined in plaintext after STARTTLS is never executed (the CVE-2011-0411 class). After the
// handshake all session state is reset, authentication included (RFC 3207 4.2). AUTH runs the SASL
// PLAIN/LOGIN exchange here and returns Event::authenticate with decoded credentials; the driver
// checks them (off the event loop) and answers with auth_verdict().
//
// SECURITY: every input byte is untrusted. Command lines are bounded (limits.command_line), bare LF
// ends no command and no DATA, errors are counted and end the session past limits.errors, HTTP on
// the SMTP port ends it at once, and every count (recipients, message size, transactions) is
// capped. AUTH is refused before TLS (538 5.7.11) unless the listener allows plaintext, and a
// listener that requires AUTH refuses MAIL before it (530 5.7.0). STANDARDS: RFC 5321; RFC 1870
// SIZE; RFC 2920 PIPELINING; RFC 3030 CHUNKING/BINARYMIME; RFC 6152 8BITMIME; RFC 2034/3463
// enhanced codes; RFC 6531 SMTPUTF8; RFC 3461 DSN parameters; RFC 3207 STARTTLS; RFC 4954 AUTH; RFC
// 4616 PLAIN; RFC 3848 and 6531 3.7.3 WITH keywords (ESMTPSA...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "auth/sasl.hpp"
#include "common/envelope.hpp"
#include "smtp/address.hpp"
#include "smtp/command.hpp"
#include "smtp/data_reader.hpp"
#include "smtp/header_scan.hpp"
#include "smtp/reply.hpp"

namespace sluice::smtp {

struct SessionLimits {
    std::size_t message_size = 25 * 1024 * 1024;
    std::size_t recipients = 100;
    std::size_t command_line = 512;        // including CRLF
    std::size_t header_size = 100 * 1024;  // a message's header section (552 5.3.4 beyond)
    std::size_t text_line = 1000;          // including CRLF
    std::size_t errors = 20;
    std::size_t transactions = 1000;
    // Unauthenticated clients may pipeline only where RFC 2920 allows (554 5.5.0 and close).
    bool forbid_unauth_pipelining = false;
};

struct SessionInfo {
    std::string hostname;  // our name, for the greeting, EHLO and Received
    std::string listener;
    std::string client_ip;
    std::uint16_t client_port = 0;
    bool dsn = false;  // advertise and accept RFC 3461 parameters
    // Security features of the listener (all off: a plain MX, as the session was before them).
    bool starttls = false;        // offer STARTTLS (a TLS context exists)
    bool tls_active = false;      // implicit TLS (RFC 8314): encrypted from the first byte
    std::string tls_info{};       // with tls_active: "TLSv1.3 TLS_AES_256_GCM_SHA384"
    bool auth = false;            // offer AUTH PLAIN LOGIN (a user store exists)
    bool auth_plaintext = false;  // ...also without TLS (else 538 5.7.11 before TLS)
    bool require_auth = false;    // MAIL needs AUTH first (530 5.7.0): submission roles
    bool check_sender = false;    // emit check_sender after each valid MAIL
    bool check_helo = false;      // emit check_helo after each valid HELO/EHLO
};

enum class Event {
    need_input,       // write output(), then feed() more bytes
    check_recipient,  // decide on pending_recipient(), then call recipient_verdict()
    commit,           // make pending_message() durable, then call commit_done()
    close,            // write output(), then close the connection
    starttls,         // write output() (the 220), run the TLS handshake, then call tls_started()
    authenticate,     // check pending_credentials(), then call auth_verdict()
    check_sender,     // decide on envelope().sender (ownership, rate limits): sender_verdict()
    check_helo,       // decide on helo(): helo_verdict()
};

// A refusal as the session sent it: every reply of 400 or more, and a connection dropped without
// one (code 0), with what the session knows about it, for the driver's log (docs/logging.md). The
// views are valid only during the call. Never carries a password: `user` is the authenticated
// user, or the name an AUTH attempt gave.
struct Refusal {
    std::string_view command;  // "MAIL", "RCPT", "DATA", "AUTH", "CONNECT"...; "" before a verb
    std::string_view reason;   // short and stable: "relay_denied", "bare_cr_lf", "auth_failed"...
    int code = 0;
    std::string_view enhanced;
    std::string_view text;
    std::string_view from{};  // the transaction's sender, when one was given
    std::string_view rcpt{};  // the recipient refused (RCPT)
    std::string_view user{};
};

// What the driver hands to the Intake: the envelope (protocol set; no queue ID or time yet) and
// the message as received, without our trace header, which the Intake adds.
struct PendingMessage {
    Envelope envelope;
    std::string message;  // what is left in memory: all of it, unless the driver took body bytes
    std::size_t header_size = 0;  // message[0, header_size) is the header section (and its end)
    std::string tls;  // the TLS session's description for the Received header; "" without TLS
};

class Session {
  public:
    Session(SessionInfo info, SessionLimits limits);

    // Called with every refusal as it is queued in output() (never for a positive reply, so the
    // 250 path costs one comparison). Set before start().
    void on_refusal(std::function<void(const Refusal&)> f) { on_refusal_ = std::move(f); }

    // Emits the 220 greeting, or when !accept the given rejection (554), after which only QUIT is
    // served (RFC 5321 3.1). `reason` is reported with the refusal.
    void start();
    void start_rejected(const Reply& reply, std::string_view reason = "access_denied");

    void feed(std::string_view bytes);
    Event next();

    std::string& output() { return out_; }
    bool has_output() const { return !out_.empty(); }

    const Mailbox& pending_recipient() const { return pending_rcpt_.path.mailbox; }
    // positive reply = accepted (the text is sent as given); otherwise rejected with that reply,
    // reported as a refusal with `reason` ("unknown_user", "relay_denied", "rate_limit").
    void recipient_verdict(const Reply& reply, std::string_view reason = "rcpt_refused");

    PendingMessage& pending_message() { return pending_msg_; }
    // The spool's answer: a positive reply (250 with queue ID) or 451/452. Resets the transaction.
    void commit_done(const Reply& reply, std::string_view reason = "not_stored");

    // The TLS handshake after STARTTLS succeeded; `tls_info` goes into the Received header. The
    // session starts over (the client must send EHLO again). A failed handshake: just close.
    void tls_started(std::string tls_info);
    // Implicit TLS (RFC 8314): the handshake finished before start(); records its description.
    void implicit_tls(std::string tls_info) {
        tls_active_ = true;
        tls_info_ = std::move(tls_info);
    }

    auth::Mechanism pending_mechanism() const { return auth_mech_; }
    const auth::Credentials& pending_credentials() const { return creds_; }
    // Positive reply (235): `user` is now authenticated. Otherwise the reply is sent as given
    // (535 5.7.8, 454 4.7.0). The credentials are wiped either way.
    void auth_verdict(const Reply& reply, std::string user,
                      std::string_view reason = "auth_failed");
    // The authenticated user's own message size limit (after a positive auth_verdict): applies to
    // later transactions (MAIL SIZE=, DATA, BDAT). The EHLO SIZE already sent is not repeated.
    // STARTTLS, which forgets the authentication, restores the listener's limit.
    void set_message_size(std::size_t bytes) { limits_.message_size = bytes; }
    std::size_t message_size() const { return limits_.message_size; }

    // Positive: the HELO/EHLO reply is sent (ours, not the verdict's text); otherwise the command
    // is refused with it and the client must greet again.
    void helo_verdict(const Reply& reply, std::string_view reason = "helo_refused");

    // The transaction so far (sender at check_sender, recipients at check_recipient).
    const Envelope& envelope() const { return env_; }
    // Positive: the 250 for MAIL is sent (the text as given); otherwise MAIL is refused with it.
    void sender_verdict(const Reply& reply, std::string_view reason = "sender_refused");

    bool tls_active() const { return tls_active_; }
    const std::string& auth_user() const { return auth_user_; }

    // Driver-detected conditions: each emits a 421 and makes next() return close.
    void timeout();   // 421 4.4.2 command/data timeout
    void shutdown();  // 421 4.3.2 server shutting down
    // Any other 421 (data rate too low, session too long, AUTH lockout).
    void abort(const Reply& reply, std::string_view reason);

    // True while a message is being received (DATA or BDAT chunks): the driver picks the data
    // timeout and watches the data rate.
    bool in_message() const;
    // True from DATA's 354 (or the first BDAT chunk) until the message is committed or refused:
    // body bytes the driver took belong to it while this stays true.
    bool message_open() const;
    // Counts messages begun (DATA's 354, a transaction's first BDAT): body bytes the driver took
    // belong to the message of the serial they were taken under.
    std::uint64_t message_serial() const { return message_serial_; }

    // Message bytes held in memory now (header section and body), and the body's share: zero
    // until the header section has ended. take_body() moves those body bytes out, so the driver
    // can stream them to the spool and memory per connection stays bounded; the header section
    // stays (policies read it), and the rest of the body arrives in pending_message() after
    // message[header_size].
    std::size_t message_buffered() const;
    std::size_t body_buffered() const;
    std::string take_body();
    // The message's header section once it has ended (empty before): what stays in memory.
    std::string_view message_header() const;
    // True between MAIL and the end of the transaction: on shutdown the driver lets it finish.
    bool in_transaction() const;
    // Part of a command line has arrived, not its end: the driver keeps the deadline that command
    // started with (a whole line must arrive in time, not just some byte of it).
    bool partial_command() const {
        return !in_message() && (in_pos_ < in_.size() || discarding_line_);
    }
    bool closed() const { return state_ == State::closed; }

    std::size_t messages_accepted() const { return accepted_; }
    std::size_t recipients_accepted() const { return rcpts_total_; }
    const std::string& helo() const { return helo_; }

  private:
    enum class State {
        rejected,       // 554 greeting sent: only QUIT
        connected,      // before EHLO/HELO
        ready,          // after EHLO/HELO, no transaction
        mail,           // after MAIL (recipients may be 0)
        data,           // reading DATA content
        bdat,           // reading a BDAT chunk's bytes
        wait_rcpt,      // check_recipient event outstanding
        wait_commit,    // commit event outstanding
        wait_sender,    // check_sender event outstanding
        wait_helo,      // check_helo event outstanding
        starttls,       // 220 sent: input ignored until tls_started()
        auth_response,  // 334 sent: the next line is a SASL response, not a command
        wait_auth,      // authenticate event outstanding
        closed,
    };

    struct Handler;
    static const Handler* find_handler(Verb v);

    // Every reply goes through these. `reason` names a refusal (code >= 400) for on_refusal.
    void reply(int code, std::string_view enhanced, std::string_view text,
               std::string_view reason = {});
    void reply(const Reply& r, std::string_view reason = {}) {
        reply(r.code, r.enhanced, r.text, reason);
    }
    // A refusal counted as a client error; past limits.errors it also ends the session.
    void error_reply(int code, std::string_view enhanced, std::string_view text,
                     std::string_view reason);
    void report(int code, std::string_view enhanced, std::string_view text,
                std::string_view reason);
    void reset_transaction();
    bool process_line(std::string_view line);  // returns true when an event is pending
    void finish_message();
    void finish_bdat_chunk();

    void do_helo(std::string_view args, bool extended);
    void helo_reply();
    void do_mail(std::string_view args);
    void do_rcpt(std::string_view args);
    void do_data();
    void do_bdat(std::string_view args);
    void do_rset();
    void do_vrfy(std::string_view args);
    void do_help();
    void do_quit();
    void do_starttls(std::string_view args);
    void do_auth(std::string_view args);
    void auth_line(std::string_view line);
    bool waiting() const;
    // The command was followed by more input before its reply where that is not allowed.
    bool sent_ahead(Verb v) const;
    void scan_header();            // after message bytes arrived: header section end and limit
    void refuse_header_too_big();  // 552 5.3.4 at the end of the message (DATA or BDAT)
    const std::string* message_buffer() const;
    std::string* message_buffer() {
        return const_cast<std::string*>(std::as_const(*this).message_buffer());
    }
    // The longest command line allowed for the line starting with `line_start` (with CRLF).
    std::size_t command_line_limit(std::string_view line_start) const;
    static constexpr std::size_t kSaslLine = 12288;

    SessionInfo info_;
    SessionLimits limits_;
    std::size_t listener_message_size_;  // limits_.message_size before any per-user limit

    State state_ = State::connected;
    std::string in_;
    std::size_t in_pos_ = 0;
    bool discarding_line_ = false;  // an over-long command line: skip to its end, then 500
    std::string out_;
    std::function<void(const Refusal&)> on_refusal_;
    std::string_view command_;       // verb of the command being answered, for refusals
    std::string_view refused_rcpt_;  // set while a RCPT refusal is reported
    std::string refused_from_;       // a refused MAIL's sender (the transaction is gone by then)

    std::string helo_;
    bool esmtp_ = false;
    std::size_t errors_ = 0;
    std::size_t transactions_ = 0;
    std::size_t accepted_ = 0;
    std::size_t rcpts_total_ = 0;

    // Current transaction.
    Envelope env_;
    PathArgs pending_rcpt_;
    std::uint8_t pending_notify_ = 0;
    std::string pending_orcpt_;
    std::optional<DataReader> reader_;
    std::string bdat_buf_;
    std::size_t bdat_remaining_ = 0;
    bool bdat_last_ = false;
    bool bdat_failed_ = false;  // a chunk was refused: later chunks are read and refused too
    bool bdat_too_big_ = false;
    bool bdat_header_too_big_ = false;
    std::size_t bdat_size_ = 0;         // the message's BDAT bytes so far (some may be taken)
    std::uint64_t message_serial_ = 0;  // see message_serial()
    HeaderScan header_scan_{0};
    bool in_bdat_ = false;                    // BDAT used in this transaction (DATA then refused)
    State bdat_return_state_ = State::ready;  // where a refused chunk leaves us
    PendingMessage pending_msg_;

    // TLS and AUTH.
    bool tls_active_ = false;
    std::string tls_info_;
    std::string auth_user_;  // empty: not authenticated
    auth::Mechanism auth_mech_ = auth::Mechanism::plain;
    int auth_step_ = 0;  // LOGIN: 1 = username expected, 2 = password expected
    auth::Credentials creds_;
    std::string auth_attempt_;  // the user name the current AUTH gave (for refusals; no password)
};

}  // namespace sluice::smtp
