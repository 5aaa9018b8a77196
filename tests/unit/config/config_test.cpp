// config_test.cpp: configuration loading and validation (config/config.hpp): defaults, every
// section, the example file, and that each error names the right key and line.
#include "config/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace sluice::config {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Loads text that must fail; checks the key and line, and returns the error for further checks.
ConfigError expect_error(const std::string& toml, const std::string& key, int line) {
    try {
        (void)load_string(toml, "test.toml");
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.key(), key) << e.what();
        EXPECT_EQ(e.line(), line) << e.what();
        return e;
    }
    ADD_FAILURE() << "no error for:\n" << toml;
    return ConfigError("", "", 0, 0, "");
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// ---- defaults -------------------------------------------------------------------------------

TEST(ConfigDefaults, EmptyFileGivesDefaults) {
    const Config c = load_string("");
    EXPECT_FALSE(c.hostname.empty());
    EXPECT_EQ(c.data_dir, (fs::current_path() / "sluice-data").lexically_normal());
    EXPECT_TRUE(c.data_dir.is_absolute());
    EXPECT_EQ(c.spool.dir, c.data_dir / "spool");
    EXPECT_EQ(c.delivery.maildir_root, c.data_dir / "mail");
    EXPECT_EQ(c.workers, 0u);
    EXPECT_EQ(c.recipient_delimiter, "+");
    ASSERT_EQ(c.listeners.size(), 1u);
    EXPECT_EQ(c.listeners[0].name, "smtp");
    EXPECT_EQ(c.listeners[0].address, "127.0.0.1");
    EXPECT_EQ(c.listeners[0].port, 2525);
    EXPECT_TRUE(c.domains.empty());  // valid, but accepts no local mail
    EXPECT_EQ(c.limits.message_size, 25u * 1024 * 1024);
    EXPECT_EQ(c.limits.recipients, 100u);
    EXPECT_EQ(c.limits.min_data_rate, 1024u);
    EXPECT_EQ(c.limits.min_data_rate_grace, 10s);
    EXPECT_EQ(c.timeouts.command, 5min);
    EXPECT_EQ(c.queue.lifetime, 24h * 5);
    EXPECT_TRUE(c.access.allow.empty());
    EXPECT_TRUE(c.access.deny.empty());
    EXPECT_EQ(c.access.deny_action, DenyAction::reject);
    EXPECT_EQ(c.log.level, log::Level::info);
    EXPECT_EQ(c.log.format, log::Format::logfmt);
    EXPECT_TRUE(c.log.file.empty());
    EXPECT_EQ(c.spool.sync_threads, 1u);
    EXPECT_EQ(c.spool.batch, 64u);
    EXPECT_EQ(c.delivery.workers, 0u);
    EXPECT_EQ(c.delivery.maildir_line_endings, LineEndings::lf);
    EXPECT_EQ(c.delivery.maildir_sync, MaildirSync::batch);
    EXPECT_EQ(c.delivery.batch, 32u);
    EXPECT_EQ(c.delivery.nice, 10);
}

TEST(ConfigDefaults, DefaultConfig) {
    const Config c = default_config();
    EXPECT_FALSE(c.hostname.empty());
    EXPECT_TRUE(c.data_dir.is_absolute());
    EXPECT_EQ(c.data_dir.filename(), "sluice-data");
    EXPECT_EQ(c.spool.dir, c.data_dir / "spool");
    EXPECT_EQ(c.delivery.maildir_root, c.data_dir / "mail");
    ASSERT_EQ(c.listeners.size(), 1u);
    EXPECT_EQ(c.listeners[0].name, "smtp");
    EXPECT_EQ(c.listeners[0].address, "127.0.0.1");
    EXPECT_EQ(c.listeners[0].port, 2525);
    ASSERT_EQ(c.domains.size(), 1u);
    EXPECT_EQ(c.domains[0].name, "localhost");
    EXPECT_TRUE(c.domains[0].any_user);
    EXPECT_TRUE(c.domains[0].mailboxes.empty());
}

// ---- the example file -----------------------------------------------------------------------

TEST(ConfigExample, ExampleFileLoads) {
    const fs::path path = fs::path(SLUICE_SOURCE_DIR) / "sluice.example.toml";
    Config c;
    ASSERT_NO_THROW(c = load_file(path));
    EXPECT_EQ(c.hostname, "mx.example.org");
    ASSERT_EQ(c.listeners.size(), 2u);
    EXPECT_EQ(c.listeners[0].name, "mx");
    EXPECT_EQ(c.listeners[0].address, "127.0.0.1");
    EXPECT_EQ(c.listeners[0].port, 2525);
    EXPECT_EQ(c.listeners[1].address, "::1");
    EXPECT_EQ(c.listeners[1].port, 2525);
    EXPECT_EQ(c.limits.message_size, 50u * 1024 * 1024);
    ASSERT_EQ(c.domains.size(), 2u);
    EXPECT_EQ(c.domains[0].name, "example.org");
    EXPECT_EQ(c.domains[0].catch_all, "alice@example.org");
    EXPECT_EQ(c.domains[0].aliases.at("sales"),
              (std::vector<std::string>{"carol@example.org", "dave@example.net"}));
    EXPECT_EQ(c.domains[1].aliases.at("postmaster"),
              (std::vector<std::string>{"alice@example.org"}));
    EXPECT_EQ(c.queue.lifetime, 24h * 5);
    EXPECT_EQ(c.access.deny.nets().size(), 2u);
}

// Every ```toml block in docs/configuration.md is a complete, valid configuration.
TEST(ConfigExample, DocumentationExamplesLoad) {
    std::ifstream in(fs::path(SLUICE_SOURCE_DIR) / "docs" / "configuration.md");
    ASSERT_TRUE(in) << "docs/configuration.md not found";
    std::string line;
    std::string block;
    bool in_block = false;
    int blocks = 0;
    int line_no = 0;
    int block_start = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (!in_block && line == "```toml") {
            in_block = true;
            block.clear();
            block_start = line_no;
        } else if (in_block && line == "```") {
            in_block = false;
            ++blocks;
            try {
                (void)load_string(block, "configuration.md:" + std::to_string(block_start));
            } catch (const ConfigError& e) {
                ADD_FAILURE() << e.what() << "\n" << block;
            }
        } else if (in_block) {
            block += line + "\n";
        }
    }
    EXPECT_FALSE(in_block);
    EXPECT_GE(blocks, 3);
}

