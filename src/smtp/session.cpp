// session.cpp: the SMTP server state machine (see session.hpp for the contract): the command
// table, input and replies, HELO and the small commands. MAIL and RCPT: session_envelope.cpp.
// Message content (DATA, BDAT): session_message.cpp. STARTTLS and AUTH: session_tls_auth.cpp.
#include "smtp/session.hpp"

#include "common/ascii.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

namespace sluice::smtp {
namespace {

constexpr std::size_t kCompactThreshold = 64 * 1024;

// EHLO/HELO argument: a domain or address literal. We accept any printable, space-free name of
// sane length (many real clients send non-FQDN names), but never control characters, since the
// name goes into the Received header and logs.
bool valid_helo(std::string_view s) {
    if (s.empty() || s.size() > 255) return false;
    for (unsigned char c : s)
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ';' || c == '(' || c == ')')
            return false;
    return true;
}

std::string_view verb_name(Verb v) {
    switch (v) {
        case Verb::helo:
            return "HELO";
        case Verb::ehlo:
            return "EHLO";
        case Verb::mail:
            return "MAIL";
        case Verb::rcpt:
            return "RCPT";
        case Verb::data:
            return "DATA";
        case Verb::bdat:
            return "BDAT";
        case Verb::rset:
            return "RSET";
        case Verb::noop:
            return "NOOP";
        case Verb::quit:
            return "QUIT";
        case Verb::vrfy:
            return "VRFY";
        case Verb::expn:
            return "EXPN";
        case Verb::help:
            return "HELP";
        case Verb::starttls:
            return "STARTTLS";
        case Verb::auth:
            return "AUTH";
        case Verb::http:
            return "HTTP";
        case Verb::unknown:
            break;
    }
    return "";
}

}  // namespace

// Which states a verb is valid in, and what to say when it is not.
enum StateMask : unsigned {
    s_rejected = 1u << 0,
    s_connected = 1u << 1,
    s_ready = 1u << 2,
    s_mail = 1u << 3,
};

struct Session::Handler {
    Verb verb;
    unsigned allowed;
    const char* bad_sequence;  // text for 503 5.5.1 when the state does not allow the verb
    void (*run)(Session&, std::string_view args);
};

namespace {
using S = Session;
}  // namespace

const Session::Handler* Session::find_handler(Verb v) {
    static const Handler table[] = {
        {Verb::ehlo, s_connected | s_ready | s_mail, "",
         [](S& s, std::string_view a) { s.do_helo(a, true); }},
        {Verb::helo, s_connected | s_ready | s_mail, "",
         [](S& s, std::string_view a) { s.do_helo(a, false); }},
        {Verb::mail, s_ready,
         "Bad sequence of commands: send EHLO/HELO first, one MAIL per message",
         [](S& s, std::string_view a) { s.do_mail(a); }},
        {Verb::rcpt, s_mail, "Bad sequence of commands: need MAIL before RCPT",
         [](S& s, std::string_view a) { s.do_rcpt(a); }},
        {Verb::data, s_mail, "Bad sequence of commands: need MAIL and RCPT before DATA",
         [](S& s, std::string_view) { s.do_data(); }},
        // BDAT checks its own sequencing: its chunk must be read even when it is refused.
        {Verb::bdat, s_rejected | s_connected | s_ready | s_mail, "",
         [](S& s, std::string_view a) { s.do_bdat(a); }},
        {Verb::rset, s_connected | s_ready | s_mail, "Bad sequence of commands",
         [](S& s, std::string_view) { s.do_rset(); }},
        {Verb::noop, s_rejected | s_connected | s_ready | s_mail, "",
         [](S& s, std::string_view) { s.reply(250, "2.0.0", "Ok"); }},
        {Verb::quit, s_rejected | s_connected | s_ready | s_mail, "",
         [](S& s, std::string_view) { s.do_quit(); }},
        {Verb::vrfy, s_connected | s_ready | s_mail, "Bad sequence of commands",
         [](S& s, std::string_view a) { s.do_vrfy(a); }},
        {Verb::help, s_connected | s_ready | s_mail, "Bad sequence of commands",
         [](S& s, std::string_view) { s.do_help(); }},
        {Verb::starttls, s_connected | s_ready,
         "Bad sequence of commands: STARTTLS is not allowed inside a mail transaction",
         [](S& s, std::string_view a) { s.do_starttls(a); }},
        {Verb::auth, s_ready,
         "Bad sequence of commands: AUTH needs EHLO first and is not allowed inside a mail "
         "transaction",
         [](S& s, std::string_view a) { s.do_auth(a); }},
    };
    for (const auto& h : table)
        if (h.verb == v) return &h;
    return nullptr;
}

