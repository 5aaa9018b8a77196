// user_store_test.cpp: sender ownership, the TOML and SQLite user stores.
#include "auth/user_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

namespace sluice::auth {
namespace {

TEST(OwnsSender, LoginAddressesAndDomains) {
    User u{"alice@example.org", "$argon2id$x", {"postmaster@example.org", "@example.net"}};
    EXPECT_TRUE(owns_sender(u, "alice@example.org"));
    EXPECT_TRUE(owns_sender(u, "ALICE@Example.ORG"));
    EXPECT_TRUE(owns_sender(u, "postmaster@example.org"));
    EXPECT_TRUE(owns_sender(u, "anyone@example.net"));
    EXPECT_TRUE(owns_sender(u, ""));  // null sender
    EXPECT_FALSE(owns_sender(u, "bob@example.org"));
    EXPECT_FALSE(owns_sender(u, "alice@example.org.evil.test"));
    EXPECT_FALSE(owns_sender(u, "x@sub.example.net"));
}

TEST(TomlUserStore, FindsCaseInsensitively) {
    TomlUserStore s({User{"Alice@Example.org", "$argon2id$h", {}}});
    ASSERT_TRUE(s.find("alice@example.ORG"));
    EXPECT_EQ(s.find("alice@example.org")->password_hash, "$argon2id$h");
    EXPECT_FALSE(s.find("bob@example.org"));
}

TEST(SqliteUserStore, ReadsUsersTable) {
    auto path = std::filesystem::temp_directory_path() /
                ("sluice-users-" + std::to_string(::getpid()) + ".db");
    std::filesystem::remove(path);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(db,
                     "CREATE TABLE users (name TEXT PRIMARY KEY COLLATE NOCASE, password_hash "
                     "TEXT NOT NULL, addresses TEXT NOT NULL DEFAULT '');"
                     "INSERT INTO users VALUES ('carol@example.org', '$argon2id$c', "
                     "'c@example.net @example.com');",
                     nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);
    auto store = open_sqlite_user_store(path.string());
    auto u = store->find("CAROL@example.org");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->password_hash, "$argon2id$c");
    EXPECT_EQ(u->addresses, (std::vector<std::string>{"c@example.net", "@example.com"}));
    EXPECT_FALSE(store->find("x' OR '1'='1"));
    EXPECT_THROW(open_sqlite_user_store("/nonexistent/dir/users.db"), std::runtime_error);
    std::filesystem::remove(path);
}

TEST(ChainUserStore, FirstStoreThatKnowsWins) {
    std::vector<std::unique_ptr<UserStore>> v;
    v.push_back(
        std::make_unique<TomlUserStore>(std::vector<User>{{"a@x.test", "$argon2id$1", {}}}));
    v.push_back(std::make_unique<TomlUserStore>(
        std::vector<User>{{"a@x.test", "$argon2id$2", {}}, {"b@x.test", "$argon2id$3", {}}}));
    ChainUserStore c(std::move(v));
    EXPECT_EQ(c.find("a@x.test")->password_hash, "$argon2id$1");
    EXPECT_EQ(c.find("b@x.test")->password_hash, "$argon2id$3");
}

}  // namespace
}  // namespace sluice::auth
