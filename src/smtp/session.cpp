// session.cpp: the SMTP server state machine (see session.hpp for the contract).
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

std::optional<std::size_t> parse_count(std::string_view s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    std::size_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

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
    in_bdat_ = false;
    if (state_ == State::mail || state_ == State::data || state_ == State::bdat ||
        state_ == State::wait_commit || state_ == State::wait_rcpt || state_ == State::wait_sender)
        state_ = State::ready;
}

bool Session::in_message() const {
    return state_ == State::data || state_ == State::bdat;
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
                if (!reader_->done()) return Event::need_input;
                finish_message();
                continue;
            }
            case State::bdat: {
                std::size_t avail = in_.size() - in_pos_;
                std::size_t take = std::min(avail, bdat_remaining_);
                if (!bdat_failed_ && !bdat_too_big_) {
                    if (bdat_buf_.size() + take > limits_.message_size) {
                        bdat_too_big_ = true;
                        bdat_buf_.clear();
                        bdat_buf_.shrink_to_fit();
                    } else {
                        bdat_buf_.append(in_, in_pos_, take);
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
        auto lf = avail.find('\n');
        if (lf == std::string_view::npos) {
            if (avail.size() >= limits_.command_line) {
                // Keep memory bounded: drop what we have and skip to the end of this line.
                discarding_line_ = true;
                in_pos_ = in_.size();
            }
            return Event::need_input;
        }
        std::string_view line = avail.substr(0, lf);
        in_pos_ += lf + 1;
        command_ = {};
        if (discarding_line_ || line.size() + 1 > limits_.command_line) {
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

bool Session::process_line(std::string_view line) {
    Command cmd = parse_command(line);
    command_ = verb_name(cmd.verb);
    if (cmd.verb == Verb::http) {
        // Someone is speaking HTTP to us (a browser, a cross-protocol attack): say nothing more.
        state_ = State::closed;
        report(0, "", "connection dropped: HTTP request on the SMTP port", "http");
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

void Session::do_mail(std::string_view args) {
    if (info_.require_auth && auth_user_.empty()) {
        error_reply(530, "5.7.0", "Authentication required", "auth_required");
        return;
    }
    if (transactions_ >= limits_.transactions) {
        reply(421, "4.7.0",
              fmt::format("{} Error: too many messages in one session", info_.hostname),
              "too_many_messages");
        state_ = State::closed;
        return;
    }
    auto r = parse_mail_args(args);
    if (!r.args) {
        if (r.error == ArgError::address) {
            if (r.address_error == AddressError::path_too_long ||
                r.address_error == AddressError::local_too_long ||
                r.address_error == AddressError::domain_too_long)
                error_reply(501, "5.1.7", "Sender address too long", "bad_address");
            else
                error_reply(501, "5.1.7", "Bad sender address syntax", "bad_address");
        } else {
            error_reply(501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]", "syntax");
        }
        return;
    }
    Envelope env;
    bool seen_size = false, seen_body = false, seen_utf8 = false, seen_ret = false,
         seen_envid = false;
    for (const auto& p : r.args->params) {
        bool dup = false;
        if (p.keyword == "SIZE") {
            dup = std::exchange(seen_size, true);
            auto n = p.value ? parse_count(*p.value) : std::nullopt;
            if (!n) {
                error_reply(501, "5.5.4", "Syntax error in SIZE parameter", "syntax");
                return;
            }
            if (*n > limits_.message_size) {
                error_reply(552, "5.3.4", "Message size exceeds fixed maximum message size",
                            "too_big");
                return;
            }
        } else if (p.keyword == "BODY") {
            dup = std::exchange(seen_body, true);
            if (p.value && ascii_iequals(*p.value, "7BIT"))
                env.body = BodyType::seven_bit;
            else if (p.value && ascii_iequals(*p.value, "8BITMIME"))
                env.body = BodyType::eight_bit_mime;
            else if (p.value && ascii_iequals(*p.value, "BINARYMIME"))
                env.body = BodyType::binary_mime;
            else {
                error_reply(501, "5.5.4", "Syntax error in BODY parameter", "syntax");
                return;
            }
        } else if (p.keyword == "SMTPUTF8") {
            dup = std::exchange(seen_utf8, true);
            if (p.value) {
                error_reply(501, "5.5.4", "SMTPUTF8 takes no value", "syntax");
                return;
            }
            env.smtputf8 = true;
        } else if (p.keyword == "RET" && info_.dsn) {
            dup = std::exchange(seen_ret, true);
            if (p.value && ascii_iequals(*p.value, "FULL"))
                env.ret = DsnRet::full;
            else if (p.value && ascii_iequals(*p.value, "HDRS"))
                env.ret = DsnRet::hdrs;
            else {
                error_reply(501, "5.5.4", "Syntax error in RET parameter", "syntax");
                return;
            }
        } else if (p.keyword == "ENVID" && info_.dsn) {
            dup = std::exchange(seen_envid, true);
            if (!p.value || p.value->size() > 100 || !decode_xtext(*p.value)) {
                error_reply(501, "5.5.4", "Syntax error in ENVID parameter", "syntax");
                return;
            }
            env.envid = *p.value;
        } else {
            error_reply(555, "5.5.4", fmt::format("Unsupported parameter {}", p.keyword), "syntax");
            return;
        }
        if (dup) {
            error_reply(501, "5.5.4", fmt::format("Duplicate parameter {}", p.keyword), "syntax");
            return;
        }
    }
    const Path& path = r.args->path;
    if (!path.null && path.mailbox.utf8 && !env.smtputf8) {
        error_reply(553, "5.6.7", "Non-ASCII sender address requires SMTPUTF8", "bad_address");
        return;
    }
    env.sender = path.null ? std::string() : path.mailbox.str();
    env.helo = helo_;
    env.client_ip = info_.client_ip;
    env.listener = info_.listener;
    env_ = std::move(env);
    ++transactions_;
    if (info_.check_sender) {
        state_ = State::wait_sender;
        return;
    }
    state_ = State::mail;
    reply(250, "2.1.0", "Ok");
}

void Session::sender_verdict(const Reply& r, std::string_view reason) {
    if (state_ != State::wait_sender) return;
    if (r.positive()) {
        state_ = State::mail;
        reply(r);
        return;
    }
    refused_from_ = std::move(env_.sender);
    if (refused_from_.empty()) refused_from_ = "<>";
    reset_transaction();
    if (r.code >= 500)
        error_reply(r.code, r.enhanced, r.text, reason);
    else
        reply(r, reason);  // a rate limit: the client did nothing wrong
    refused_from_.clear();
}

void Session::do_rcpt(std::string_view args) {
    auto r = parse_rcpt_args(args);
    if (!r.args) {
        if (r.error == ArgError::address)
            error_reply(501, "5.1.3", "Bad recipient address syntax", "bad_address");
        else
            error_reply(501, "5.5.4", "Syntax: RCPT TO:<address> [parameters]", "syntax");
        return;
    }
    if (env_.recipients.size() >= limits_.recipients) {
        // Not counted as an error: RFC 5321 4.5.3.1.10 says the client should send the rest later.
        reply(452, "4.5.3", "Too many recipients", "too_many_recipients");
        return;
    }
    std::uint8_t notify = 0;
    std::string orcpt;
    bool seen_notify = false, seen_orcpt = false;
    for (const auto& p : r.args->params) {
        bool dup = false;
        if (p.keyword == "NOTIFY" && info_.dsn) {
            dup = std::exchange(seen_notify, true);
            if (!p.value) {
                error_reply(501, "5.5.4", "Syntax error in NOTIFY parameter", "syntax");
                return;
            }
            std::string_view v = *p.value;
            while (!v.empty()) {
                auto comma = v.find(',');
                std::string_view item = v.substr(0, comma);
                if (ascii_iequals(item, "NEVER"))
                    notify |= notify_never;
                else if (ascii_iequals(item, "SUCCESS"))
                    notify |= notify_success;
                else if (ascii_iequals(item, "FAILURE"))
                    notify |= notify_failure;
                else if (ascii_iequals(item, "DELAY"))
                    notify |= notify_delay;
                else
                    notify = 0xff;
                v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
            }
            // NEVER must stand alone (RFC 3461 4.1).
            if (notify == 0 || notify == 0xff ||
                ((notify & notify_never) && notify != notify_never)) {
                error_reply(501, "5.5.4", "Syntax error in NOTIFY parameter", "syntax");
                return;
            }
        } else if (p.keyword == "ORCPT" && info_.dsn) {
            dup = std::exchange(seen_orcpt, true);
            auto semi = p.value ? p.value->find(';') : std::string::npos;
            if (semi == std::string::npos || semi == 0 || p.value->size() > 500 ||
                !decode_xtext(std::string_view(*p.value).substr(semi + 1))) {
                error_reply(501, "5.5.4", "Syntax error in ORCPT parameter", "syntax");
                return;
            }
            orcpt = *p.value;
        } else {
            error_reply(555, "5.5.4", fmt::format("Unsupported parameter {}", p.keyword), "syntax");
            return;
        }
        if (dup) {
            error_reply(501, "5.5.4", fmt::format("Duplicate parameter {}", p.keyword), "syntax");
            return;
        }
    }
    if (r.args->path.mailbox.utf8 && !env_.smtputf8) {
        error_reply(553, "5.6.7", "Non-ASCII recipient address requires SMTPUTF8", "bad_address");
        return;
    }
    pending_rcpt_ = std::move(*r.args);
    pending_notify_ = notify;
    pending_orcpt_ = std::move(orcpt);
    state_ = State::wait_rcpt;
}

void Session::recipient_verdict(const Reply& r, std::string_view reason) {
    if (state_ != State::wait_rcpt) return;
    state_ = State::mail;
    if (!r.positive()) {
        const std::string rcpt = pending_rcpt_.path.mailbox.str();
        refused_rcpt_ = rcpt;
        error_reply(r.code, r.enhanced, r.text, reason);
        refused_rcpt_ = {};
        return;
    }
    std::string addr = pending_rcpt_.path.mailbox.str();
    if (pending_rcpt_.path.mailbox.domain.empty()) addr = ascii_lower(addr);  // bare "postmaster"
    bool dup =
        std::any_of(env_.recipients.begin(), env_.recipients.end(),
                    [&](const EnvelopeRecipient& e) { return ascii_iequals(e.address, addr); });
    if (!dup) {
        env_.recipients.push_back(
            EnvelopeRecipient{std::move(addr), pending_orcpt_, pending_notify_});
        ++rcpts_total_;
    }
    reply(r);
}

void Session::do_data() {
    if (in_bdat_) {
        error_reply(503, "5.5.1", "Bad sequence of commands: DATA after BDAT", "bad_sequence");
        return;
    }
    if (env_.body == BodyType::binary_mime) {
        error_reply(503, "5.5.1", "BODY=BINARYMIME requires BDAT", "bad_sequence");
        return;
    }
    if (env_.recipients.empty()) {
        error_reply(554, "5.5.1", "No valid recipients", "no_recipients");
        return;
    }
    reader_.emplace(limits_.message_size, limits_.text_line);
    state_ = State::data;
    reply(354, "", "End data with <CR><LF>.<CR><LF>");
}

// Checks shared by DATA and BDAT LAST, then hands the message to the driver for the commit.
void Session::finish_message() {
    std::string body;
    if (reader_) {
        DataReader& rd = *reader_;
        if (rd.bare_cr_or_lf()) {
            error_reply(554, "5.5.2",
                        "Message refused: bare CR or LF in DATA (RFC 5321 2.3.8); nothing queued",
                        "bare_cr_lf");
            reset_transaction();  // after the refusal is reported: it names the sender
            return;
        }
        if (rd.nul()) {
            error_reply(554, "5.6.0", "Message refused: NUL character in DATA", "nul_in_data");
            reset_transaction();
            return;
        }
        if (rd.too_big()) {
            error_reply(552, "5.3.4", "Message size exceeds fixed maximum message size", "too_big");
            reset_transaction();
            return;
        }
        if (rd.line_too_long()) {
            error_reply(
                554, "5.6.0",
                fmt::format("Message refused: text line longer than {} octets", limits_.text_line),
                "text_line_too_long");
            reset_transaction();
            return;
        }
        body = std::move(rd.data());
        reader_.reset();
    } else {
        body = std::move(bdat_buf_);
        bdat_buf_.clear();
    }
    // RFC 3848 / RFC 6531 3.7.3: S for TLS, A for AUTH (ESMTPSA, UTF8SMTPS, ...). The queue ID,
    // the time and the Received header are the Intake's (one place for every entry point).
    env_.protocol = env_.smtputf8 ? "UTF8SMTP" : (esmtp_ ? "ESMTP" : "SMTP");
    if (env_.protocol != "SMTP") {
        if (tls_active_) env_.protocol += 'S';
        if (!auth_user_.empty()) env_.protocol += 'A';
    }
    pending_msg_.envelope = env_;
    pending_msg_.message = std::move(body);
    pending_msg_.tls = tls_info_;
    state_ = State::wait_commit;
}

void Session::commit_done(const Reply& r, std::string_view reason) {
    if (state_ != State::wait_commit) return;
    if (r.positive()) {
        ++accepted_;
        reply(r);
    } else {
        // Our failure (spool) or a policy check: not counted as a client error.
        reply(r, reason);
    }
    pending_msg_ = PendingMessage{};
    state_ = State::ready;
    reset_transaction();
}

void Session::do_bdat(std::string_view args) {
    // "BDAT <size> [LAST]"
    auto sp = args.find(' ');
    std::string_view size_text = args.substr(0, sp);
    std::string_view rest = sp == std::string_view::npos ? std::string_view() : args.substr(sp + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    auto size = parse_count(size_text);
    bool last = false;
    if (!rest.empty()) {
        if (!ascii_iequals(rest, "LAST")) size.reset();
        last = true;
    }
    if (!size) {
        // Without a valid size we cannot know where the chunk ends; the bytes that follow will be
        // read as commands and fail, and the error limit ends the session if it goes on.
        error_reply(501, "5.5.4", "Syntax: BDAT size [LAST]", "syntax");
        return;
    }
    bdat_remaining_ = *size;
    bdat_last_ = last;
    bdat_failed_ = !(state_ == State::mail && !env_.recipients.empty());
    if (!bdat_failed_ && !in_bdat_) {
        in_bdat_ = true;
        bdat_buf_.clear();
    }
    if (bdat_failed_) {
        bdat_return_state_ = state_;
    }
    state_ = State::bdat;
    if (bdat_remaining_ == 0) finish_bdat_chunk();
}

void Session::finish_bdat_chunk() {
    if (bdat_failed_) {
        state_ = bdat_return_state_;
        bdat_failed_ = false;
        if (state_ == State::rejected)
            error_reply(503, "5.7.0", "Service refused: only QUIT is accepted", "access_denied");
        else if (state_ == State::mail)
            error_reply(554, "5.5.1", "No valid recipients", "no_recipients");
        else
            error_reply(503, "5.5.1", "Bad sequence of commands: need MAIL and RCPT before BDAT",
                        "bad_sequence");
        return;
    }
    state_ = State::mail;
    if (bdat_too_big_) {
        error_reply(552, "5.3.4", "Message size exceeds fixed maximum message size", "too_big");
        reset_transaction();
        return;
    }
    if (!bdat_last_) {
        reply(250, "2.0.0", fmt::format("{} octets received", bdat_buf_.size()));
        return;
    }
    finish_message();
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

void Session::do_starttls(std::string_view args) {
    if (tls_active_) {
        error_reply(503, "5.5.1", "Bad sequence of commands: TLS already active", "bad_sequence");
        return;
    }
    if (!info_.starttls) {
        error_reply(502, "5.5.1", "Command not implemented", "not_implemented");
        return;
    }
    if (!args.empty()) {
        error_reply(501, "5.5.4", "Syntax: STARTTLS", "syntax");
        return;
    }
    reply(220, "2.0.0", "Ready to start TLS");
    // RFC 3207 5 / CVE-2011-0411: discard everything pipelined after STARTTLS.
    in_.clear();
    in_pos_ = 0;
    discarding_line_ = false;
    state_ = State::starttls;
}

void Session::tls_started(std::string tls_info) {
    if (state_ != State::starttls) return;
    // RFC 3207 4.2: forget everything learnt before the handshake.
    reset_transaction();
    tls_active_ = true;
    tls_info_ = std::move(tls_info);
    helo_.clear();
    esmtp_ = false;
    auth_user_.clear();
    limits_.message_size = listener_message_size_;
    in_.clear();
    in_pos_ = 0;
    state_ = State::connected;
}

void Session::do_auth(std::string_view args) {
    auth_attempt_.clear();
    if (!info_.auth) {
        error_reply(502, "5.5.1", "Command not implemented", "not_implemented");
        return;
    }
    if (!esmtp_) {
        error_reply(503, "5.5.1", "Bad sequence of commands: AUTH needs EHLO first",
                    "bad_sequence");
        return;
    }
    if (!auth_user_.empty()) {
        error_reply(503, "5.5.1", "Bad sequence of commands: already authenticated",
                    "bad_sequence");
        return;
    }
    if (!tls_active_ && !info_.auth_plaintext) {
        error_reply(538, "5.7.11", "Encryption required for requested authentication mechanism",
                    "tls_required");
        return;
    }
    auto sp = args.find(' ');
    auto mech = auth::parse_mechanism(args.substr(0, sp));
    if (!mech) {
        error_reply(504, "5.5.4", "Unrecognized authentication type", "auth_mechanism");
        return;
    }
    std::string_view initial =
        sp == std::string_view::npos ? std::string_view() : args.substr(sp + 1);
    auth_mech_ = *mech;
    creds_ = auth::Credentials{};
    auth_step_ = 1;
    if (initial.empty()) {
        state_ = State::auth_response;
        if (auth_mech_ == auth::Mechanism::plain)
            reply(334, "", "");
        else
            reply(334, "", "VXNlcm5hbWU6");  // "Username:"
        return;
    }
    auth_line(initial);
}

// One SASL response: the initial response of AUTH or a line after a 334.
void Session::auth_line(std::string_view line) {
    state_ = State::ready;
    if (line == "*") {
        auth::wipe(creds_);
        error_reply(501, "5.0.0", "Authentication cancelled", "auth_cancelled");
        return;
    }
    // "=" is an empty initial response (RFC 4954 4); nothing we offer accepts one.
    auto decoded = line == "=" ? std::optional<std::string>("") : auth::base64_decode(line);
    if (!decoded) {
        auth::wipe(creds_);
        error_reply(501, "5.5.2", "Invalid base64 in authentication response", "auth_malformed");
        return;
    }
    if (auth_mech_ == auth::Mechanism::plain) {
        auto c = auth::decode_plain(*decoded);
        std::fill(decoded->begin(), decoded->end(), '\0');
        if (!c) {
            error_reply(501, "5.5.2", "Malformed PLAIN authentication response", "auth_malformed");
            return;
        }
        creds_ = std::move(*c);
        auth_attempt_ = creds_.authcid;
        state_ = State::wait_auth;
        return;
    }
    // LOGIN: username, then password.
    if (decoded->empty() || decoded->size() > auth::kMaxField ||
        decoded->find('\0') != std::string::npos) {
        std::fill(decoded->begin(), decoded->end(), '\0');
        auth::wipe(creds_);
        error_reply(501, "5.5.2", "Malformed LOGIN authentication response", "auth_malformed");
        return;
    }
    if (auth_step_ == 1) {
        creds_.authcid = std::move(*decoded);
        auth_attempt_ = creds_.authcid;
        auth_step_ = 2;
        state_ = State::auth_response;
        reply(334, "", "UGFzc3dvcmQ6");  // "Password:"
        return;
    }
    creds_.password = std::move(*decoded);
    state_ = State::wait_auth;
}

void Session::auth_verdict(const Reply& r, std::string user, std::string_view reason) {
    if (state_ != State::wait_auth) return;
    auth::wipe(creds_);
    creds_ = auth::Credentials{};
    state_ = State::ready;
    command_ = "AUTH";
    if (r.positive()) auth_user_ = std::move(user);
    reply(r, reason);
    auth_attempt_.clear();
}

// The driver's 421s. A refusal names the command only while one is under way (a message's data).
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
