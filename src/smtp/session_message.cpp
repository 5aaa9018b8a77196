// session_message.cpp: message content, DATA and BDAT (see session.hpp): the bytes are read
// through DataReader (DATA) or counted (BDAT), checked, and handed to the driver at the end.
#include <fmt/format.h>

#include <utility>

#include "common/ascii.hpp"
#include "smtp/session.hpp"

namespace sluice::smtp {

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
    header_scan_ = HeaderScan(limits_.header_size);
    ++message_serial_;
    state_ = State::data;
    reply(354, "", "End data with <CR><LF>.<CR><LF>");
}

void Session::refuse_header_too_big() {
    error_reply(552, "5.3.4",
                fmt::format("Message header section exceeds {} octets", limits_.header_size),
                "header_too_big");
    reset_transaction();
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
        if (rd.header_too_big()) return refuse_header_too_big();
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
    std::size_t header_size = header_scan_.done() ? header_scan_.end() : body.size();
    if (header_scan_.done() && header_scan_.fields_end() == header_size) {
        // The header section ended at a line that is not a header field, without the empty line
        // (RFC 5322 2.1): the boundary is made explicit, as Postfix does, so that nothing after
        // it (a second "From:" further down, say) is taken for a header by the next hop or the
        // reader's program when our checks (and a streamed body) took it for the body. So too
        // for a message whose very first line is not a header field: without the empty line, a
        // first line starting with white space would continue our own Received field and the
        // fields after it would join the header block that no check of ours saw.
        body.insert(header_size, "\r\n");
        header_size += 2;
    }
    pending_msg_.header_size = header_size;
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
    auto size = parse_decimal(size_text);
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
        bdat_size_ = 0;
        header_scan_ = HeaderScan(limits_.header_size);
        ++message_serial_;
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
    if (bdat_header_too_big_) return refuse_header_too_big();
    if (!bdat_last_) {
        reply(250, "2.0.0", fmt::format("{} octets received", bdat_size_));
        return;
    }
    finish_message();
}

}  // namespace sluice::smtp