TEST(ConfigFile, MissingFileIsAnErrorAtLineZero) {
    try {
        (void)load_file("/nonexistent/sluice.toml");
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.line(), 0);
        EXPECT_TRUE(contains(e.what(), "/nonexistent/sluice.toml:0:0: ")) << e.what();
    }
}

TEST(ConfigFile, ErrorsNameTheFile) {
    const fs::path path = fs::temp_directory_path() / "sluice_config_test_bad.toml";
    {
        std::ofstream out(path);
        out << "hostname = \"mx.example.org\"\n[limits]\nrecipients = 0\n";
    }
    try {
        (void)load_file(path);
        ADD_FAILURE() << "no error";
    } catch (const ConfigError& e) {
        EXPECT_EQ(std::string(e.what()),
                  path.string() + ":3:14: limits.recipients: must be at least 1");
    }
    fs::remove(path);
}

// ---- every section --------------------------------------------------------------------------

TEST(ConfigLoad, FullConfig) {
    const Config c = load_string(
        "hostname = \"MX.Example.org\"\n"
        "data_dir = \"/srv/sluice\"\n"
        "workers = 3\n"
        "recipient_delimiter = \"-\"\n"
        "[[listener]]\n"
        "address = \"0.0.0.0:25\"\n"
        "[[listener]]\n"
        "name = \"v6\"\n"
        "address = \"[::]:587\"\n"
        "[limits]\n"
        "message_size = 4096\n"
        "recipients = 5\n"
        "command_line = 2048\n"
        "text_line = 2000\n"
        "connections = 7\n"
        "connections_per_ip = 2\n"
        "errors = 3\n"
        "received_headers = 30\n"
        "min_data_rate = 0\n"
        "min_data_rate_grace = \"1500ms\"\n"
        "transactions = 9\n"
        "[timeouts]\n"
        "command = \"30s\"\n"
        "data_block = 60\n"
        "session = \"1h\"\n"
        "shutdown_grace = \"250ms\"\n"
        "[access]\n"
        "allow = [\"10.0.0.0/8\", \"::1\"]\n"
        "deny = [\"10.6.6.0/24\"]\n"
        "deny_action = \"drop\"\n"
        "[log]\n"
        "level = \"debug\"\n"
        "format = \"json\"\n"
        "file = \"/var/log/sluice.log\"\n"
        "[spool]\n"
        "dir = \"/spool\"\n"
        "sync_threads = 64\n"
        "batch = 1\n"
        "[delivery]\n"
        "maildir_root = \"/mail\"\n"
        "workers = 256\n"
        "maildir_line_endings = \"crlf\"\n"
        "maildir_sync = \"each\"\n"
        "batch = 1\n"
        "nice = 0\n"
        "[queue]\n"
        "retry_initial = \"1m\"\n"
        "retry_max = \"1m\"\n"
        "lifetime = \"2d\"\n");
    EXPECT_EQ(c.hostname, "MX.Example.org");
    EXPECT_EQ(c.data_dir, "/srv/sluice");
    EXPECT_EQ(c.workers, 3u);
    EXPECT_EQ(c.recipient_delimiter, "-");
    ASSERT_EQ(c.listeners.size(), 2u);
    EXPECT_EQ(c.listeners[0].name, "listener0");
    EXPECT_EQ(c.listeners[0].address, "0.0.0.0");
    EXPECT_EQ(c.listeners[0].port, 25);
    EXPECT_EQ(c.listeners[1].name, "v6");
    EXPECT_EQ(c.listeners[1].address, "::");
    EXPECT_EQ(c.listeners[1].port, 587);
    EXPECT_EQ(c.limits.message_size, 4096u);
    EXPECT_EQ(c.limits.recipients, 5u);
    EXPECT_EQ(c.limits.command_line, 2048u);
    EXPECT_EQ(c.limits.text_line, 2000u);
    EXPECT_EQ(c.limits.connections, 7u);
    EXPECT_EQ(c.limits.connections_per_ip, 2u);
    EXPECT_EQ(c.limits.errors, 3u);
    EXPECT_EQ(c.limits.received_headers, 30u);
    EXPECT_EQ(c.limits.min_data_rate, 0u);
    EXPECT_EQ(c.limits.min_data_rate_grace, 1500ms);
    EXPECT_EQ(c.limits.transactions, 9u);
    EXPECT_EQ(c.timeouts.command, 30s);
    EXPECT_EQ(c.timeouts.data_block, 60s);
    EXPECT_EQ(c.timeouts.session, 1h);
    EXPECT_EQ(c.timeouts.shutdown_grace, 250ms);
    EXPECT_EQ(c.access.allow.nets().size(), 2u);
    EXPECT_TRUE(c.access.allow.contains(*IpAddress::parse("10.1.2.3")));
    EXPECT_TRUE(c.access.allow.contains(*IpAddress::parse("::ffff:10.1.2.3")));
    EXPECT_TRUE(c.access.allow.contains(*IpAddress::parse("::1")));
    EXPECT_TRUE(c.access.deny.contains(*IpAddress::parse("10.6.6.6")));
    EXPECT_EQ(c.access.deny_action, DenyAction::drop);
    EXPECT_EQ(c.log.level, log::Level::debug);
    EXPECT_EQ(c.log.format, log::Format::json);
    EXPECT_EQ(c.log.file, "/var/log/sluice.log");
    EXPECT_EQ(c.spool.dir, "/spool");
    EXPECT_EQ(c.spool.sync_threads, 64u);
    EXPECT_EQ(c.spool.batch, 1u);
    EXPECT_EQ(c.delivery.maildir_root, "/mail");
    EXPECT_EQ(c.delivery.workers, 256u);
    EXPECT_EQ(c.delivery.maildir_line_endings, LineEndings::crlf);
    EXPECT_EQ(c.delivery.maildir_sync, MaildirSync::each);
    EXPECT_EQ(c.delivery.batch, 1u);
    EXPECT_EQ(c.delivery.nice, 0);
    EXPECT_EQ(c.queue.retry_initial, 1min);
    EXPECT_EQ(c.queue.retry_max, 1min);
    EXPECT_EQ(c.queue.lifetime, 48h);
}

