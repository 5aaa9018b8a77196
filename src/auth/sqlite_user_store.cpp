// sqlite_user_store.cpp: users in an SQLite file, opened read-only (see user_store.hpp).
//
//   CREATE TABLE users (name TEXT PRIMARY KEY COLLATE NOCASE, password_hash TEXT NOT NULL,
//                       addresses TEXT NOT NULL DEFAULT '');   -- space-separated senders
//
// SECURITY: the file is operator data; the login is bound as a parameter, never spliced into SQL.
#include <sqlite3.h>

#include <mutex>
#include <stdexcept>

#include "auth/user_store.hpp"

namespace sluice::auth {
namespace {

class SqliteUserStore final : public UserStore {
  public:
    explicit SqliteUserStore(const std::string& path) {
        if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX,
                            nullptr) != SQLITE_OK) {
            std::string err = db_ ? sqlite3_errmsg(db_) : "out of memory";
            sqlite3_close(db_);
            throw std::runtime_error("auth sqlite " + path + ": " + err);
        }
        sqlite3_busy_timeout(db_, 2000);
        if (sqlite3_prepare_v2(db_,
                               "SELECT name, password_hash, addresses FROM users "
                               "WHERE name = ?1 COLLATE NOCASE",
                               -1, &stmt_, nullptr) != SQLITE_OK) {
            std::string err = sqlite3_errmsg(db_);
            sqlite3_close(db_);
            throw std::runtime_error("auth sqlite " + path + ": " + err);
        }
    }
    ~SqliteUserStore() override {
        sqlite3_finalize(stmt_);
        sqlite3_close(db_);
    }
    SqliteUserStore(const SqliteUserStore&) = delete;
    SqliteUserStore& operator=(const SqliteUserStore&) = delete;

    std::optional<User> find(std::string_view login) const override {
        std::lock_guard lock(mu_);
        sqlite3_reset(stmt_);
        sqlite3_bind_text(stmt_, 1, login.data(), static_cast<int>(login.size()), SQLITE_TRANSIENT);
        std::optional<User> out;
        if (sqlite3_step(stmt_) == SQLITE_ROW) {
            auto col = [&](int i) {
                const auto* p = sqlite3_column_text(stmt_, i);
                return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
            };
            User u{col(0), col(1), {}};
            const std::string addrs = col(2);
            std::size_t pos = 0;
            while (pos < addrs.size()) {
                auto end = addrs.find_first_of(" ,\t\n", pos);
                if (end == std::string::npos) end = addrs.size();
                if (end > pos) u.addresses.push_back(addrs.substr(pos, end - pos));
                pos = end + 1;
            }
            out = std::move(u);
        }
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
        return out;
    }

  private:
    sqlite3* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
    mutable std::mutex mu_;
};

}  // namespace

std::unique_ptr<UserStore> open_sqlite_user_store(const std::string& path) {
    return std::make_unique<SqliteUserStore>(path);
}

}  // namespace sluice::auth