Session::Session(SessionInfo info, SessionLimits limits)
    : info_(std::move(info)),
      limits_(limits),
      listener_message_size_(limits.message_size),
      tls_active_(info_.tls_active),
      tls_info_(info_.tls_info) {}

void Session::start() {
    state_ = State::connected;
    reply(220, "", fmt::format("{} ESMTP Sluice", info_.hostname));
}

void Session::start_rejected(const Reply& r, std::string_view reason) {
    state_ = State::rejected;
    command_ = "CONNECT";
    reply(r, reason);
}

void Session::feed(std::string_view bytes) {
    // After STARTTLS, nothing the client sent in plaintext may ever be read as a command.
    if (state_ == State::starttls) return;
    if (in_pos_ == in_.size()) {
        in_.clear();
        in_pos_ = 0;
    } else if (in_pos_ > kCompactThreshold) {
        in_.erase(0, in_pos_);
        in_pos_ = 0;
    }
    in_.append(bytes);
}

void Session::reply(int code, std::string_view enhanced, std::string_view text,
                    std::string_view reason) {
    append_reply(out_, code, enhanced, text);
    if (code >= 400) report(code, enhanced, text, reason);
}

void Session::report(int code, std::string_view enhanced, std::string_view text,
                     std::string_view reason) {
    if (!on_refusal_) return;
    Refusal r;
    r.command = command_;
    r.reason = reason.empty() ? std::string_view("refused") : reason;
    r.code = code;
    r.enhanced = enhanced;
    r.text = text;
    if (!refused_from_.empty())
        r.from = refused_from_;
    else if (in_transaction())
        r.from = env_.sender;
    r.rcpt = refused_rcpt_;
    r.user = auth_user_.empty() ? std::string_view(auth_attempt_) : std::string_view(auth_user_);
    on_refusal_(r);
}

void Session::error_reply(int code, std::string_view enhanced, std::string_view text,
                          std::string_view reason) {
    reply(code, enhanced, text, reason);
    if (++errors_ >= limits_.errors) {
        reply(421, "4.7.0",
              fmt::format("{} Error: too many errors, closing connection", info_.hostname),
              "too_many_errors");
        state_ = State::closed;
    }
}

void Session::reset_transaction() {
    env_ = Envelope{};
    reader_.reset();
    bdat_buf_.clear();
    bdat_buf_.shrink_to_fit();
    bdat_remaining_ = 0;
    bdat_last_ = false;
    bdat_failed_ = false;
    bdat_too_big_ = false;
    bdat_header_too_big_ = false;
    bdat_size_ = 0;
    in_bdat_ = false;
    if (state_ == State::mail || state_ == State::data || state_ == State::bdat ||
        state_ == State::wait_commit || state_ == State::wait_rcpt || state_ == State::wait_sender)
        state_ = State::ready;
}

bool Session::in_message() const {
    return state_ == State::data || state_ == State::bdat;
}

bool Session::message_open() const {
    return state_ == State::data || state_ == State::bdat || state_ == State::wait_commit ||
           (state_ == State::mail && in_bdat_);
}

const std::string* Session::message_buffer() const {
    if (state_ == State::data && reader_ && reader_->ok()) return &reader_->data();
    if (in_bdat_ && !bdat_too_big_ && !bdat_header_too_big_ && state_ != State::wait_commit)
        return &bdat_buf_;
    return nullptr;
}

std::size_t Session::message_buffered() const {
    const std::string* b = message_buffer();
    return b ? b->size() : 0;
}

std::size_t Session::body_buffered() const {
    const std::string* b = message_buffer();
    if (!b || !header_scan_.done() || b->size() <= header_scan_.end()) return 0;
    return b->size() - header_scan_.end();
}

std::string_view Session::message_header() const {
    const std::string* b = message_buffer();
    if (!b || !header_scan_.done()) return {};
    return std::string_view(*b).substr(0, std::min(b->size(), header_scan_.end()));
}

std::string Session::take_body() {
    std::string* b = message_buffer();
    if (!b || !header_scan_.done() || b->size() <= header_scan_.end()) return {};
    std::string body = b->substr(header_scan_.end());
    b->resize(header_scan_.end());
    return body;
}

void Session::scan_header() {
    if (header_scan_.done() || header_scan_.too_big()) return;
    std::string* b = message_buffer();
    if (!b) return;
    header_scan_.scan(*b);
    if (!header_scan_.too_big()) return;
    if (reader_) {
        reader_->refuse_header();
    } else {
        bdat_header_too_big_ = true;
        std::string().swap(bdat_buf_);
    }
}

bool Session::in_transaction() const {
    return state_ == State::mail || state_ == State::data || state_ == State::bdat ||
           state_ == State::wait_rcpt || state_ == State::wait_commit ||
           state_ == State::wait_sender;
}