TEST(ConfigLoad, RelativePathsAreMadeAbsolute) {
    const Config c = load_string(
        "data_dir = \"data\"\n"
        "log = { file = \"logs/sluice.log\" }\n"
        "spool = { dir = \"./q/../spool\" }\n");
    const fs::path cwd = fs::current_path();
    EXPECT_EQ(c.data_dir, cwd / "data");
    EXPECT_EQ(c.spool.dir, cwd / "spool");
    EXPECT_EQ(c.delivery.maildir_root, cwd / "data" / "mail");  // follows data_dir
    EXPECT_EQ(c.log.file, (cwd / "logs" / "sluice.log").string());
}

TEST(ConfigLoad, EmptyDelimiterTurnsTaggingOff) {
    EXPECT_EQ(load_string("recipient_delimiter = \"\"").recipient_delimiter, "");
    for (const char* d : {"+", "-", "_", "."}) {
        EXPECT_EQ(
            load_string(std::string("recipient_delimiter = \"") + d + "\"").recipient_delimiter, d);
    }
}

TEST(ConfigLoad, MessageSizeForms) {
    EXPECT_EQ(load_string("limits.message_size = \"25M\"").limits.message_size, 25u << 20);
    EXPECT_EQ(load_string("limits.message_size = \"512K\"").limits.message_size, 512u << 10);
    EXPECT_EQ(load_string("limits.message_size = \"1G\"").limits.message_size, 1u << 30);
    EXPECT_EQ(load_string("limits.message_size = \"1K\"").limits.message_size, 1024u);
    EXPECT_EQ(load_string("limits.message_size = 1024").limits.message_size, 1024u);
}

TEST(ConfigLoad, Domains) {
    const Config c = load_string(
        "[[domain]]\n"
        "name = \"Example.ORG\"\n"
        "mailboxes = [\"Alice\", \"bob\", \"first.last\", \"x_y-z\"]\n"
        "aliases = { Team = [\"alice\", \"BOB\", \"alice@example.org\", \"carol@example.net\"] }\n"
        "catch_all = \"bob\"\n"
        "[[domain]]\n"
        "name = \"example.net\"\n"
        "any_user = true\n"
        "[domain.aliases]\n"
        "postmaster = [\"alice@EXAMPLE.org\"]\n");
    ASSERT_EQ(c.domains.size(), 2u);
    const Domain& org = c.domains[0];
    EXPECT_EQ(org.name, "example.org");
    EXPECT_EQ(org.mailboxes, (std::vector<std::string>{"alice", "bob", "first.last", "x_y-z"}));
    ASSERT_EQ(org.aliases.count("team"), 1u);
    EXPECT_EQ(org.aliases.at("team"),
              (std::vector<std::string>{"alice@example.org", "bob@example.org",
                                        "carol@example.net"}));  // deduplicated, in order
    EXPECT_EQ(org.catch_all, "bob@example.org");
    EXPECT_FALSE(org.any_user);
    const Domain& net = c.domains[1];
    EXPECT_TRUE(net.any_user);
    EXPECT_FALSE(net.catch_all.has_value());
    EXPECT_EQ(net.aliases.at("postmaster"), (std::vector<std::string>{"alice@example.org"}));
}

// ---- durations and sizes --------------------------------------------------------------------

TEST(ParseDuration, Valid) {
    EXPECT_EQ(parse_duration("250ms"), Duration(250));
    EXPECT_EQ(parse_duration("30s"), Duration(30s));
    EXPECT_EQ(parse_duration("5m"), Duration(5min));
    EXPECT_EQ(parse_duration("4h"), Duration(4h));
    EXPECT_EQ(parse_duration("2d"), Duration(48h));
    EXPECT_EQ(parse_duration("90"), Duration(90s));
    EXPECT_EQ(parse_duration("0"), Duration(0));  // valid syntax; config requires > 0
    EXPECT_EQ(parse_duration("0010s"), Duration(10s));
}

TEST(ParseDuration, Invalid) {
    for (const char* bad :
         {"", "s", "-5s", "+5s", "5 s", " 5s", "5s ", "5x", "5S", "5sec", "1.5h", "1h30m", "5mss",
          "ms", "0x10", "99999999999999999999", "9223372036854775807s", "106751991167301d"}) {
        EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
    }
    EXPECT_TRUE(parse_duration("9223372036854775807ms").has_value());
}

TEST(ParseSize, Valid) {
    EXPECT_EQ(parse_size("1048576"), 1048576u);
    EXPECT_EQ(parse_size("512K"), 512u * 1024);
    EXPECT_EQ(parse_size("25M"), 25u * 1024 * 1024);
    EXPECT_EQ(parse_size("1G"), 1024u * 1024 * 1024);
    EXPECT_EQ(parse_size("2k"), 2048u);
    EXPECT_EQ(parse_size("0"), 0u);
}

TEST(ParseSize, Invalid) {
    for (const char* bad : {"", "K", "-1", "+1", "1.5M", "1 M", "1MB", "1T", "M1", "1M ", "0x10",
                            "18446744073709551616", "18446744073709551615K"}) {
        EXPECT_FALSE(parse_size(bad).has_value()) << bad;
    }
    EXPECT_EQ(parse_size("18446744073709551615"), 18446744073709551615u);
}

TEST(IsSafeLocalPart, Rules) {
    for (const char* ok : {"alice", "a", "first.last", "x_y-z", "0", "a..b", "-x"}) {
        EXPECT_TRUE(is_safe_local_part(ok)) << ok;
    }
    for (const char* bad : {"", ".hidden", "..", "../x", "a/b", "Alice", "a+b", "a b", "a%b", "a!b",
                            "a@b", "\"a\"", "a\\b"}) {
        EXPECT_FALSE(is_safe_local_part(bad)) << bad;
    }
    EXPECT_TRUE(is_safe_local_part(std::string(64, 'a')));
    EXPECT_FALSE(is_safe_local_part(std::string(65, 'a')));
}

// ---- errors: key and line -------------------------------------------------------------------

TEST(ConfigErrors, DeliverySyncAndBatch) {
    expect_error("[delivery]\nmaildir_sync = \"never\"\n", "delivery.maildir_sync", 2);
    expect_error("[delivery]\nbatch = 0\n", "delivery.batch", 2);
    expect_error("[delivery]\nbatch = 5000\n", "delivery.batch", 2);
    expect_error("[delivery]\nnice = 20\n", "delivery.nice", 2);
    expect_error("[delivery]\nnice = -1\n", "delivery.nice", 2);
}

