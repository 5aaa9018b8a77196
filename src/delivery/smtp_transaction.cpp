// smtp_transaction.cpp: see smtp_transaction.hpp.
#include "delivery/smtp_transaction.hpp"

#include <fmt/format.h>

#include "delivery/smtp_client_data.hpp"

namespace sluice::delivery {

std::optional<smtp::Reply> transaction_refusal(const Envelope& env, std::string_view message,
                                               bool eight_bit, const Extensions& ext,
                                               std::string_view peer) {
    if (env.body == BodyType::binary_mime && !(ext.binarymime && ext.chunking))
        return smtp::Reply{554, "5.6.3",
                           fmt::format("message is BINARYMIME but {} does not support it", peer)};
    if (eight_bit && !ext.eightbitmime)
        return smtp::Reply{554, "5.6.3",
                           fmt::format("message needs 8BITMIME but {} does not support it", peer)};
    if (needs_smtputf8(env) && !ext.smtputf8)
        return smtp::Reply{553, "5.6.7",
                           fmt::format("message needs SMTPUTF8 but {} does not support it", peer)};
    if (ext.size && message.size() > ext.size)
        return smtp::Reply{552, "5.3.4",
                           fmt::format("message size {} exceeds the limit of {} ({})",
                                       message.size(), ext.size, peer)};
    return std::nullopt;
}

ClientTransaction::ClientTransaction(const Envelope& env, std::string_view message,
                                     const Extensions& ext, std::string peer)
    : env_(env), message_(message), ext_(ext), peer_(std::move(peer)) {
    eight_bit_ = env.body != BodyType::seven_bit && needs_8bit(message);
    bdat_ = env.body == BodyType::binary_mime;
    if (auto why = transaction_refusal(env, message, eight_bit_, ext, peer_)) {
        out_.assign(env.recipients.size(), *why);
        phase_ = Phase::done;
        return;
    }
    cmds_.push_back(mail_command(env, message.size(), eight_bit_, ext));
    for (const auto& r : env.recipients) cmds_.push_back(rcpt_command(r, ext));
    if (!bdat_) cmds_.emplace_back("DATA\r\n");
    if (ext_.pipelining) {
        for (const auto& c : cmds_) pending_ += c;  // one write, then every reply (RFC 2920)
        expected_ = cmds_.size();
    } else {
        pending_ = cmds_[0];
        expected_ = 1;
    }
    phase_ = Phase::envelope_write;
}

smtp::Reply ClientTransaction::expected(const smtp::Reply& r, std::string_view command,
                                        int want) const {
    // `want`: the exact code, or a class (2 = any 2xx). Refusals (4xx, 5xx) pass as they are;
    // any other reply is a broken peer, answered as a temporary failure: a 250 to DATA, or any
    // 2xx to MAIL but 250, must never make a message count as delivered that was not sent.
    const bool good = want < 10 ? r.code / 100 == want : r.code == want;
    if (good || r.code >= 400) return r;
    return {451, "4.5.0", fmt::format("unexpected reply {} to {} from {}", r.code, command, peer_)};
}

smtp::Reply ClientTransaction::lost(std::string_view what) const {
    return {421, "4.4.2", fmt::format("lost connection with {}{}", peer_, what)};
}

ClientTransaction::Step ClientTransaction::next() const {
    switch (phase_) {
        case Phase::envelope_write:
        case Phase::rset_write:
            return {Action::write, pending_, false};
        case Phase::data_write:
            return {Action::write, pending_, true};
        case Phase::envelope_read:
        case Phase::rset_read:
            return {Action::read, {}, false};
        case Phase::final_read:
            return {Action::read, {}, true};
        case Phase::done:
            break;
    }
    return {};
}

void ClientTransaction::written(bool ok) {
    if (!ok) usable_ = false;
    switch (phase_) {
        case Phase::envelope_write:
            if (!ok && ext_.pipelining) {
                out_.assign(env_.recipients.size(), lost());
                phase_ = Phase::done;
            } else if (!ok) {
                envelope_done();  // what is missing reads as a lost connection
            } else {
                phase_ = Phase::envelope_read;
            }
            return;
        case Phase::data_write:
            if (!ok) return finish(lost(" while sending"));
            phase_ = Phase::final_read;
            return;
        case Phase::rset_write:
            phase_ = ok ? Phase::rset_read : Phase::done;
            return;
        default:
            return;  // not a write step: ignored
    }
}

void ClientTransaction::replied(const smtp::Reply& r, bool usable) {
    if (!usable) usable_ = false;
    switch (phase_) {
        case Phase::envelope_read: {
            replies_.push_back(r);
            if (replies_.size() == cmds_.size()) return envelope_done();
            if (ext_.pipelining) return;  // more replies to the same write
            // Without pipelining, stop early: no RCPT after a refused MAIL, no DATA without a
            // recipient, nothing more on a broken connection.
            const std::size_t i = replies_.size() - 1;
            if (!usable_ || (i == 0 && r.code != 250)) return envelope_done();
            if (!bdat_ && i + 2 == cmds_.size()) {
                bool any = false;
                for (std::size_t k = 1; k < replies_.size(); ++k)
                    any |= replies_[k].code / 100 == 2;
                if (!any) return envelope_done();
            }
            pending_ = cmds_[replies_.size()];
            phase_ = Phase::envelope_write;
            return;
        }
        case Phase::final_read:
            if (empty_message_) {
                phase_ = Phase::done;
                return;
            }
            return finish(r);
        case Phase::rset_read:
            phase_ = Phase::done;  // its answer changes nothing
            return;
        default:
            return;  // not a read step: ignored
    }
}

void ClientTransaction::envelope_done() {
    const std::size_t n = env_.recipients.size();
    auto reply_at = [&](std::size_t i) { return i < replies_.size() ? replies_[i] : lost(); };
    const smtp::Reply mail = expected(reply_at(0), "MAIL", 250);
    if (mail.code != 250) {
        out_.assign(n, mail);
        return rset_then_done();
    }
    out_.assign(n, smtp::Reply{});
    for (std::size_t i = 0; i < n; ++i) {
        out_[i] = expected(reply_at(1 + i), "RCPT", 2);
        if (out_[i].code / 100 == 2) accepted_.push_back(i);
    }
    if (bdat_) {
        if (accepted_.empty()) return rset_then_done();
        pending_ = fmt::format("BDAT {} LAST\r\n", message_.size());
        pending_.append(message_);
        phase_ = Phase::data_write;
        return;
    }
    const smtp::Reply data = expected(reply_at(1 + n), "DATA", 354);
    if (data.code != 354) {
        // Accepted recipients get DATA's refusal: the message was not taken.
        for (std::size_t i : accepted_) out_[i] = data;
        return rset_then_done();
    }
    if (accepted_.empty()) {
        // RFC 2920 3.1: a 354 with no recipient: send an empty message to end it.
        empty_message_ = true;
        pending_ = ".\r\n";
        phase_ = Phase::data_write;
        return;
    }
    pending_ = dot_stuff(message_);
    phase_ = Phase::data_write;
}

void ClientTransaction::rset_then_done() {
    if (!usable_) {
        phase_ = Phase::done;
        return;
    }
    pending_ = "RSET\r\n";
    phase_ = Phase::rset_write;
}

void ClientTransaction::finish(const smtp::Reply& final_reply) {
    if (!empty_message_)
        for (std::size_t i : accepted_) out_[i] = final_reply;
    phase_ = Phase::done;
}

}  // namespace sluice::delivery
