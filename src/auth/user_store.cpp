// user_store.cpp: sender ownership, the TOML-backed and chained user stores (see user_store.hpp).
#include "auth/user_store.hpp"

#include "common/ascii.hpp"

namespace sluice::auth {
namespace {}  // namespace

bool owns_sender(const User& user, std::string_view sender) {
    if (sender.empty()) return true;
    const std::string s = ascii_lower(sender);
    if (ascii_lower(user.name) == s) return true;
    const auto at = s.rfind('@');
    for (const auto& a : user.addresses) {
        const std::string e = ascii_lower(a);
        if (e == s) return true;
        if (!e.empty() && e.front() == '@' && at != std::string::npos && s.substr(at) == e)
            return true;
    }
    return false;
}

TomlUserStore::TomlUserStore(std::vector<User> users) : users_(std::move(users)) {
    for (auto& u : users_) u.name = ascii_lower(u.name);
}

std::optional<User> TomlUserStore::find(std::string_view login) const {
    const std::string l = ascii_lower(login);
    for (const auto& u : users_)
        if (u.name == l) return u;
    return std::nullopt;
}

ChainUserStore::ChainUserStore(std::vector<std::unique_ptr<UserStore>> stores)
    : stores_(std::move(stores)) {}

std::optional<User> ChainUserStore::find(std::string_view login) const {
    for (const auto& s : stores_)
        if (auto u = s->find(login)) return u;
    return std::nullopt;
}

}  // namespace sluice::auth
