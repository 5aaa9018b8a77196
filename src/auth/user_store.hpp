// user_store.hpp: who may log in, and which envelope senders each user owns. An interface, so the
// users can live in the TOML configuration (TomlUserStore), an SQLite file (SqliteUserStore) and,
// later, PostgreSQL, without the server knowing which.
//
// SECURITY: a store returns password hashes, never passwords; lookups may block on a disk or a
// network, so the server calls them on the auth thread pool, never on the event loop.
// STANDARDS: RFC 4954 (the login is the SASL authcid), RFC 6409 6.1 (sender checks on submission).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::auth {

struct User {
    std::string name;                    // the login, e.g. "alice@example.org"
    std::string password_hash;           // argon2id PHC string
    std::vector<std::string> addresses;  // more senders it owns: "a@b" or "@domain" (whole domain)
    std::optional<std::size_t> message_size{};  // replaces the listener's limit after AUTH
};

class UserStore {
  public:
    virtual ~UserStore() = default;
    // Thread-safe; may block. Login names are compared case-insensitively.
    virtual std::optional<User> find(std::string_view login) const = 0;
};

// True when `user` may use `sender` (local@domain) as the envelope sender: the login itself when it
// is an address, or one of `addresses` ("@domain" covers the domain). Case-insensitive. The null
// sender <> is allowed (bounces and auto-replies from a client).
bool owns_sender(const User& user, std::string_view sender);

// Users given in the configuration file ([[auth.user]]).
class TomlUserStore final : public UserStore {
  public:
    explicit TomlUserStore(std::vector<User> users);
    std::optional<User> find(std::string_view login) const override;

  private:
    std::vector<User> users_;  // names lower-cased
};

// Users in an SQLite database (read-only): see docs/configuration.md for the schema.
// Throws std::runtime_error when the file cannot be opened or has no `users` table.
std::unique_ptr<UserStore> open_sqlite_user_store(const std::string& path);

// Tries each store in order; the first that knows the login answers.
class ChainUserStore final : public UserStore {
  public:
    explicit ChainUserStore(std::vector<std::unique_ptr<UserStore>> stores);
    std::optional<User> find(std::string_view login) const override;

  private:
    std::vector<std::unique_ptr<UserStore>> stores_;
};

}  // namespace sluice::auth
