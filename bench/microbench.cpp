// microbench.cpp: Google Benchmark micro-benchmarks for the hot paths of a message: parsing a
// command, reading DATA (dot-unstuffing and the smuggling checks), a whole session transaction
// without I/O, encoding a queue file, and a durable spool commit (real fsyncs, under /tmp).
#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "common/log.hpp"
#include "common/queue_id.hpp"
#include "smtp/command.hpp"
#include "smtp/data_reader.hpp"
#include "smtp/session.hpp"
#include "spool/format.hpp"
#include "spool/spool.hpp"

namespace {
using namespace sluice;

std::string message_of(std::size_t size) {
    std::string m = "From: a@b.test\r\nTo: c@d.test\r\nSubject: bench\r\n\r\n";
    while (m.size() < size) m += std::string(78, 'x') + "\r\n";
    return m;
}

void BM_ParseMailCommand(benchmark::State& st) {
    std::string line = "MAIL FROM:<someone.long@example.org> SIZE=12345 BODY=8BITMIME";
    for (auto _ : st) {
        auto c = smtp::parse_command(line);
        auto a = smtp::parse_mail_args(c.args);
        benchmark::DoNotOptimize(a);
    }
}
BENCHMARK(BM_ParseMailCommand);

void BM_DataReader(benchmark::State& st) {
    std::string wire = message_of(static_cast<std::size_t>(st.range(0))) + ".\r\n";
    for (auto _ : st) {
        smtp::DataReader r(64 * 1024 * 1024, 1000);
        r.feed(wire);
        benchmark::DoNotOptimize(r.data());
    }
    st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * wire.size()));
}
BENCHMARK(BM_DataReader)->Arg(1024)->Arg(64 * 1024);

void BM_SessionTransaction(benchmark::State& st) {
    std::string input =
        "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@bench.test>\r\nDATA\r\n" +
        message_of(1024) + ".\r\nQUIT\r\n";
    for (auto _ : st) {
        // The queue ID and Received header are the Intake's since the Seams work (not here).
        smtp::Session s(smtp::SessionInfo{"mx.test", "l", "127.0.0.1", 1, false}, {});
        s.start();
        s.feed(input);
        while (true) {
            auto ev = s.next();
            if (ev == smtp::Event::check_recipient)
                s.recipient_verdict({250, "2.1.5", "Ok"});
            else if (ev == smtp::Event::commit)
                s.commit_done({250, "2.0.0", "Ok"});
            else
                break;
        }
        benchmark::DoNotOptimize(s.output());
    }
}
BENCHMARK(BM_SessionTransaction);

void BM_EncodeQueueFile(benchmark::State& st) {
    spool::StoredMessage m;
    m.envelope.queue_id = new_queue_id(1700000000000000);
    m.envelope.sender = "a@b.test";
    m.envelope.recipients.push_back({"u@bench.test", "", 0});
    m.message = message_of(static_cast<std::size_t>(st.range(0)));
    for (auto _ : st) benchmark::DoNotOptimize(spool::encode(m));
}
BENCHMARK(BM_EncodeQueueFile)->Arg(1024)->Arg(64 * 1024);

// Durable commits from `threads` concurrent committers, each waiting for its own commit.
// One structured log line as a session writes it (logfmt, to a file; flushed every second).
void BM_LogLine(benchmark::State& st) {
    const std::string path = "/tmp/sluice-microbench.log";
    if (st.thread_index() == 0) log::init(log::Level::info, log::Format::logfmt, path);
    const std::string id = "1K1BTPKA5J7SN000";
    for (auto _ : st) {
        log::info("message", {{"session", 12345},
                              {"queue_id", id},
                              {"from", "a@loadgen.test"},
                              {"rcpts", 1},
                              {"size", 1319},
                              {"code", 250}});
    }
    if (st.thread_index() != 0) return;
    log::init(log::Level::info, log::Format::logfmt);
    std::filesystem::remove(path);
}
BENCHMARK(BM_LogLine)->Threads(1)->Threads(2);

void BM_SpoolCommit(benchmark::State& st) {
    static std::unique_ptr<spool::Spool> sp;
    static std::filesystem::path dir;
    if (st.thread_index() == 0) {
        dir = std::filesystem::temp_directory_path() / "sluice-microbench-spool";
        std::filesystem::remove_all(dir);
        sp = std::make_unique<spool::Spool>(spool::Spool::Options{dir, 8, nullptr});
    }
    std::string body = message_of(1024);
    for (auto _ : st) {
        auto m = std::make_shared<spool::StoredMessage>();
        m->envelope.queue_id = new_queue_id(1700000000000000);
        m->envelope.sender = "a@b.test";
        m->envelope.recipients.push_back({"u@bench.test", "", 0});
        m->message = body;
        std::mutex mu;
        std::condition_variable cv;
        bool done = false;
        sp->commit(m, [&](spool::CommitResult) {
            std::lock_guard l(mu);
            done = true;
            cv.notify_one();
        });
        std::unique_lock l(mu);
        cv.wait(l, [&] { return done; });
    }
    if (st.thread_index() == 0) {
        sp.reset();
        std::filesystem::remove_all(dir);
    }
}
BENCHMARK(BM_SpoolCommit)->Threads(1)->Threads(8)->Threads(50)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