TEST(ConfigErrors, WhatFormat) {
    const ConfigError e("x.toml", "limits.recipients", 3, 14, "must be at least 1");
    EXPECT_STREQ(e.what(), "x.toml:3:14: limits.recipients: must be at least 1");
    EXPECT_EQ(e.key(), "limits.recipients");
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.message(), "must be at least 1");
}

TEST(ConfigErrors, SyntaxErrorHasLineAndColumn) {
    const auto e = expect_error("hostname = \"mx.example.org\"\nworkers = = 2\n", "", 2);
    EXPECT_TRUE(contains(e.what(), "test.toml:2:")) << e.what();
}

TEST(ConfigErrors, WrongType) {
    auto e = expect_error("workers = 1\n[limits]\nrecipients = \"many\"\n", "limits.recipients", 3);
    EXPECT_EQ(e.message(), "expected integer, got string");
    EXPECT_STREQ(e.what(), "test.toml:3:14: limits.recipients: expected integer, got string");

    expect_error("hostname = 5\n", "hostname", 1);
    expect_error("\nlimits = 5\n", "limits", 2);
    expect_error("[timeouts]\ncommand = 1.5\n", "timeouts.command", 2);
    expect_error("[limits]\nmessage_size = true\n", "limits.message_size", 2);
    expect_error("[access]\nallow = \"10.0.0.0/8\"\n", "access.allow", 2);
    expect_error("[access]\nallow = [\n  \"10.0.0.0/8\",\n  8,\n]\n", "access.allow", 4);
    expect_error("[listener]\naddress = \"127.0.0.1:25\"\n", "listener", 1);
    expect_error("[[domain]]\nname = \"a.org\"\nany_user = \"yes\"\n", "domain[0].any_user", 3);
    expect_error("[[domain]]\nname = \"a.org\"\nmailboxes = \"alice\"\n", "domain[0].mailboxes", 3);
    expect_error("[[domain]]\nname = \"a.org\"\naliases = [\"x\"]\n", "domain[0].aliases", 3);
    expect_error("[[domain]]\nname = \"a.org\"\ncatch_all = [\"x\"]\n", "domain[0].catch_all", 3);
}

TEST(ConfigErrors, UnknownKey) {
    auto e = expect_error("hostname = \"mx.example.org\"\nhostnmae = \"x\"\n", "hostnmae", 2);
    EXPECT_EQ(e.message(), "unknown key");
    expect_error("[limits]\nrecipients = 10\nmesage_size = 5\n", "limits.mesage_size", 3);
    expect_error("[timeouts]\nidle = \"5m\"\n", "timeouts.idle", 2);
    expect_error("[[listener]]\nname = \"a\"\n[[listener]]\nname = \"b\"\nport = 25\n",
                 "listener[1].port", 5);
    expect_error("[[domain]]\nname = \"a.org\"\ncatchall = \"x\"\n", "domain[0].catchall", 3);
    expect_error("[queue]\nretry = \"5m\"\n", "queue.retry", 2);
    expect_error("[log.x]\n", "log.x", 1);
}

TEST(ConfigErrors, BadCidr) {
    auto e = expect_error(
        "[access]\n"
        "allow = [\"10.0.0.0/8\",\n"
        "         \"192.168.0.0/33\"]\n",
        "access.allow", 3);
    EXPECT_TRUE(contains(e.message(), "192.168.0.0/33")) << e.what();
    expect_error("[access]\ndeny = [\"example.com\"]\n", "access.deny", 2);
    expect_error("[access]\ndeny = [\"::1/129\"]\n", "access.deny", 2);
    expect_error("[access]\ndeny_action = \"tarpit\"\n", "access.deny_action", 2);
}

TEST(ConfigErrors, BadDuration) {
    auto e = expect_error("[timeouts]\ncommand = \"5 minutes\"\n", "timeouts.command", 2);
    EXPECT_TRUE(contains(e.message(), "invalid duration")) << e.what();
    expect_error("[timeouts]\n\nsession = \"-1s\"\n", "timeouts.session", 3);
    expect_error("[timeouts]\nsession = 0\n", "timeouts.session", 2);
    expect_error("[timeouts]\nsession = \"0s\"\n", "timeouts.session", 2);
    expect_error("[timeouts]\ndata_block = -5\n", "timeouts.data_block", 2);
    expect_error("[timeouts]\nshutdown_grace = 9223372036854775807\n", "timeouts.shutdown_grace",
                 2);
    e = expect_error("[limits]\nmin_data_rate_grace = \"10 s\"\n", "limits.min_data_rate_grace", 2);
    EXPECT_TRUE(contains(e.message(), "invalid duration")) << e.what();
    e = expect_error("[limits]\n\nmin_data_rate_grace = 0\n", "limits.min_data_rate_grace", 3);
    EXPECT_TRUE(contains(e.message(), "greater than zero")) << e.what();
    expect_error("[limits]\nmin_data_rate_grace = \"-1s\"\n", "limits.min_data_rate_grace", 2);
    expect_error("[limits]\nmin_data_rate_grace = true\n", "limits.min_data_rate_grace", 2);
    expect_error("[queue]\nlifetime = \"forever\"\n", "queue.lifetime", 2);
    expect_error("[queue]\nretry_initial = \"1h\"\nretry_max = \"30m\"\n", "queue.retry_max", 3);
    expect_error("[queue]\nretry_initial = \"5h\"\n", "queue.retry_initial", 2);
}

TEST(ConfigErrors, BadListenerAddress) {
    const auto bad = [](const std::string& addr, const std::string& what) {
        const auto e =
            expect_error("[[listener]]\nname = \"mx\"\n[[listener]]\naddress = \"" + addr + "\"\n",
                         "listener[1].address", 4);
        EXPECT_TRUE(contains(e.message(), what)) << addr << ": " << e.what();
    };
    bad("127.0.0.1:0", "port");
    bad("127.0.0.1:65536", "port");
    bad("127.0.0.1:", "port");
    bad("127.0.0.1:25x", "port");
    bad("127.0.0.1:-1", "port");
    bad("127.0.0.1:000000025", "port");
    bad("127.0.0.1", "IP:port");
    bad("localhost:25", "not an IP address literal");
    bad("::1:25", "brackets");
    bad("[::1]25", "[IPv6]:port");
    bad("[::1]", "[IPv6]:port");
    bad("[127.0.0.1]:25", "brackets are for IPv6");
    bad("[[::1]]:25", "[IPv6]:port");
    bad(":25", "not an IP address literal");
}