bool Session::waiting() const {
    return state_ == State::closed || state_ == State::wait_rcpt || state_ == State::wait_commit ||
           state_ == State::wait_sender || state_ == State::starttls ||
           state_ == State::wait_auth || state_ == State::wait_helo;
}

Event Session::next() {
    while (true) {
        switch (state_) {
            case State::closed:
                return Event::close;
            case State::wait_rcpt:
                return Event::check_recipient;
            case State::wait_commit:
                return Event::commit;
            case State::wait_sender:
                return Event::check_sender;
            case State::wait_helo:
                return Event::check_helo;
            case State::starttls:
                return Event::starttls;
            case State::wait_auth:
                return Event::authenticate;
            case State::data: {
                std::string_view avail(in_.data() + in_pos_, in_.size() - in_pos_);
                in_pos_ += reader_->feed(avail);
                scan_header();
                if (!reader_->done()) return Event::need_input;
                finish_message();
                continue;
            }
            case State::bdat: {
                std::size_t avail = in_.size() - in_pos_;
                std::size_t take = std::min(avail, bdat_remaining_);
                if (!bdat_failed_ && !bdat_too_big_ && !bdat_header_too_big_) {
                    if (bdat_size_ + take > limits_.message_size) {
                        bdat_too_big_ = true;
                        std::string().swap(bdat_buf_);
                    } else {
                        bdat_buf_.append(in_, in_pos_, take);
                        bdat_size_ += take;
                        scan_header();
                    }
                }
                in_pos_ += take;
                bdat_remaining_ -= take;
                if (bdat_remaining_ > 0) return Event::need_input;
                finish_bdat_chunk();
                continue;
            }
            default:
                break;
        }

        // Command mode: find one complete line.
        std::string_view avail(in_.data() + in_pos_, in_.size() - in_pos_);
        const std::size_t line_limit = command_line_limit(avail);
        auto lf = avail.find('\n');
        if (lf == std::string_view::npos) {
            if (avail.size() >= line_limit) {
                // Keep memory bounded: drop what we have and skip to the end of this line.
                discarding_line_ = true;
                in_pos_ = in_.size();
            }
            return Event::need_input;
        }
        std::string_view line = avail.substr(0, lf);
        in_pos_ += lf + 1;
        command_ = {};
        if (discarding_line_ || line.size() + 1 > line_limit) {
            discarding_line_ = false;
            error_reply(500, "5.5.2", "Syntax error: line too long", "line_too_long");
            continue;
        }
        if (line.empty() || line.back() != '\r') {
            error_reply(500, "5.5.2", "Syntax error: command lines must end with CRLF",
                        "bare_lf_command");
            continue;
        }
        line.remove_suffix(1);
        if (line.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos) {
            error_reply(500, "5.5.2", "Syntax error: invalid character in command",
                        "bad_character");
            continue;
        }
        if (state_ == State::auth_response) {
            command_ = "AUTH";
            auth_line(line);
            continue;
        }
        if (process_line(line)) continue;  // state changed to a wait/closed state: loop reports it
    }
}

bool Session::sent_ahead(Verb v) const {
    if (!limits_.forbid_unauth_pipelining || !auth_user_.empty()) return false;
    if (in_pos_ >= in_.size()) return false;  // nothing after this command yet
    if (!esmtp_) return true;                 // PIPELINING was never offered
    switch (v) {
        case Verb::helo:
        case Verb::ehlo:
        case Verb::data:
        case Verb::vrfy:
        case Verb::expn:
        case Verb::noop:
            return true;
        default:
            return false;
    }
}

std::size_t Session::command_line_limit(std::string_view line_start) const {
    // RFC 4954 4: an AUTH command and each SASL response may be 12,288 octets with CRLF (a long
    // password in PLAIN). Only where AUTH is offered; every other command keeps the small limit.
    if (!info_.auth || limits_.command_line >= kSaslLine) return limits_.command_line;
    if (state_ == State::auth_response) return kSaslLine;
    if (line_start.size() >= 5 && ascii_iequals(line_start.substr(0, 5), "AUTH ")) return kSaslLine;
    return limits_.command_line;
}

