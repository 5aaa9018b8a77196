// log_test.cpp: the structured log line: logfmt and JSON escaping (client-supplied values can
// neither forge a field nor break a line), the timestamp, lines reaching the configured file
// across a re-init, and reopen() (logrotate: rename, SIGHUP) while other threads log.
#include "common/log.hpp"
#include "../temp_dir.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sluice::log {
namespace {

namespace stdfs = std::filesystem;
using std::chrono::system_clock;

// A fresh directory under /tmp, removed with its files at the end of the test.
using TempDir = test::TempDir;

TEST(Log, LogfmtQuotesAndEscapesOnlyWhatNeedsIt) {
    const std::string line = format_line(Format::logfmt, Level::info, "message",
                                         {{"session", 7},
                                          {"from", "a@b.test"},
                                          {"helo", "evil x=1\nlevel=error"},
                                          {"ok", true},
                                          {"empty", ""},
                                          {"ms", 0.5}},
                                         "2026-11-28T23:38:41.010Z");
    EXPECT_EQ(line,
              "ts=2026-11-28T23:38:41.010Z level=info event=message session=7 from=a@b.test "
              "helo=\"evil x=1\\nlevel=error\" ok=true empty=\"\" ms=0.5");
}

TEST(Log, JsonEscapesControlCharactersAndQuotes) {
    const std::string line = format_line(Format::json, Level::warn, "drop",
                                         {{"ip", "192.0.2.1"}, {"why", "a\"b\\c\x01"}, {"n", -3}},
                                         "2026-11-28T23:38:41.010Z");
    EXPECT_EQ(line,
              "{\"ts\":\"2026-11-28T23:38:41.010Z\",\"level\":\"warn\",\"event\":\"drop\","
              "\"ip\":\"192.0.2.1\",\"why\":\"a\\\"b\\\\c\\u0001\",\"n\":-3}");
}

TEST(Log, TimestampIsUtcWithMilliseconds) {
    // 2026-11-28T23:38:41Z = 1795909121 s since the epoch.
    const auto t = system_clock::time_point(std::chrono::milliseconds(1795909121010LL));
    EXPECT_EQ(timestamp(t), "2026-11-28T23:38:41.010Z");
    EXPECT_EQ(timestamp(t + std::chrono::milliseconds(5)), "2026-11-28T23:38:41.015Z");  // same s
    EXPECT_EQ(timestamp(t + std::chrono::milliseconds(990)), "2026-11-28T23:38:42.000Z");
    EXPECT_EQ(timestamp(t + std::chrono::hours(24)), "2026-11-29T23:38:41.010Z");
    EXPECT_EQ(timestamp(t - std::chrono::milliseconds(11)), "2026-11-28T23:38:40.999Z");
    // A clock before 1970 (a broken RTC) still gives a valid time, rounded down.
    const auto epoch = system_clock::time_point{};
    EXPECT_EQ(timestamp(epoch - std::chrono::milliseconds(1)), "1969-12-31T23:59:59.999Z");
    EXPECT_EQ(timestamp(epoch - std::chrono::seconds(1)), "1969-12-31T23:59:59.000Z");
    EXPECT_EQ(timestamp(epoch), "1970-01-01T00:00:00.000Z");
}

std::vector<std::string> lines_of(const stdfs::path& p) {
    std::ifstream f(p);
    std::vector<std::string> out;
    for (std::string l; std::getline(f, l);) out.push_back(l);
    return out;
}

// Lines from several threads reach the file whole; after a re-init to another file, new lines go
// there and the old file has every line written before.
TEST(Log, LinesReachTheFileAcrossReinit) {
    TempDir tmp;
    const stdfs::path& dir = tmp.path();
    init(Level::info, Format::logfmt, (dir / "a.log").string());
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([t] {
            for (int i = 0; i < 100; ++i) info("tick", {{"thread", t}, {"i", i}});
        });
    }
    for (auto& th : threads) th.join();
    debug("hidden", {});  // below the level
    init(Level::debug, Format::json, (dir / "b.log").string());
    debug("shown", {{"k", "v"}});
    init(Level::info, Format::logfmt);  // back to stderr; b.log's logger is flushed
    const auto a = lines_of(dir / "a.log");
    ASSERT_EQ(a.size(), 400u);
    for (const auto& l : a) {
        EXPECT_EQ(l.rfind("ts=", 0), 0u) << l;
        EXPECT_NE(l.find(" level=info event=tick thread="), std::string::npos) << l;
    }
    const auto b = lines_of(dir / "b.log");
    ASSERT_EQ(b.size(), 1u);
    EXPECT_NE(b[0].find("\"event\":\"shown\",\"k\":\"v\"}"), std::string::npos) << b[0];
}

// Threads keep logging while the logger is replaced (as a reload would): every line lands whole in
// one of the files, none is lost once the threads are done.
TEST(Log, ReinitWhileOtherThreadsLog) {
    TempDir tmp;
    const stdfs::path& dir = tmp.path();
    init(Level::info, Format::logfmt, (dir / "0.log").string());
    std::atomic<bool> stop{false};
    std::atomic<int> written{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; !stop || i < 200; ++i) {
                info("tick", {{"thread", t}, {"i", i}});
                ++written;
            }
        });
    }
    for (int k = 1; k <= 5; ++k) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        init(Level::info, Format::logfmt, (dir / (std::to_string(k) + ".log")).string());
    }
    stop = true;
    for (auto& th : threads) th.join();  // a thread's last logger is released (flushed) at exit
    init(Level::info, Format::logfmt);
    std::size_t lines = 0;
    for (int k = 0; k <= 5; ++k) {
        for (const auto& l : lines_of(dir / (std::to_string(k) + ".log"))) {
            ++lines;
            EXPECT_EQ(l.rfind("ts=", 0), 0u) << l;
            EXPECT_NE(l.find(" level=info event=tick thread="), std::string::npos) << l;
        }
    }
    EXPECT_EQ(lines, static_cast<std::size_t>(written.load()));
}

