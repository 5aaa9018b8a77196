// stages.hpp: the Policy stages the server builds its chain from (server/policies.cpp), one file
// each. Every check the SMTP server made before the chain existed is one of these, with the same
// replies and log lines.
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "delivery/local_router.hpp"
#include "dns/resolver.hpp"
#include "policy/chain.hpp"
#include "policy/rate_limit.hpp"

namespace sluice::policy {

// connect: [access] allow/deny and the listener's own lists. Refused if either denies the client
// or has an allow list without it: 554 5.7.1 and only QUIT served, or with deny_action = "drop"
// the connection closed without a word.
std::unique_ptr<Stage> access_stage(const config::Config& cfg, const config::Listener& listener);

// rcpt: local users exist (550 5.1.1 otherwise, at RCPT: no backscatter later); other domains only
// for clients allowed to relay (550 5.7.1). Address literals and bare names are never relayed.
std::unique_ptr<Stage> recipient_stage(const delivery::LocalRouter& router);

// mail: the messages-per-period limits; rcpt: the recipients-per-period limits (450 4.7.1).
// Charged by the Intake after each commit, not here.
std::unique_ptr<Stage> rate_limit_stage(RateLimiter& limiter);

// mail: an authenticated user sends only as an address it owns (553 5.7.1, RFC 6409 8.1);
// message, with check_from_header: the From: header names one such address too.
std::unique_ptr<Stage> sender_stage(bool check_from_header);

// mail: SPF of the sender (and of the HELO name) for clients not allowed to relay, refusing only
// as [verify] spf_fail / spf_temperror say; message: one Authentication-Results field (and
// Received-SPF when configured) with what was found.
std::unique_ptr<Stage> verify_stage(const config::Verify& cfg, dns::Lookup& dns);

// headers: more than `max_received` Received fields is a mail loop (554 5.4.6).
std::unique_ptr<Stage> loop_stage(std::size_t max_received);

}  // namespace sluice::policy