TEST(ConfigErrors, ListenerAddressesAccepted) {
    const Config c = load_string(
        "[[listener]]\naddress = \"[::1]:1\"\n[[listener]]\naddress = \"192.0.2.1:65535\"\n");
    EXPECT_EQ(c.listeners[0].address, "::1");
    EXPECT_EQ(c.listeners[0].port, 1);
    EXPECT_EQ(c.listeners[1].name, "listener1");
    EXPECT_EQ(c.listeners[1].port, 65535);
}

TEST(ConfigErrors, DuplicateListener) {
    auto e = expect_error(
        "[[listener]]\nname = \"mx\"\naddress = \"127.0.0.1:25\"\n"
        "[[listener]]\nname = \"mx\"\naddress = \"127.0.0.1:26\"\n",
        "listener[1].name", 5);
    EXPECT_TRUE(contains(e.message(), "duplicate")) << e.what();
    EXPECT_TRUE(contains(e.message(), "listener[0]")) << e.what();
    // A default name can collide too.
    expect_error("[[listener]]\nname = \"listener1\"\n[[listener]]\naddress = \"127.0.0.1:26\"\n",
                 "listener[1].name", 3);
    // Same address and port twice.
    expect_error(
        "[[listener]]\naddress = \"[::ffff:127.0.0.1]:25\"\n"
        "[[listener]]\naddress = \"127.0.0.1:25\"\n",
        "listener[1].address", 4);
    expect_error("[[listener]]\nname = \"has space\"\n", "listener[0].name", 2);
}

TEST(ConfigErrors, LimitBelowMinimum) {
    struct Case {
        const char* key;
        const char* value;
    };
    for (const Case& c :
         {Case{"message_size", "1023"}, Case{"message_size", "\"1000\""},
          Case{"message_size", "-1"}, Case{"recipients", "0"}, Case{"command_line", "511"},
          Case{"text_line", "999"}, Case{"connections", "0"}, Case{"connections_per_ip", "0"},
          Case{"errors", "0"}, Case{"received_headers", "0"}, Case{"min_data_rate", "-1"},
          Case{"transactions", "0"}}) {
        const auto e = expect_error(std::string("[limits]\n\n") + c.key + " = " + c.value + "\n",
                                    std::string("limits.") + c.key, 3);
        EXPECT_TRUE(contains(e.message(), "at least")) << e.what();
    }
    expect_error("[limits]\nmessage_size = \"25 MB\"\n", "limits.message_size", 2);
    expect_error("[limits]\nmessage_size = \"99999999999G\"\n", "limits.message_size", 2);
    expect_error("workers = -1\n", "workers", 1);
    expect_error("workers = 100000\n", "workers", 1);
    expect_error("[spool]\nsync_threads = 0\n", "spool.sync_threads", 2);
    expect_error("[spool]\nsync_threads = 65\n", "spool.sync_threads", 2);
    expect_error("[spool]\nbatch = 0\n", "spool.batch", 2);
    expect_error("[spool]\nbatch = 1025\n", "spool.batch", 2);
    expect_error("[delivery]\nworkers = 257\n", "delivery.workers", 2);
}

TEST(ConfigErrors, OtherValues) {
    expect_error("hostname = \"mx example org\"\n", "hostname", 1);
    expect_error("hostname = \"\"\n", "hostname", 1);
    expect_error("hostname = \"-mx.example.org\"\n", "hostname", 1);
    expect_error("hostname = \"192.0.2.1\"\n", "hostname", 1);
    expect_error("recipient_delimiter = \"#\"\n", "recipient_delimiter", 1);
    expect_error("recipient_delimiter = \"++\"\n", "recipient_delimiter", 1);
    expect_error("data_dir = \"\"\n", "data_dir", 1);
    expect_error("[log]\nlevel = \"verbose\"\n", "log.level", 2);
    expect_error("[log]\nformat = \"xml\"\n", "log.format", 2);
    expect_error("[spool]\ndir = \"\"\n", "spool.dir", 2);
    expect_error("[delivery]\nmaildir_line_endings = \"cr\"\n", "delivery.maildir_line_endings", 2);
}

TEST(ConfigErrors, DomainNames) {
    expect_error("[[domain]]\nmailboxes = [\"a\"]\n", "domain[0].name", 1);
    expect_error("[[domain]]\nname = \"bad_domain.org\"\n", "domain[0].name", 2);
    expect_error("[[domain]]\nname = \"[127.0.0.1]\"\n", "domain[0].name", 2);
    auto e = expect_error("[[domain]]\nname = \"a.org\"\n[[domain]]\nname = \"A.org\"\n",
                          "domain[1].name", 4);
    EXPECT_TRUE(contains(e.message(), "duplicate")) << e.what();
}

TEST(ConfigErrors, MailboxNames) {
    for (const char* bad : {"../x", "a/b", ".hidden", "a+b", "", "a b", "caf\xc3\xa9"}) {
        expect_error(
            std::string("[[domain]]\nname = \"a.org\"\nmailboxes = [\"ok\",\n\"") + bad + "\"]\n",
            "domain[0].mailboxes", 4);
    }
    expect_error("[[domain]]\nname = \"a.org\"\nmailboxes = [\"bob\", \"BOB\"]\n",
                 "domain[0].mailboxes", 3);
}

