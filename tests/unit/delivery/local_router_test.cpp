// local_router_test.cpp: which recipients are local and where they go (delivery/local_router.hpp).
#include "delivery/local_router.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace sluice::delivery {
namespace {

using Addrs = std::vector<std::string>;

config::Config site() {
    return config::load_string(
        "[delivery]\n"
        "maildir_root = \"/srv/mail\"\n"
        "[[domain]]\n"
        "name = \"example.org\"\n"
        "mailboxes = [\"alice\", \"bob\", \"first.last\"]\n"
        "aliases = { postmaster = [\"alice\"], team = [\"alice\", \"bob\", \"dave@example.net\"],"
        " list = [\"bob\", \"bob@example.org\"] }\n"
        "[[domain]]\n"
        "name = \"example.net\"\n"
        "mailboxes = [\"dave\"]\n"
        "catch_all = \"dave\"\n"
        "[[domain]]\n"
        "name = \"any.example\"\n"
        "any_user = true\n"
        "aliases = { boss = [\"alice@example.org\"] }\n");
}

TEST(LocalRouter, LocalDomains) {
    const LocalRouter r(site());
    EXPECT_TRUE(r.is_local_domain("example.org"));
    EXPECT_TRUE(r.is_local_domain("EXAMPLE.Org"));
    EXPECT_TRUE(r.is_local_domain("any.example"));
    EXPECT_FALSE(r.is_local_domain("example.com"));
    EXPECT_FALSE(r.is_local_domain("sub.example.org"));
    EXPECT_FALSE(r.is_local_domain(""));
    EXPECT_FALSE(r.is_local_domain("[127.0.0.1]"));
    EXPECT_FALSE(r.is_local_domain("[IPv6:::1]"));
}

TEST(LocalRouter, Mailboxes) {
    const LocalRouter r(site());
    EXPECT_EQ(r.check("alice", "example.org"), RcptStatus::local);
    EXPECT_EQ(r.expand("alice", "example.org"), Addrs{"alice@example.org"});
    EXPECT_EQ(r.expand("first.last", "example.org"), Addrs{"first.last@example.org"});
    EXPECT_EQ(r.check("carol", "example.org"), RcptStatus::unknown_user);
    EXPECT_TRUE(r.expand("carol", "example.org").empty());
    EXPECT_EQ(r.check("alice", "example.com"), RcptStatus::not_local);
    EXPECT_TRUE(r.expand("alice", "example.com").empty());
    EXPECT_EQ(r.check("alice", "[127.0.0.1]"), RcptStatus::not_local);
    EXPECT_TRUE(r.expand("alice", "[127.0.0.1]").empty());
}

TEST(LocalRouter, CaseInsensitive) {
    const LocalRouter r(site());
    EXPECT_EQ(r.check("ALICE", "Example.ORG"), RcptStatus::local);
    EXPECT_EQ(r.expand("ALICE", "Example.ORG"), Addrs{"alice@example.org"});
    EXPECT_EQ(r.expand("Team", "EXAMPLE.ORG"),
              (Addrs{"alice@example.org", "bob@example.org", "dave@example.net"}));
    EXPECT_EQ(r.expand("Someone", "ANY.example"), Addrs{"someone@any.example"});
}

TEST(LocalRouter, Aliases) {
    const LocalRouter r(site());
    EXPECT_EQ(r.check("team", "example.org"), RcptStatus::local);
    EXPECT_EQ(r.expand("team", "example.org"),
              (Addrs{"alice@example.org", "bob@example.org", "dave@example.net"}));
    EXPECT_EQ(r.expand("list", "example.org"), Addrs{"bob@example.org"});  // deduplicated
    EXPECT_EQ(r.expand("postmaster", "example.org"), Addrs{"alice@example.org"});
    EXPECT_EQ(r.expand("boss", "any.example"), Addrs{"alice@example.org"});  // before any_user
}

TEST(LocalRouter, AliasExpansionIsDeduplicatedWhenBuiltByHand) {
    config::Config c;
    config::Domain d;
    d.name = "Example.org";
    d.mailboxes = {"a", "b"};
    d.aliases["x"] = {"b@example.org", "a@example.org", "B@Example.org", "a@example.org"};
    c.domains.push_back(d);
    const LocalRouter r(c);
    EXPECT_EQ(r.expand("x", "example.org"), (Addrs{"b@example.org", "a@example.org"}));
}

TEST(LocalRouter, BarePostmasterUsesFirstDomain) {
    const LocalRouter r(site());
    EXPECT_EQ(r.check("postmaster", ""), RcptStatus::local);
    EXPECT_EQ(r.expand("postmaster", ""), Addrs{"alice@example.org"});
    EXPECT_EQ(r.expand("Postmaster", ""), Addrs{"alice@example.org"});

    const LocalRouter none(config::load_string(""));
    EXPECT_EQ(none.check("postmaster", ""), RcptStatus::not_local);
    EXPECT_TRUE(none.expand("postmaster", "").empty());
}

TEST(LocalRouter, CatchAll) {
    const LocalRouter r(site());
    EXPECT_EQ(r.check("dave", "example.net"), RcptStatus::local);
    EXPECT_EQ(r.check("nobody", "example.net"), RcptStatus::local);
    EXPECT_EQ(r.expand("nobody", "example.net"), Addrs{"dave@example.net"});
    // An unquoted local part that could not be a mailbox still reaches the catch-all: it never
    // becomes a path.
    EXPECT_EQ(r.expand("a/b", "example.net"), Addrs{"dave@example.net"});
    EXPECT_EQ(r.expand("a%b", "example.net"), Addrs{"dave@example.net"});
    // A quoted local part with unsafe characters is simply unknown.
    EXPECT_EQ(r.check("\"a b\"", "example.net"), RcptStatus::unknown_user);
    EXPECT_EQ(r.check("\"../x\"", "example.net"), RcptStatus::unknown_user);
}

TEST(LocalRouter, RecipientDelimiter) {
    const LocalRouter r(site());
    EXPECT_EQ(r.expand("alice+lists", "example.org"), Addrs{"alice@example.org"});
    EXPECT_EQ(r.expand("ALICE+Lists", "example.org"), Addrs{"alice@example.org"});
    EXPECT_EQ(r.expand("alice+", "example.org"), Addrs{"alice@example.org"});
    EXPECT_EQ(r.expand("team+x", "example.org"),
              (Addrs{"alice@example.org", "bob@example.org", "dave@example.net"}));
    EXPECT_EQ(r.expand("bob+a+b", "example.org"), Addrs{"bob@example.org"});
    EXPECT_EQ(r.check("+alice", "example.org"), RcptStatus::unknown_user);
    EXPECT_EQ(r.check("carol+x", "example.org"), RcptStatus::unknown_user);
    EXPECT_EQ(r.expand("joe+tag", "any.example"), Addrs{"joe@any.example"});
}

TEST(LocalRouter, OtherDelimiters) {
    auto cfg = site();
    cfg.recipient_delimiter = "";
    const LocalRouter off(cfg);
    EXPECT_EQ(off.check("alice+lists", "example.org"), RcptStatus::unknown_user);

    cfg.recipient_delimiter = ".";
    const LocalRouter dot(cfg);
    EXPECT_EQ(dot.expand("first.last", "example.org"), Addrs{"first.last@example.org"});
    EXPECT_EQ(dot.expand("alice.news", "example.org"), Addrs{"alice@example.org"});
    EXPECT_EQ(dot.check("alice+news", "example.org"), RcptStatus::unknown_user);
    EXPECT_EQ(dot.check(".alice", "example.org"), RcptStatus::unknown_user);
}

TEST(LocalRouter, AnyUserSafeLocalParts) {
    const LocalRouter r(site());
    for (const char* ok : {"joe", "j.o.e", "x_y-z", "0", "a..b"}) {
        EXPECT_EQ(r.check(ok, "any.example"), RcptStatus::local) << ok;
        EXPECT_EQ(r.expand(ok, "any.example"), Addrs{std::string(ok) + "@any.example"}) << ok;
    }
    EXPECT_EQ(r.expand(std::string(64, 'a'), "any.example").size(), 1u);
}

TEST(LocalRouter, AnyUserUnsafeLocalParts) {
    const LocalRouter r(site());
    for (const char* bad :
         {"../x",        "..",   ".",       "a/b",         ".hidden",        "a\\b",
          "a%b",         "a!b",  "a b",     "caf\xc3\xa9", "\"a/b\"",        "\"..\"",
          "\".hidden\"", "\"\"", "\"a b\"", "a\"b",        "\"unterminated", "\"trailing\\\"",
          "\"a\"b\"",    "+x",   ""}) {
        EXPECT_EQ(r.check(bad, "any.example"), RcptStatus::unknown_user) << bad;
        EXPECT_TRUE(r.expand(bad, "any.example").empty()) << bad;
    }
    EXPECT_EQ(r.check(std::string(65, 'a'), "any.example"), RcptStatus::unknown_user);
    EXPECT_EQ(r.check(std::string_view("a\0b", 3), "any.example"), RcptStatus::unknown_user);
}

TEST(LocalRouter, QuotedLocalParts) {
    const LocalRouter r(site());
    EXPECT_EQ(r.expand("\"alice\"", "example.org"), Addrs{"alice@example.org"});
    EXPECT_EQ(r.expand("\"Alice\"", "example.org"), Addrs{"alice@example.org"});
    EXPECT_EQ(r.expand("\"al\\ice\"", "example.org"), Addrs{"alice@example.org"});
    EXPECT_EQ(r.expand("\"joe\"", "any.example"), Addrs{"joe@any.example"});
    EXPECT_EQ(r.check("\"al ice\"", "example.org"), RcptStatus::unknown_user);
    EXPECT_EQ(r.check("\"alice+x\"", "example.org"), RcptStatus::unknown_user);
}

TEST(LocalRouter, MaildirFor) {
    const LocalRouter r(site());
    EXPECT_EQ(r.maildir_for("alice@example.org"),
              std::filesystem::path("/srv/mail/example.org/alice"));
    EXPECT_EQ(r.maildir_for("Joe@Any.Example"), std::filesystem::path("/srv/mail/any.example/joe"));
    for (const auto& mailbox : r.expand("team", "example.org")) {
        EXPECT_EQ(r.maildir_for(mailbox).parent_path().parent_path(), "/srv/mail") << mailbox;
    }
    for (const char* bad : {"alice", "../x@example.org", "a/b@example.org", ".x@example.org",
                            "alice@", "alice@../..", "alice@a/b", "alice@.."}) {
        EXPECT_THROW((void)r.maildir_for(bad), std::invalid_argument) << bad;
    }
}

}  // namespace
}  // namespace sluice::delivery
