// recipient_check.hpp: the RCPT TO decision. Local recipients are accepted, unknown local users are
// refused at RCPT time (550 5.1.1, so we never accept and bounce later: no backscatter), and every
// other domain is relay-denied (550 5.7.1) unless the client may relay (trusted network; AUTH
// later). The default trusts nobody: never an open relay.
#pragma once

#include "delivery/local_router.hpp"
#include "smtp/address.hpp"
#include "smtp/reply.hpp"

namespace sluice::server {

// What the session knows about the client when it names a recipient.
struct RecipientContext {
    bool relay_allowed = false;  // trusted network (later: authenticated user)
};

// A refusal's reason ("unknown_user", "relay_denied") goes to *reason when given, for the log.
smtp::Reply check_recipient(const delivery::LocalRouter& router, const smtp::Mailbox& rcpt,
                            const RecipientContext& ctx, std::string_view* reason = nullptr);

}  // namespace sluice::server