TEST(ConfigErrors, AliasToUnknownMailbox) {
    auto e = expect_error(
        "[[domain]]\n"
        "name = \"example.org\"\n"
        "mailboxes = [\"alice\"]\n"
        "[[domain]]\n"
        "name = \"example.net\"\n"
        "mailboxes = [\"bob\"]\n"
        "[domain.aliases]\n"
        "sales = [\"bob\"]\n"
        "team = [\"bob\",\n"
        "        \"zed@example.org\"]\n",
        "domain[1].aliases.team", 10);
    EXPECT_TRUE(contains(e.message(), "zed@example.org")) << e.what();
    EXPECT_TRUE(contains(e.what(), "test.toml:10:9: domain[1].aliases.team: ")) << e.what();

    // Unconfigured domain, alias chain, catch-all, alias that is also a mailbox, bad alias name.
    expect_error(
        "[[domain]]\nname = \"a.org\"\nmailboxes = [\"x\"]\n"
        "aliases = { y = [\"x@b.org\"] }\n",
        "domain[0].aliases.y", 4);
    e = expect_error(
        "[[domain]]\nname = \"a.org\"\nmailboxes = [\"x\"]\n"
        "aliases = { y = [\"x\"], z = [\"y\"] }\n",
        "domain[0].aliases.z", 4);
    EXPECT_TRUE(contains(e.message(), "alias")) << e.what();
    expect_error("[[domain]]\nname = \"a.org\"\nmailboxes = [\"x\"]\ncatch_all = \"nobody\"\n",
                 "domain[0].catch_all", 4);
    expect_error(
        "[[domain]]\nname = \"a.org\"\nmailboxes = [\"x\"]\n[domain.aliases]\nx = [\"x\"]\n",
        "domain[0].aliases.x", 5);
    expect_error(
        "[[domain]]\nname = \"a.org\"\nmailboxes = [\"x\"]\n[domain.aliases]\n"
        "\"a/b\" = [\"x\"]\n",
        "domain[0].aliases.a/b", 5);
    expect_error("[[domain]]\nname = \"a.org\"\nmailboxes = [\"x\"]\naliases = { y = [] }\n",
                 "domain[0].aliases.y", 4);
    expect_error(
        "[[domain]]\nname = \"a.org\"\nmailboxes = [\"x\"]\n"
        "aliases = { y = [\"x\"], Y = [\"x\"] }\n",
        "domain[0].aliases.y", 4);
}

TEST(ConfigLoad, AliasTargetsInAnyUserDomain) {
    const Config c = load_string(
        "[[domain]]\nname = \"a.org\"\naliases = { y = [\"anyone@b.org\"] }\n"
        "catch_all = \"who@b.org\"\n"
        "[[domain]]\nname = \"b.org\"\nany_user = true\n");
    EXPECT_EQ(c.domains[0].aliases.at("y"), (std::vector<std::string>{"anyone@b.org"}));
    EXPECT_EQ(c.domains[0].catch_all, "who@b.org");
    // ...but an unsafe local part is no mailbox even there.
    expect_error(
        "[[domain]]\nname = \"a.org\"\naliases = { y = [\"../x@b.org\"] }\n"
        "[[domain]]\nname = \"b.org\"\nany_user = true\n",
        "domain[0].aliases.y", 3);
}

}  // namespace

TEST(ConfigRelay, DefaultsAndFullForm) {
    const Config d = load_string("");
    EXPECT_TRUE(d.dns.forwarders.empty());
    EXPECT_EQ(d.relay.port, 25);
    EXPECT_FALSE(d.relay.smarthost);
    EXPECT_EQ(d.relay.tls, TlsPolicy::opportunistic);
    EXPECT_FALSE(d.queue.delay_warning);

    const Config c = load_string(R"(
[dns]
forwarders = ["127.0.0.1@5353", "::1"]
timeout = "2s"
[relay]
port = 2525
smarthost = "[2001:db8::25]:587"
smarthost_tls = "required"
smarthost_tls_verify = true
tls = "none"
concurrency = 3
concurrency_per_destination = 1
messages_per_connection = 7
idle_timeout = "1s"
connect_timeout = "3s"
command_timeout = "4s"
data_timeout = "5s"
[[relay.route]]
domain = "Partner.Example"
host = "mx.partner.example:2526"
tls_verify = true
[queue]
delay_warning = "1h"
)");
    EXPECT_EQ(c.dns.forwarders, (std::vector<std::string>{"127.0.0.1@5353", "::1"}));
    EXPECT_EQ(c.dns.timeout, 2s);
    EXPECT_EQ(c.relay.port, 2525);
    ASSERT_TRUE(c.relay.smarthost);
    EXPECT_EQ(c.relay.smarthost->host, "2001:db8::25");
    EXPECT_EQ(c.relay.smarthost->port, 587);
    EXPECT_EQ(c.relay.smarthost->tls, TlsPolicy::required);
    EXPECT_TRUE(c.relay.smarthost->tls_verify);
    EXPECT_EQ(c.relay.tls, TlsPolicy::none);
    EXPECT_EQ(c.relay.concurrency, 3u);
    EXPECT_EQ(c.relay.concurrency_per_destination, 1u);
    EXPECT_EQ(c.relay.messages_per_connection, 7u);
    EXPECT_EQ(c.relay.idle_timeout, 1s);
    ASSERT_EQ(c.relay.routes.size(), 1u);
    EXPECT_EQ(c.relay.routes[0].domain, "partner.example");
    EXPECT_EQ(c.relay.routes[0].to.host, "mx.partner.example");
    EXPECT_EQ(c.relay.routes[0].to.port, 2526);
    EXPECT_TRUE(c.relay.routes[0].to.tls_verify);
    EXPECT_EQ(c.queue.delay_warning, 1h);
}

TEST(ConfigRelay, Errors) {
    expect_error("[dns]\nforwarders = [\"dns.example\"]\n", "dns.forwarders", 2);
    expect_error("[dns]\nforwarders = [\"127.0.0.1@99999\"]\n", "dns.forwarders", 2);
    expect_error("[dns]\nservers = []\n", "dns.servers", 2);
    expect_error("[relay]\nport = 0\n", "relay.port", 2);
    expect_error("[relay]\ntls = \"maybe\"\n", "relay.tls", 2);
    expect_error("[relay]\nsmarthost = \"2001:db8::1\"\n", "relay.smarthost", 2);
    expect_error("[relay]\nsmarthost = \"host:0\"\n", "relay.smarthost", 2);
    expect_error("[relay]\nsmarthost_tls = \"none\"\n", "relay.smarthost_tls", 2);
    expect_error("[[relay.route]]\nhost = \"a.example\"\n", "relay.route[0].domain", 1);
    expect_error(
        "[[relay.route]]\ndomain = \"a.example\"\nhost = \"x\"\n[[relay.route]]\n"
        "domain = \"A.example\"\nhost = \"y\"\n",
        "relay.route[1].domain", 5);
    expect_error("[[relay.route]]\ndomain = \"a.example\"\nhots = \"x\"\n", "relay.route[0].hots",
                 3);
    expect_error("[queue]\ndelay_warning = \"soon\"\n", "queue.delay_warning", 2);
}

