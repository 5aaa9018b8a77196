// session_envelope.cpp: MAIL and RCPT, their parameters (SIZE, BODY, SMTPUTF8, RET, ENVID,
// NOTIFY, ORCPT) and the driver's verdicts on them (see session.hpp).
#include <fmt/format.h>

#include <utility>

#include "common/ascii.hpp"
#include "smtp/session.hpp"

namespace sluice::smtp {

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
            auto n = p.value ? parse_decimal(*p.value) : std::nullopt;
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

}  // namespace sluice::smtp
