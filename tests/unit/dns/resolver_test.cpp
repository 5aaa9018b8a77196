// resolver_test.cpp: the libunbound resolver (dns/resolver.hpp) against a scripted DNS server on
// 127.0.0.1 in this process (UDP; it answers from a table, answers NXDOMAIN for unknown names,
// and stays silent for "slow.test"): MX and A answers decoded, NXDOMAIN permanent, a name
// without the record type "nodata", and a server that never answers a temporary failure after
// the configured timeout, without blocking the event loop meanwhile.
#include "dns/resolver.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace sluice::dns {
namespace {
namespace asio = boost::asio;
using udp = asio::ip::udp;

constexpr std::uint16_t kA = 1, kMx = 15;

void put16(std::string& out, unsigned v) {
    out.push_back(static_cast<char>((v >> 8) & 0xff));
    out.push_back(static_cast<char>(v & 0xff));
}

void put_name(std::string& out, const std::string& name) {
    std::size_t start = 0;
    while (start < name.size()) {
        auto dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        out.push_back(static_cast<char>(dot - start));
        out.append(name, start, dot - start);
        start = dot + 1;
    }
    out.push_back('\0');
}

struct Record {
    std::uint16_t type;
    std::string rdata;
};

// The DNS server: one thread, one UDP socket, answers built by hand (RFC 1035 4.1).
class FakeDns {
  public:
    std::multimap<std::pair<std::string, std::uint16_t>, Record> records;
    std::vector<std::string> names;  // names that exist (any type)
    std::atomic<int> queries{0};

    FakeDns() : socket_(io_, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
    ~FakeDns() {
        io_.stop();
        if (thread_.joinable()) thread_.join();
    }
    std::uint16_t port() const { return socket_.local_endpoint().port(); }
    void start() {
        receive();
        thread_ = std::thread([this] { io_.run(); });
    }

    void mx(const std::string& name, unsigned pref, const std::string& host) {
        std::string rd;
        put16(rd, pref);
        put_name(rd, host);
        records.insert({{name, kMx}, {kMx, rd}});
        names.push_back(name);
    }
    void a(const std::string& name, unsigned char a, unsigned char b, unsigned char c,
           unsigned char d) {
        records.insert({{name, kA}, {kA, std::string{char(a), char(b), char(c), char(d)}}});
        names.push_back(name);
    }

  private:
    void receive() {
        socket_.async_receive_from(asio::buffer(buf_), peer_, [this](auto ec, std::size_t n) {
            if (!ec) answer(std::string(buf_.data(), n));
            receive();
        });
    }
    void answer(const std::string& q) {
        ++queries;
        if (q.size() < 17) return;
        // The question: labels from offset 12, then type and class.
        std::string name;
        std::size_t p = 12;
        while (p < q.size() && q[p] != 0) {
            const std::size_t len = static_cast<unsigned char>(q[p]);
            if (!name.empty()) name += '.';
            for (std::size_t i = 1; i <= len && p + i < q.size(); ++i)
                name += static_cast<char>(std::tolower(static_cast<unsigned char>(q[p + i])));
            p += len + 1;
        }
        if (p + 5 > q.size()) return;
        const std::uint16_t type = static_cast<std::uint16_t>(
            (static_cast<unsigned char>(q[p + 1]) << 8) | static_cast<unsigned char>(q[p + 2]));
        const std::size_t question_end = p + 5;
        if (name == "slow.test") return;  // never answered
        const bool exists = std::find(names.begin(), names.end(), name) != names.end();
        auto [lo, hi] = records.equal_range({name, type});
        std::string r = q.substr(0, 2);                          // id
        put16(r, 0x8180 | (exists ? 0 : 3));                     // QR RD RA, NOERROR/NXDOMAIN
        put16(r, 1);                                             // one question
        put16(r, static_cast<unsigned>(std::distance(lo, hi)));  // answers
        put16(r, 0);
        put16(r, 0);
        r += q.substr(12, question_end - 12);
        for (auto it = lo; it != hi; ++it) {
            put16(r, 0xc00c);  // the question's name
            put16(r, it->second.type);
            put16(r, 1);  // IN
            put16(r, 0);
            put16(r, 60);  // TTL
            put16(r, static_cast<unsigned>(it->second.rdata.size()));
            r += it->second.rdata;
        }
        socket_.send_to(asio::buffer(r), peer_);
    }

    asio::io_context io_;
    udp::socket socket_;
    udp::endpoint peer_;
    std::array<char, 4096> buf_{};
    std::thread thread_;
};

struct Fixture {
    FakeDns dns;
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    std::unique_ptr<Resolver> resolver;
    std::thread loop;

    Fixture() {
        dns.mx("mail.test", 10, "mx1.mail.test");
        dns.mx("mail.test", 20, "mx2.mail.test");
        dns.a("mx1.mail.test", 127, 0, 0, 9);
        dns.names.push_back("nomx.test");  // exists, no MX
        dns.start();
        Resolver::Options o;
        o.forwarders = {"127.0.0.1@" + std::to_string(dns.port())};
        o.timeout = std::chrono::milliseconds(700);
        resolver = std::make_unique<Resolver>(io, o);
        loop = std::thread([this] { io.run(); });
    }
    ~Fixture() {
        resolver.reset();
        work.reset();
        io.stop();
        loop.join();
    }
    template <class T>
    T get(asio::awaitable<T> a) {
        return asio::co_spawn(io, std::move(a), asio::use_future).get();
    }
};

TEST(Resolver, DecodesMxAndAAnswers) {
    Fixture f;
    auto mx = f.get(f.resolver->mx("mail.test"));
    ASSERT_EQ(mx.status, Status::ok) << mx.error;
    ASSERT_EQ(mx.records.size(), 2u);
    std::sort(mx.records.begin(), mx.records.end(),
              [](auto& a, auto& b) { return a.preference < b.preference; });
    EXPECT_EQ(mx.records[0], (MxRecord{10, "mx1.mail.test"}));
    EXPECT_EQ(mx.records[1], (MxRecord{20, "mx2.mail.test"}));
    auto a = f.get(f.resolver->a("mx1.mail.test"));
    ASSERT_EQ(a.status, Status::ok) << a.error;
    EXPECT_EQ(a.records, std::vector<std::string>{"127.0.0.9"});
}

TEST(Resolver, NxdomainAndNodataAreTold) {
    Fixture f;
    EXPECT_EQ(f.get(f.resolver->mx("gone.test")).status, Status::nxdomain);
    EXPECT_EQ(f.get(f.resolver->mx("nomx.test")).status, Status::nodata);
}

TEST(Resolver, ASilentServerIsATemporaryFailureAndTheLoopStaysFree) {
    Fixture f;
    // While the lookup waits, the event loop keeps running other work.
    std::atomic<int> ticks{0};
    asio::steady_timer t(f.io);
    std::function<void()> tick = [&] {
        t.expires_after(std::chrono::milliseconds(20));
        t.async_wait([&](auto ec) {
            if (ec) return;
            ++ticks;
            tick();
        });
    };
    asio::post(f.io, tick);
    const auto start = std::chrono::steady_clock::now();
    auto mx = f.get(f.resolver->mx("slow.test"));
    EXPECT_EQ(mx.status, Status::temp_fail);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(600));
    EXPECT_GE(ticks.load(), 5);
    asio::post(f.io, [&] { t.cancel(); });
}

}  // namespace
}  // namespace sluice::dns