TEST(ConfigRelay, AuthCredentials) {
    const Config d = load_string("[relay]\nsmarthost = \"relay.example:587\"\n");
    EXPECT_TRUE(d.relay.smarthost->user.empty());
    EXPECT_FALSE(d.relay.smarthost->auth_plaintext);
    const Config c = load_string(R"(
[relay]
smarthost = "relay.example:587"
smarthost_user = "Sluice@Example.org"
smarthost_password = "s3cret pw"
[[relay.route]]
domain = "partner.example"
host = "10.0.0.2:2525"
user = "u"
password = "p"
auth_plaintext = true
)");
    EXPECT_EQ(c.relay.smarthost->user, "Sluice@Example.org");
    EXPECT_EQ(c.relay.smarthost->password, "s3cret pw");
    EXPECT_FALSE(c.relay.smarthost->auth_plaintext);
    EXPECT_EQ(c.relay.routes[0].to.user, "u");
    EXPECT_EQ(c.relay.routes[0].to.password, "p");
    EXPECT_TRUE(c.relay.routes[0].to.auth_plaintext);

    const std::string sh = "[relay]\nsmarthost = \"h\"\n";
    expect_error(sh + "smarthost_user = \"u\"\n", "relay.smarthost_user", 3);
    expect_error(sh + "smarthost_password = \"p\"\n", "relay.smarthost_password", 3);
    expect_error(sh + "smarthost_user = \"\"\nsmarthost_password = \"p\"\n", "relay.smarthost_user",
                 3);
    expect_error(sh + "smarthost_user = \"u\"\nsmarthost_password = \"a\\r\\nQUIT\"\n",
                 "relay.smarthost_password", 4);
    expect_error(sh + "smarthost_auth_plaintext = true\n", "relay.smarthost_auth_plaintext", 3);
    expect_error("[relay]\nsmarthost_user = \"u\"\n", "relay.smarthost_user", 2);
    expect_error("[[relay.route]]\ndomain = \"a.example\"\nhost = \"x\"\nuser = \"u\"\n",
                 "relay.route[0].user", 4);
    expect_error("[[relay.route]]\ndomain = \"a.example\"\nhost = \"x\"\nsmarthost_user = \"u\"\n",
                 "relay.route[0].smarthost_user", 4);
}

