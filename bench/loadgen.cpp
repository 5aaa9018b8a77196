// loadgen.cpp: an SMTP load generator that measures what smtp-source cannot: the latency from the
// end of DATA (the final ".") to the server's reply, per message, as percentiles.
//
// Like smtp-source it waits for each reply (no pipelining), sends the message body and the final
// dot in one write, and can open a new connection per message or reuse one. Prints one JSON line.
// Loopback benchmarking only: it connects where it is told and nowhere else.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 2525;
    int sessions = 50;
    int messages = 1000;
    std::size_t size = 1024;
    int rcpts = 1;
    bool reuse = false;
    std::string from = "bench@loadgen.test";
    std::string to = "user@bench.test";
};

struct Shared {
    Options opt;
    std::string body;
    std::atomic<int> next{0};
    int done = 0;
    int errors = 0;
    std::vector<double> latencies_ms;
};

asio::awaitable<int> read_reply(tcp::socket& s, std::string& buf) {
    // Returns the code of the last line of a (possibly multi-line) reply.
    while (true) {
        std::size_t n = co_await asio::async_read_until(s, asio::dynamic_buffer(buf), "\r\n",
                                                        asio::use_awaitable);
        std::string line = buf.substr(0, n);
        buf.erase(0, n);
        if (line.size() < 4) co_return -1;
        if (line[3] == ' ') co_return std::stoi(line.substr(0, 3));
    }
}

asio::awaitable<void> command(tcp::socket& s, std::string& buf, const std::string& cmd, int want) {
    co_await asio::async_write(s, asio::buffer(cmd), asio::use_awaitable);
    int code = co_await read_reply(s, buf);
    if (code != want) throw std::runtime_error(fmt::format("{} -> {}", cmd.substr(0, 4), code));
}

asio::awaitable<void> session(Shared& sh, int sid) {
    auto ex = co_await asio::this_coro::executor;
    const Options& o = sh.opt;
    tcp::endpoint ep(asio::ip::make_address(o.host), o.port);
    std::unique_ptr<tcp::socket> sock;
    std::string buf;
    while (sh.next.fetch_add(1) < o.messages) {
        try {
            if (!sock) {
                sock = std::make_unique<tcp::socket>(ex);
                co_await sock->async_connect(ep, asio::use_awaitable);
                sock->set_option(tcp::no_delay(true));
                buf.clear();
                if (co_await read_reply(*sock, buf) != 220) throw std::runtime_error("greeting");
                co_await command(*sock, buf, "EHLO loadgen.test\r\n", 250);
            }
            co_await command(*sock, buf, fmt::format("MAIL FROM:<{}>\r\n", o.from), 250);
            for (int r = 0; r < o.rcpts; ++r) {
                std::string to = o.rcpts == 1 ? o.to : fmt::format("{}{}", r + 1, o.to);
                co_await command(*sock, buf, fmt::format("RCPT TO:<{}>\r\n", to), 250);
            }
            co_await command(*sock, buf, "DATA\r\n", 354);
            co_await asio::async_write(*sock, asio::buffer(sh.body), asio::use_awaitable);
            auto t0 = clock_type::now();
            int code = co_await read_reply(*sock, buf);
            double ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
            if (code != 250) throw std::runtime_error(fmt::format("end of data -> {}", code));
            sh.latencies_ms.push_back(ms);
            ++sh.done;
            if (!o.reuse) {
                co_await command(*sock, buf, "QUIT\r\n", 221);
                sock.reset();
            }
        } catch (const std::exception& e) {
            ++sh.errors;
            sock.reset();
        }
    }
    if (sock) {
        try {
            co_await command(*sock, buf, "QUIT\r\n", 221);
        } catch (...) {
        }
    }
}

int main(int argc, char** argv) {
    Shared sh;
    Options& o = sh.opt;
    CLI::App app{"SMTP latency load generator"};
    app.add_option("--host", o.host);
    app.add_option("--port", o.port);
    app.add_option("--sessions", o.sessions);
    app.add_option("--messages", o.messages);
    app.add_option("--size", o.size);
    app.add_option("--rcpts", o.rcpts);
    app.add_flag("--reuse", o.reuse);
    app.add_option("--from", o.from);
    app.add_option("--to", o.to);
    CLI11_PARSE(app, argc, argv);

    sh.body = "From: <" + o.from + ">\r\nTo: <" + o.to + ">\r\nSubject: loadgen\r\n\r\n";
    while (sh.body.size() < o.size) sh.body += std::string(78, 'x') + "\r\n";
    sh.body += ".\r\n";
    sh.latencies_ms.reserve(o.messages);

    asio::io_context io(1);
    auto start = clock_type::now();
    for (int i = 0; i < o.sessions; ++i) asio::co_spawn(io, session(sh, i), asio::detached);
    io.run();
    double secs = std::chrono::duration<double>(clock_type::now() - start).count();
    auto& l = sh.latencies_ms;
    std::sort(l.begin(), l.end());
    auto pct = [&](double p) {
        return l.empty() ? 0.0 : l[std::min(l.size() - 1, std::size_t(p * l.size()))];
    };
    fmt::print(
        "{{\"messages\": {}, \"errors\": {}, \"seconds\": {:.3f}, \"rate\": {:.1f}, "
        "\"p50_ms\": {:.3f}, \"p99_ms\": {:.3f}, \"max_ms\": {:.3f}}}\n",
        sh.done, sh.errors, secs, sh.done / secs, pct(0.5), pct(0.99), l.empty() ? 0.0 : l.back());
    return sh.errors ? 1 : 0;
}
