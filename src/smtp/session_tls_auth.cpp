// session_tls_auth.cpp: STARTTLS and the AUTH exchange (see session.hpp).
#include <fmt/format.h>

#include <utility>

#include "common/ascii.hpp"
#include "smtp/session.hpp"

namespace sluice::smtp {

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
}  // namespace sluice::smtp
