#include "server/recipient_check.hpp"

#include <fmt/format.h>

namespace sluice::server {

smtp::Reply check_recipient(const delivery::LocalRouter& router, const smtp::Mailbox& rcpt,
                            const RecipientContext& ctx, std::string_view* reason) {
    switch (router.check(rcpt.local, rcpt.domain)) {
        case delivery::RcptStatus::local:
            return {250, "2.1.5", "Ok"};
        case delivery::RcptStatus::unknown_user:
            if (reason) *reason = "unknown_user";
            return {550, "5.1.1",
                    fmt::format("<{}>: Recipient address rejected: User unknown", rcpt.str())};
        case delivery::RcptStatus::not_local:
            break;
    }
    // Address literals and bare names are never relayed, whoever asks.
    if (ctx.relay_allowed && !rcpt.domain.empty() && !rcpt.domain_is_literal)
        return {250, "2.1.5", "Ok"};
    if (reason) *reason = "relay_denied";
    return {550, "5.7.1", fmt::format("<{}>: Relay access denied", rcpt.str())};
}

}  // namespace sluice::server
