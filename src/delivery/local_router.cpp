// local_router.cpp: decides whether a recipient is ours and expands it to mailbox addresses (see
// local_router.hpp).
//
// SECURITY: local parts come from RCPT TO and are untrusted; the mailbox names this returns become
// directory names under the maildir root. A name is only ever taken from the client when it passes
// config::is_safe_local_part (a-z 0-9 . _ -, no leading '.', <= 64), so "../x", "a/b" or ".hidden"
// can never name a directory; anything else is either a configured name or the configured
// catch-all.
// '%', '!' and quoted strings are never interpreted as routing syntax.
// STANDARDS: RFC 5321 2.4 (local parts are case-sensitive on the wire; we fold them, as most MTAs
// do), 4.1.2 (quoted-string local parts), 4.5.1 (bare "postmaster").
#include "delivery/local_router.hpp"

#include "common/ascii.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

namespace sluice::delivery {
namespace {

// "\"a\\\"b\"" -> "a\"b". nullopt if the quoting is malformed.
std::optional<std::string> unquote(std::string_view q) {
    if (q.size() < 2 || q.front() != '"' || q.back() != '"') return std::nullopt;
    q = q.substr(1, q.size() - 2);
    std::string out;
    for (std::size_t i = 0; i < q.size(); ++i) {
        if (q[i] == '\\') {
            if (++i == q.size()) return std::nullopt;
        } else if (q[i] == '"') {
            return std::nullopt;
        }
        out += q[i];
    }
    return out;
}

void add_unique(std::vector<std::string>& out, const std::string& address) {
    if (std::find(out.begin(), out.end(), address) == out.end()) out.push_back(address);
}

}  // namespace

struct LocalRouter::DomainInfo {
    std::string name;
    std::set<std::string> mailboxes;
    std::map<std::string, std::vector<std::string>> aliases;
    std::optional<std::string> catch_all;
    bool any_user = false;
};

LocalRouter::LocalRouter(const config::Config& cfg)
    : root_(cfg.delivery.maildir_root), delimiter_(cfg.recipient_delimiter) {
    for (const auto& d : cfg.domains) {
        auto info = std::make_shared<DomainInfo>();
        info->name = ascii_lower(d.name);
        for (const auto& m : d.mailboxes) info->mailboxes.insert(ascii_lower(m));
        for (const auto& [name, targets] : d.aliases) {
            auto& list = info->aliases[ascii_lower(name)];
            for (const auto& t : targets) add_unique(list, ascii_lower(t));
        }
        if (d.catch_all) info->catch_all = ascii_lower(*d.catch_all);
        info->any_user = d.any_user;
        domains_.emplace_back(info->name, std::move(info));
    }
}

const LocalRouter::DomainInfo* LocalRouter::find(std::string_view domain) const {
    if (domain.empty()) return domains_.empty() ? nullptr : domains_.front().second.get();
    if (domain.front() == '[') return nullptr;  // address literals are never local
    const std::string name = ascii_lower(domain);
    for (const auto& [n, info] : domains_) {
        if (n == name) return info.get();
    }
    return nullptr;
}

bool LocalRouter::is_local_domain(std::string_view domain) const {
    return !domain.empty() && find(domain) != nullptr;
}

RcptStatus LocalRouter::check(std::string_view local, std::string_view domain) const {
    if (find(domain) == nullptr) return RcptStatus::not_local;
    return expand(local, domain).empty() ? RcptStatus::unknown_user : RcptStatus::local;
}

std::vector<std::string> LocalRouter::expand(std::string_view local,
                                             std::string_view domain) const {
    const DomainInfo* d = find(domain);
    if (d == nullptr) return {};

    std::string lp;
    if (!local.empty() && local.front() == '"') {
        // A quoted local part is only ever a plain name in disguise ("alice"); anything that
        // needed the quotes is unknown, even with a catch-all.
        const auto unquoted = unquote(local);
        if (!unquoted) return {};
        lp = ascii_lower(*unquoted);
        if (!config::is_safe_local_part(lp)) return {};
    } else {
        lp = ascii_lower(local);
    }

    // "user+tag" -> "user"; the full form is tried first so "a-b" stays a mailbox with delimiter
    // '-'.
    std::string base = lp;
    if (delimiter_.size() == 1) {
        const auto pos = lp.find(delimiter_[0]);
        if (pos != std::string::npos && pos > 0) base = lp.substr(0, pos);
    }

    std::vector<std::string> out;
    for (const std::string* candidate : {&lp, &base}) {
        if (d->mailboxes.count(*candidate) != 0) {
            out.push_back(*candidate + "@" + d->name);
            return out;
        }
        if (const auto it = d->aliases.find(*candidate); it != d->aliases.end()) {
            for (const auto& t : it->second) add_unique(out, t);
            return out;
        }
    }
    if (d->any_user && config::is_safe_local_part(base)) {
        out.push_back(base + "@" + d->name);
    } else if (d->catch_all) {
        out.push_back(*d->catch_all);
    }
    return out;
}

std::filesystem::path LocalRouter::maildir_for(std::string_view mailbox) const {
    // Mailboxes come from expand(), but this is where a name becomes a path, so check again.
    const auto at = mailbox.rfind('@');
    if (at == std::string_view::npos) {
        throw std::invalid_argument("maildir_for: not a mailbox address: " + std::string(mailbox));
    }
    const std::string local = ascii_lower(mailbox.substr(0, at));
    const std::string domain = ascii_lower(mailbox.substr(at + 1));
    const bool domain_ok = !domain.empty() && domain.front() != '.' &&
                           domain.find_first_of("/\\") == std::string::npos &&
                           domain.find('\0') == std::string::npos;
    if (!config::is_safe_local_part(local) || !domain_ok) {
        throw std::invalid_argument("maildir_for: unsafe mailbox address: " + std::string(mailbox));
    }
    return root_ / domain / local;
}

}  // namespace sluice::delivery
