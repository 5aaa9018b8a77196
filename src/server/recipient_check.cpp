#include "server/recipient_check.hpp"

#include <fmt/format.h>

namespace sluice::server {

smtp::Reply check_recipient(const delivery::LocalRouter& router, const smtp::Mailbox& rcpt) {
    switch (router.check(rcpt.local, rcpt.domain)) {
        case delivery::RcptStatus::local: return {250, "2.1.5", "Ok"};
        case delivery::RcptStatus::unknown_user:
            return {550, "5.1.1", fmt::format("<{}>: Recipient address rejected: User unknown",
                                              rcpt.str())};
        case delivery::RcptStatus::not_local: break;
    }
    return {550, "5.7.1", fmt::format("<{}>: Relay access denied", rcpt.str())};
}

}  // namespace sluice::server