bool Session::process_line(std::string_view line) {
    Command cmd = parse_command(line);
    command_ = verb_name(cmd.verb);
    if (cmd.verb == Verb::http) {
        // Someone is speaking HTTP to us (a browser, a cross-protocol attack): say nothing more.
        state_ = State::closed;
        report(0, "", "connection dropped: HTTP request on the SMTP port", "http");
        return true;
    }
    if (sent_ahead(cmd.verb)) {
        // RFC 2920 3.1: these commands change what the client must do next, so it must wait
        // for their reply; and without EHLO nothing may be pipelined. A client that did not is a
        // spam engine or an attack on how we and the next hop split the stream (the smtpsmug
        // "pipelining" test sends the message before the 354): refused as Postfix's
        // smtpd_forbid_unauth_pipelining does.
        state_ = State::closed;
        reply(554, "5.5.0",
              fmt::format("Error: SMTP protocol synchronization ({} sent before its reply)",
                          command_),
              "pipelining");
        return true;
    }
    const Handler* h = find_handler(cmd.verb);
    if (h == nullptr) {
        if (cmd.verb == Verb::unknown)
            error_reply(500, "5.5.2", "Syntax error: command unrecognized", "unknown_command");
        else
            error_reply(502, "5.5.1", "Command not implemented", "not_implemented");
        return state_ == State::closed;
    }
    unsigned mask = 0;
    switch (state_) {
        case State::rejected:
            mask = s_rejected;
            break;
        case State::connected:
            mask = s_connected;
            break;
        case State::ready:
            mask = s_ready;
            break;
        case State::mail:
            mask = s_mail;
            break;
        default:
            break;
    }
    if ((h->allowed & mask) == 0) {
        if (state_ == State::rejected)
            error_reply(503, "5.7.0", "Service refused: only QUIT is accepted", "access_denied");
        else if (cmd.verb == Verb::mail && state_ == State::mail)
            error_reply(503, "5.5.1", "Bad sequence of commands: nested MAIL command",
                        "bad_sequence");
        else
            error_reply(503, "5.5.1", h->bad_sequence, "bad_sequence");
        return state_ == State::closed;
    }
    h->run(*this, cmd.args);
    return waiting();
}

void Session::do_helo(std::string_view args, bool extended) {
    if (!valid_helo(args)) {
        error_reply(501, "5.5.4", extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname",
                    "syntax");
        return;
    }
    reset_transaction();
    helo_ = std::string(args);
    esmtp_ = extended;
    if (info_.check_helo) {
        // The name is kept while the driver decides (its policy reads it); a refusal forgets it.
        state_ = State::wait_helo;
        return;
    }
    state_ = State::ready;
    helo_reply();
}

void Session::helo_verdict(const Reply& r, std::string_view reason) {
    if (state_ != State::wait_helo) return;
    if (r.positive()) {
        state_ = State::ready;
        helo_reply();
        return;
    }
    helo_.clear();
    esmtp_ = false;
    state_ = State::connected;
    if (r.code >= 500)
        error_reply(r.code, r.enhanced, r.text, reason);
    else
        reply(r, reason);
}

void Session::helo_reply() {
    const bool extended = esmtp_;
    if (!extended) {
        reply(250, "", info_.hostname);
        return;
    }
    std::string text = fmt::format(
        "{} Hello {} [{}]\nPIPELINING\nSIZE {}\n8BITMIME\n"
        "ENHANCEDSTATUSCODES\nSMTPUTF8\nCHUNKING\nBINARYMIME",
        info_.hostname, helo_, info_.client_ip, limits_.message_size);
    if (info_.dsn) text += "\nDSN";
    if (info_.starttls && !tls_active_) text += "\nSTARTTLS";
    if (info_.auth && (tls_active_ || info_.auth_plaintext)) text += "\nAUTH PLAIN LOGIN";
    // EHLO's reply lines carry no enhanced code (RFC 2034 applies to the status, not keywords).
    reply(250, "", text);
}

void Session::do_rset() {
    reset_transaction();
    if (state_ == State::mail) state_ = State::ready;
    reply(250, "2.0.0", "Ok");
}

void Session::do_vrfy(std::string_view args) {
    if (args.empty()) {
        error_reply(501, "5.5.4", "Syntax: VRFY address", "syntax");
        return;
    }
    reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

void Session::do_help() {
    reply(214, "2.0.0",
          "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH\n"
          "See RFC 5321");
}

void Session::do_quit() {
    reply(221, "2.0.0", fmt::format("{} closing connection", info_.hostname));
    state_ = State::closed;
}

void Session::timeout() {
    if (state_ == State::closed) return;
    if (!in_message()) command_ = {};
    reply(421, "4.4.2", fmt::format("{} Error: timeout exceeded", info_.hostname), "timeout");
    state_ = State::closed;
}

void Session::shutdown() {
    if (state_ == State::closed) return;
    if (!in_message()) command_ = {};
    reply(421, "4.3.2", fmt::format("{} Service shutting down, try again later", info_.hostname),
          "shutdown");
    state_ = State::closed;
}

void Session::abort(const Reply& r, std::string_view reason) {
    if (state_ == State::closed) return;
    reply(r, reason);
    state_ = State::closed;
}

}  // namespace sluice::smtp
