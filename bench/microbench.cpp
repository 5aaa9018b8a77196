// microbench.cpp: Google Benchmark micro-benchmarks for the hot paths of a message: parsing a
// command, reading DATA (dot-unstuffing and the smuggling checks), a whole session transaction
// without I/O, encoding a queue file, a durable spool commit (real fsyncs, under /tmp), and the
// message authentication work per message: SPF (answers from memory, as libunbound's cache gives
// them), DKIM verification (rsa-sha256 and ed25519-sha256 signatures), DMARC, dual DKIM signing.
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
#include "trust/dkim_sign.hpp"
#include "trust/dkim_verify.hpp"
#include "trust/dmarc.hpp"
#include "trust/spf_eval.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <map>

namespace {
using namespace sluice;

std::string message_of(std::size_t size) {
    std::string m = "From: a@example.com\r\nTo: c@d.test\r\nSubject: bench\r\n\r\n";
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

// DNS answers from memory: what a check costs once libunbound's cache holds the records.
class CachedDns final : public dns::Lookup {
  public:
    std::map<std::string, std::vector<std::string>> txt_, a_;
    boost::asio::awaitable<dns::MxAnswer> mx(std::string) override {
        co_return dns::MxAnswer{dns::Status::nodata, {}, ""};
    }
    boost::asio::awaitable<dns::AddressAnswer> a(std::string n) override { co_return find(a_, n); }
    boost::asio::awaitable<dns::AddressAnswer> aaaa(std::string) override {
        co_return dns::AddressAnswer{dns::Status::nodata, {}, ""};
    }
    boost::asio::awaitable<dns::TextAnswer> txt(std::string n) override { co_return find(txt_, n); }
    boost::asio::awaitable<dns::TextAnswer> ptr(std::string) override {
        co_return dns::TextAnswer{dns::Status::nxdomain, {}, ""};
    }

  private:
    static dns::Answer<std::string> find(const std::map<std::string, std::vector<std::string>>& m,
                                         const std::string& n) {
        auto it = m.find(n);
        if (it == m.end()) return {dns::Status::nxdomain, {}, ""};
        return {dns::Status::ok, it->second, ""};
    }
};

// A typical record: own networks, an ESP by include, then -all; the client matches the include.
void BM_SpfCheck(benchmark::State& st) {
    CachedDns d;
    d.txt_["example.com"] = {"v=spf1 ip4:198.51.100.0/24 include:_spf.esp.example -all",
                             "google-site-verification=abc"};
    d.txt_["_spf.esp.example"] = {"v=spf1 ip4:203.0.113.0/24 ip4:192.0.2.0/24 ~all"};
    trust::spf::Evaluator ev(d);
    trust::spf::Request r;
    r.ip = *IpAddress::parse("192.0.2.7");
    r.sender = "news@example.com";
    r.helo = "mta.esp.example";
    boost::asio::io_context io;
    for (auto _ : st) {
        trust::spf::Outcome out;
        boost::asio::co_spawn(
            io, [&]() -> boost::asio::awaitable<void> { out = co_await ev.check_mail_from(r); },
            boost::asio::detached);
        io.run();
        io.restart();
        benchmark::DoNotOptimize(out.result);
    }
}
BENCHMARK(BM_SpfCheck);

struct DkimKeys {
    trust::dkim::GeneratedKey rsa = trust::dkim::generate_key(trust::dkim::Algorithm::rsa_sha256);
    trust::dkim::GeneratedKey ed =
        trust::dkim::generate_key(trust::dkim::Algorithm::ed25519_sha256);
    std::vector<trust::dkim::SigningKey> signing;
    DkimKeys() {
        const std::filesystem::path dir = std::filesystem::temp_directory_path();
        for (auto* k : {&rsa, &ed}) {
            const auto path = dir / (k == &rsa ? "bench-rsa.pem" : "bench-ed.pem");
            std::FILE* f = std::fopen(path.c_str(), "w");
            std::fwrite(k->private_pem.data(), 1, k->private_pem.size(), f);
            std::fclose(f);
            std::string err;
            signing.push_back(*trust::dkim::load_signing_key(path, "example.com",
                                                             k == &rsa ? "rsa" : "ed", &err));
            std::filesystem::remove(path);
        }
    }
    static const DkimKeys& get() {
        static const DkimKeys keys;
        return keys;
    }
};

// The DKIM-Signature fields for `m` by both keys (relaxed/relaxed), body hashed once.
std::string dual_sign(const std::string& m) {
    const auto& keys = DkimKeys::get();
    const std::size_t end = m.find("\r\n\r\n") + 4;
    trust::dkim::BodyHasher h(trust::dkim::Canon::relaxed, trust::dkim::Hash::sha256);
    h.update(std::string_view(m).substr(end));
    const std::string bh = h.finish();
    std::string fields;
    for (const auto& k : keys.signing)
        fields += trust::dkim::sign(k, std::string_view(m).substr(0, end), bh);
    return fields;
}

// Signing our own outbound message with rsa-sha256 and ed25519-sha256 side by side.
void BM_DkimSignDual(benchmark::State& st) {
    const std::string m = message_of(static_cast<std::size_t>(st.range(0)));
    DkimKeys::get();
    for (auto _ : st) benchmark::DoNotOptimize(dual_sign(m));
    st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * m.size()));
}
BENCHMARK(BM_DkimSignDual)->Arg(1024)->Arg(64 * 1024);

// What the verify stage does per inbound message: DKIM (both signatures, keys from memory),
// then DMARC (record from memory, the organizational domain by the Public Suffix List).
void BM_DkimDmarcVerify(benchmark::State& st) {
    const std::string m = message_of(static_cast<std::size_t>(st.range(0)));
    const std::string signed_m = dual_sign(m) + m;
    const auto& keys = DkimKeys::get();
    const std::size_t end = signed_m.find("\r\n\r\n") + 4;
    using V = trust::dkim::Verifier;
    const auto dmarc = *trust::dmarc::parse_record("v=DMARC1; p=reject");
    for (auto _ : st) {
        V v(std::string_view(signed_m).substr(0, end));
        v.body(std::string_view(signed_m).substr(end));
        v.finish_body();
        for (std::size_t i = 0; i < v.key_queries().size(); ++i) {
            const bool rsa = v.key_queries()[i].name.starts_with("rsa.");
            v.key_answer(i, {V::KeyAnswer::Status::ok, {rsa ? keys.rsa.dns_txt : keys.ed.dns_txt}});
        }
        trust::dmarc::Inputs in;
        in.from_domain = "example.com";
        for (const auto& r : v.results())
            if (r.result == trust::dkim::Result::pass) in.dkim_domains.push_back(r.domain);
        benchmark::DoNotOptimize(trust::dmarc::evaluate(dmarc, in));
    }
    st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * signed_m.size()));
}
BENCHMARK(BM_DkimDmarcVerify)->Arg(1024)->Arg(64 * 1024);

}  // namespace

BENCHMARK_MAIN();
