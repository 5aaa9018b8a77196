// local_router.hpp: which recipients are ours, and which mailboxes they expand to.
//
// Built from the config's [[domain]] tables. Domains compare case-insensitively; local parts are
// matched lower-cased, after removing a "+tag" (recipient_delimiter). Aliases expand one to many,
// to mailbox addresses only (validated at config load). For any_user domains, a local part becomes
// a mailbox only if it is made of safe characters (a-z 0-9 . _ - and not starting with '.'), since
// it becomes a directory name.
//
// SECURITY: inputs are RCPT addresses from untrusted clients; outputs become paths. A local part
// containing '%', '!', '/' or a quoted string is never treated as routing or path syntax.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace sluice::delivery {

enum class RcptStatus { local, unknown_user, not_local };

class LocalRouter {
  public:
    explicit LocalRouter(const config::Config& cfg);

    bool is_local_domain(std::string_view domain) const;

    // domain "" is the bare "postmaster" recipient (RFC 5321 4.5.1): the first configured domain.
    RcptStatus check(std::string_view local, std::string_view domain) const;

    // Mailbox addresses ("user@domain", lower-case, deduplicated) for a recipient; empty if
    // unknown.
    std::vector<std::string> expand(std::string_view local, std::string_view domain) const;

    // <maildir_root>/<domain>/<user> for a mailbox address returned by expand().
    std::filesystem::path maildir_for(std::string_view mailbox) const;

  private:
    struct DomainInfo;
    const DomainInfo* find(std::string_view domain) const;
    std::vector<std::pair<std::string, std::shared_ptr<DomainInfo>>> domains_;
    std::filesystem::path root_;
    std::string delimiter_;
};

}  // namespace sluice::delivery