// A line logged while a thread exits, after its cached state is gone (from the destructor of a
// thread_local made before the thread's first line), still reaches the file.
TEST(Log, LineFromAThreadLocalDestructor) {
    TempDir tmp;
    const stdfs::path& dir = tmp.path();
    init(Level::info, Format::logfmt, (dir / "a.log").string());
    struct LogsAtExit {
        ~LogsAtExit() { info("thread_exit", {{"late", true}}); }
    };
    std::thread([] {
        thread_local LogsAtExit guard;  // constructed before the thread's logging state
        (void)&guard;
        info("first", {});
    }).join();
    init(Level::info, Format::logfmt);
    const auto lines = lines_of(dir / "a.log");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("event=first"), std::string::npos);
    EXPECT_NE(lines[1].find("event=thread_exit late=true"), std::string::npos);
}

// A line whose optional fields are chosen at run time (the smtp_reject line leaves out those it
// does not know).
TEST(Log, SpanOfFieldsFormatsLikeAList) {
    TempDir tmp;
    const stdfs::path file = tmp.path() / "a.log";
    init(Level::info, Format::logfmt, file.string());
    Field f[3];
    std::size_t n = 0;
    f[n++] = {"ip", "192.0.2.1"};
    f[n++] = {"code", 550};
    event(Level::info, "smtp_reject", std::span<const Field>(f, n));
    init(Level::info, Format::logfmt);
    const auto lines = lines_of(file);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find(" level=info event=smtp_reject ip=192.0.2.1 code=550"),
              std::string::npos)
        << lines[0];
}

// A new log file is mode 0640 whatever the umask; an existing file keeps its mode.
TEST(Log, NewFileIsMode0640) {
    TempDir tmp;
    const stdfs::path file = tmp.path() / "sub" / "a.log";
    const mode_t old = ::umask(0);
    init(Level::info, Format::logfmt, file.string());
    ::umask(old);
    info("x", {});
    init(Level::info, Format::logfmt);
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
}

// logrotate without copytruncate: the file is renamed, then reopen() (on SIGHUP) starts a new one
// at the path. Lines logged before the rename are in the old file, later ones in the new, none in
// both, none lost, even while other threads log throughout.
TEST(Log, ReopenAfterRenameWhileOtherThreadsLog) {
    TempDir tmp;
    const stdfs::path file = tmp.path() / "sluice.log";
    init(Level::info, Format::logfmt, file.string());
    info("before", {});
    std::atomic<bool> stop{false};
    std::atomic<int> written{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; !stop || i < 200; ++i) {
                info("tick", {{"thread", t}, {"i", i}});
                ++written;
            }
        });
    }
    for (int k = 1; k <= 3; ++k) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        stdfs::rename(file, tmp.path() / ("sluice.log." + std::to_string(k)));
        ASSERT_TRUE(reopen());
    }
    stop = true;
    for (auto& th : threads) th.join();
    info("after", {});
    init(Level::info, Format::logfmt);  // flushes
    std::size_t ticks = 0, reopened = 0;
    for (const auto& name : {"sluice.log.1", "sluice.log.2", "sluice.log.3", "sluice.log"}) {
        for (const auto& l : lines_of(tmp.path() / name)) {
            EXPECT_EQ(l.rfind("ts=", 0), 0u) << l;
            if (l.find("event=tick ") != std::string::npos) ++ticks;
            if (l.find("event=log_reopened ") != std::string::npos) ++reopened;
        }
    }
    EXPECT_EQ(ticks, static_cast<std::size_t>(written.load()));
    EXPECT_EQ(reopened, 3u);
    EXPECT_NE(lines_of(tmp.path() / "sluice.log.1").front().find("event=before"),
              std::string::npos);
    EXPECT_NE(lines_of(file).back().find("event=after"), std::string::npos);
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
}

// A reopen that cannot open the path keeps writing to the old file and says why there.
TEST(Log, FailedReopenKeepsTheOldFile) {
    TempDir tmp;
    const stdfs::path dir = tmp.path() / "logs";
    const stdfs::path file = dir / "sluice.log";
    init(Level::info, Format::logfmt, file.string());
    stdfs::rename(dir, tmp.path() / "moved");
    stdfs::create_directory(dir);
    stdfs::create_directory(file);  // a directory where the file should be: open() fails
    EXPECT_FALSE(reopen());
    info("still_here", {});
    init(Level::info, Format::logfmt);
    const auto lines = lines_of(tmp.path() / "moved" / "sluice.log");
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_NE(lines[0].find("level=error event=log_reopen_failed"), std::string::npos) << lines[0];
    EXPECT_NE(lines[1].find("event=still_here"), std::string::npos);
}

// On stderr there is nothing to reopen.
TEST(Log, ReopenOnStderrIsANoOp) {
    init(Level::info, Format::logfmt);
    EXPECT_TRUE(reopen());
    EXPECT_TRUE(chown_file(::geteuid(), ::getegid()));
}

}  // namespace
}  // namespace sluice::log