// TLS, AUTH, listener roles and sending limits (issue "Secure").
namespace {

const std::string kHash = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";

TEST(ConfigControlSocket, DefaultUnderDataDirAndOverride) {
    EXPECT_EQ(load_string("data_dir = \"/tmp/d\"\n").control_socket,
              fs::path("/tmp/d/control.sock"));
    EXPECT_EQ(default_config().control_socket, default_config().data_dir / "control.sock");
    EXPECT_EQ(load_string("control_socket = \"/run/sluice/ctl.sock\"\n").control_socket,
              fs::path("/run/sluice/ctl.sock"));
    expect_error("control_socket = \"\"\n", "control_socket", 1);
    expect_error("control_socket = \"/" + std::string(120, 'x') + "\"\n", "control_socket", 1);
}

TEST(ConfigSecure, DefaultsSelfSignedTlsNoAuthNoLimits) {
    const Config c = load_string("data_dir = \"/tmp/d\"\n");
    EXPECT_TRUE(c.tls.enabled);
    EXPECT_TRUE(c.tls.self_signed);
    EXPECT_EQ(c.tls.cert_file, fs::path("/tmp/d/tls/cert.pem"));
    EXPECT_EQ(c.tls.key_file, fs::path("/tmp/d/tls/key.pem"));
    EXPECT_FALSE(c.auth.enabled());
    EXPECT_TRUE(c.rate_limits.empty());
    EXPECT_EQ(c.listeners[0].role, ListenerRole::mx);
    EXPECT_TRUE(c.listeners[0].starttls);
}

TEST(ConfigSecure, FullSection) {
    const Config c = load_string(
        "[[listener]]\nname = \"mx\"\naddress = \"127.0.0.1:25\"\n"
        "[[listener]]\nname = \"sub\"\naddress = \"127.0.0.1:587\"\nrole = \"submission\"\n"
        "[[listener]]\nname = \"subs\"\naddress = \"127.0.0.1:465\"\nrole = \"submissions\"\n"
        "[tls]\ncert_file = \"/etc/c.pem\"\nkey_file = \"/etc/k.pem\"\nmin_version = \"1.3\"\n"
        "[auth]\nsqlite_file = \"/var/lib/users.db\"\nlockout_failures = 3\n"
        "lockout_window = \"5m\"\nlockout_duration = \"1h\"\nfailure_delay = \"2s\"\n"
        "max_failure_delay = \"10s\"\nthreads = 4\n"
        "[[auth.user]]\nname = \"Alice@Example.org\"\npassword_hash = \"" +
        kHash +
        "\"\n"
        "addresses = [\"postmaster@example.org\", \"@example.net\"]\n"
        "[[rate_limit]]\nscope = \"ip\"\nmetric = \"connections\"\nlimit = 60\nwindow = \"1m\"\n"
        "[[rate_limit]]\nscope = \"user\"\nmetric = \"recipients\"\nlimit = 1000\nwindow = "
        "\"1d\"\n");
    EXPECT_EQ(c.listeners[1].role, ListenerRole::submission);
    EXPECT_EQ(c.listeners[2].role, ListenerRole::submissions);
    EXPECT_FALSE(c.tls.self_signed);
    EXPECT_TRUE(c.tls.min_tls13);
    EXPECT_EQ(c.tls.cert_file, fs::path("/etc/c.pem"));
    ASSERT_EQ(c.auth.users.size(), 1u);
    EXPECT_EQ(c.auth.users[0].name, "alice@example.org");
    EXPECT_EQ(c.auth.users[0].addresses.size(), 2u);
    EXPECT_EQ(c.auth.sqlite_file, fs::path("/var/lib/users.db"));
    EXPECT_EQ(c.auth.lockout_failures, 3u);
    EXPECT_EQ(c.auth.lockout_duration, 1h);
    EXPECT_EQ(c.auth.threads, 4u);
    ASSERT_EQ(c.rate_limits.size(), 2u);
    EXPECT_EQ(c.rate_limits[1].scope, RateScope::user);
    EXPECT_EQ(c.rate_limits[1].metric, RateMetric::recipients);
    EXPECT_EQ(c.rate_limits[1].window, 24h);
}

TEST(ConfigListener, AccessListsAndMessageSize) {
    const Config c = load_string(
        "[limits]\nmessage_size = \"2M\"\n"
        "[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:25\"\n"
        "[[listener]]\nname = \"b\"\naddress = \"127.0.0.1:26\"\n"
        "allow = [\"10.0.0.0/8\", \"::1\"]\ndeny = [\"10.1.0.0/16\"]\ndeny_action = \"drop\"\n"
        "message_size = \"64K\"\n"
        "[[auth.user]]\nname = \"a\"\npassword_hash = \"" +
        kHash + "\"\nmessage_size = 4096\n");
    ASSERT_EQ(c.listeners.size(), 2u);
    EXPECT_TRUE(c.listeners[0].allow.empty());
    EXPECT_TRUE(c.listeners[0].deny.empty());
    EXPECT_FALSE(c.listeners[0].deny_action.has_value());
    EXPECT_FALSE(c.listeners[0].message_size.has_value());
    const Listener& b = c.listeners[1];
    EXPECT_TRUE(b.allow.contains(*IpAddress::parse("10.2.3.4")));
    EXPECT_TRUE(b.allow.contains(*IpAddress::parse("::1")));
    EXPECT_FALSE(b.allow.contains(*IpAddress::parse("192.0.2.1")));
    EXPECT_TRUE(b.deny.contains(*IpAddress::parse("10.1.2.3")));
    EXPECT_EQ(b.deny_action, DenyAction::drop);
    EXPECT_EQ(b.message_size, 64u * 1024);
    EXPECT_EQ(c.limits.message_size, 2u * 1024 * 1024);
    ASSERT_EQ(c.auth.users.size(), 1u);
    EXPECT_EQ(c.auth.users[0].message_size, 4096u);
    EXPECT_FALSE(c.auth.check_from_header);
    EXPECT_TRUE(load_string("[auth]\ncheck_from_header = true\n").auth.check_from_header);
    expect_error("[auth]\ncheck_from_header = 1\n", "auth.check_from_header", 2);
}

TEST(ConfigListener, Errors) {
    auto e = expect_error(
        "[[listener]]\naddress = \"127.0.0.1:25\"\n[[listener]]\n"
        "address = \"127.0.0.1:26\"\nallow = [\"10.0.0.0/8\",\n"
        "  \"10.0.0.0/33\"]\n",
        "listener[1].allow", 6);
    EXPECT_TRUE(contains(e.message(), "10.0.0.0/33")) << e.what();
    expect_error("[[listener]]\ndeny = [\"example.com\"]\n", "listener[0].deny", 2);
    expect_error("[[listener]]\ndeny = \"10.0.0.0/8\"\n", "listener[0].deny", 2);
    expect_error("[[listener]]\ndeny_action = \"tarpit\"\n", "listener[0].deny_action", 2);
    expect_error("[[listener]]\nmessage_size = 1023\n", "listener[0].message_size", 2);
    expect_error("[[listener]]\nmessage_size = \"1T\"\n", "listener[0].message_size", 2);
    expect_error("[[listener]]\nmessage_size = true\n", "listener[0].message_size", 2);
    expect_error("[[listener]]\ntrusted = []\n", "listener[0].trusted", 2);
    expect_error(
        "[[auth.user]]\nname = \"a\"\npassword_hash = \"" + kHash + "\"\nmessage_size = \"1x\"\n",
        "auth.user[0].message_size", 4);
    // The [limits] key keeps its name in errors after the refactoring into one helper.
    expect_error("[limits]\nmessage_size = 10\n", "limits.message_size", 2);
}

TEST(ConfigSecure, Errors) {
    expect_error("[[listener]]\nrole = \"relay\"\n", "listener[0].role", 2);
    expect_error("[[listener]]\nrole = \"submission\"\n", "listener[0].role", 1);  // no users
    expect_error("[tls]\ncert_file = \"/c.pem\"\n", "tls.key_file", 1);
    expect_error("[tls]\nmin_version = \"1.1\"\n", "tls.min_version", 2);
    expect_error("[tls]\nciphers = \"ALL\"\n", "tls.ciphers", 2);
    expect_error("[auth]\nlockout = 3\n", "auth.lockout", 2);
    expect_error("[[auth.user]]\nname = \"a\"\npassword_hash = \"plain\"\n",
                 "auth.user[0].password_hash", 3);
    expect_error("[[auth.user]]\npassword_hash = \"" + kHash + "\"\n", "auth.user[0].name", 1);
    expect_error("[[auth.user]]\nname = \"a b\"\npassword_hash = \"" + kHash + "\"\n",
                 "auth.user[0].name", 2);
    expect_error("[[auth.user]]\nname = \"a\"\npassword_hash = \"" + kHash +
                     "\"\n[[auth.user]]\nname = \"A\"\npassword_hash = \"" + kHash + "\"\n",
                 "auth.user[1].name", 5);
    expect_error("[[auth.user]]\nname = \"a\"\npassword_hash = \"" + kHash +
                     "\"\naddresses = [\"nodomain\"]\n",
                 "auth.user[0].addresses", 4);
    expect_error(
        "[[rate_limit]]\nscope = \"ip\"\nmetric = \"messages\"\nlimit = 0\nwindow = \"1h\"\n",
        "rate_limit[0].limit", 4);
    expect_error(
        "[[rate_limit]]\nscope = \"user\"\nmetric = \"connections\"\nlimit = 1\n"
        "window = \"1h\"\n",
        "rate_limit[0].metric", 3);
    expect_error(
        "[[rate_limit]]\nscope = \"ip\"\nmetric = \"messages\"\nlimit = 1\nwindo = \"1h\"\n",
        "rate_limit[0].windo", 5);
    expect_error(
        "[tls]\nenabled = false\n[[listener]]\nrole = \"submissions\"\n[[auth.user]]\n"
        "name = \"a\"\npassword_hash = \"" +
            kHash + "\"\n",
        "listener[0].role", 3);
}

}  // namespace

}  // namespace sluice::config
