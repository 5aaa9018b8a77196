// resolver.cpp: libunbound driven from the Asio event loop (see resolver.hpp).
#include "dns/resolver.hpp"

#include <fmt/format.h>
#include <unbound.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/log.hpp"

namespace sluice::dns {
namespace asio = boost::asio;

namespace {

constexpr int kTypeA = 1;
constexpr int kTypePtr = 12;
constexpr int kTypeMx = 15;
constexpr int kTypeTxt = 16;
constexpr int kTypeAaaa = 28;
constexpr int kClassIn = 1;
constexpr int kRcodeNxdomain = 3;

// libunbound's own messages. It prints them ("[1700000000] libunbound[123:0] error: ...") to a
// FILE*, stderr unless told otherwise, and that target is process-wide. Ours is a stdio stream
// whose writes become `unbound` events of our log (level from unbound's, text in `message`), so
// they reach [log] file in its format instead of a bare stderr. Made once and never closed: the
// resolver thread may write to it until the process ends (ub_ctx_delete only lets go of it).
// libunbound writes a message and flushes it under its own lock; stdio calls write_to_log under the
// stream's lock, so the partial-line buffer needs no lock of ours.
struct UnboundLog {
    std::string partial;

    static void emit(std::string_view line) {
        // "[time] ident[pid:thread] level: text"; anything else is passed on whole.
        auto level = log::Level::warn;
        std::string_view text = line;
        if (auto a = line.find("] "); !line.empty() && line.front() == '[' && a != line.npos) {
            std::string_view rest = line.substr(a + 2);
            if (auto b = rest.find("] "); b != rest.npos) {
                rest = rest.substr(b + 2);
                if (auto c = rest.find(": "); c != rest.npos) {
                    const std::string_view name = rest.substr(0, c);
                    text = rest.substr(c + 2);
                    level = name == "error"                      ? log::Level::error
                            : name == "warning"                  ? log::Level::warn
                            : name == "notice" || name == "info" ? log::Level::info
                                                                 : log::Level::debug;
                }
            }
        }
        log::event(level, "unbound", {{"message", text}});
    }

    static ssize_t write(void* cookie, const char* buf, std::size_t size) {
        auto& self = *static_cast<UnboundLog*>(cookie);
        self.partial.append(buf, size);
        std::size_t nl;
        while ((nl = self.partial.find('\n')) != std::string::npos) {
            emit(std::string_view(self.partial).substr(0, nl));
            self.partial.erase(0, nl + 1);
        }
        if (self.partial.size() > 4096) {  // no newline in sight: do not grow without bound
            emit(self.partial);
            self.partial.clear();
        }
        return static_cast<ssize_t>(size);
    }

    static std::FILE* stream() {
        static std::FILE* const f = [] {
            static UnboundLog state;
            cookie_io_functions_t io{};
            io.write = &UnboundLog::write;
            std::FILE* out = ::fopencookie(&state, "w", io);
            if (out) std::setvbuf(out, nullptr, _IOLBF, 0);
            return out;
        }();
        return f;
    }
};

// What a libunbound callback reports, copied out of its ub_result.
struct RawResult {
    int err = 0;  // libunbound error (ub_strerror), 0 if the query ran
    int rcode = 0;
    bool havedata = false;
    bool nxdomain = false;
    bool bogus = false;
    bool timed_out = false;
    std::vector<std::string> data;
    std::string why_bogus;
};

template <class T>
Answer<T> classify(const RawResult& r, std::string_view name) {
    Answer<T> out;
    if (r.timed_out) {
        out.status = Status::temp_fail;
        out.error = "DNS query timed out";
    } else if (r.err != 0) {
        out.status = Status::temp_fail;
        out.error = fmt::format("resolver error: {}", ub_strerror(r.err));
    } else if (r.bogus) {
        out.status = Status::temp_fail;
        out.error = fmt::format("DNSSEC validation failed: {}", r.why_bogus);
    } else if (r.nxdomain || r.rcode == kRcodeNxdomain) {
        out.status = Status::nxdomain;
        out.error = fmt::format("{}: no such domain (NXDOMAIN)", name);
    } else if (r.rcode != 0) {
        out.status = Status::temp_fail;
        out.error = fmt::format("{}: DNS server failure (rcode {})", name, r.rcode);
    } else if (!r.havedata) {
        out.status = Status::nodata;
    } else {
        out.status = Status::ok;
    }
    return out;
}

}  // namespace

// A completion handler of any type, erased (Boost 1.81's any_completion_handler recurses when
// built from itself, so it is not used here).
struct HandlerBase {
    virtual ~HandlerBase() = default;
    // Runs the handler on its own executor (the awaiting coroutine's), never inline.
    virtual void complete(RawResult r) = 0;
};

template <class H>
struct HandlerImpl final : HandlerBase {
    H h;
    explicit HandlerImpl(H&& x) : h(std::move(x)) {}
    void complete(RawResult r) override {
        auto ex = asio::get_associated_executor(h);
        asio::post(ex,
                   [h = std::move(h), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
    }
};

struct Resolver::Impl : std::enable_shared_from_this<Impl> {
    using Handler = std::unique_ptr<HandlerBase>;
    struct Pending {
        Handler handler;
        asio::steady_timer timer;
        int async_id = 0;
        explicit Pending(asio::strand<asio::io_context::executor_type>& s) : timer(s) {}
    };

    asio::io_context& io;
    asio::strand<asio::io_context::executor_type> strand;
    Options opts;
    ub_ctx* ctx = nullptr;
    asio::posix::stream_descriptor fd;
    bool reading = false;
    std::map<Pending*, std::shared_ptr<Pending>> pending;

    Impl(asio::io_context& io_, Options o)
        : io(io_), strand(asio::make_strand(io_)), opts(std::move(o)), fd(strand) {
        ctx = ub_ctx_create();
        if (!ctx) throw std::runtime_error("dns: cannot create libunbound context");
        auto check = [&](int r, std::string_view what) {
            if (r != 0) {
                std::string msg = fmt::format("dns: {}: {}", what, ub_strerror(r));
                ub_ctx_delete(ctx);
                ctx = nullptr;
                throw std::runtime_error(msg);
            }
        };
        if (std::FILE* out = UnboundLog::stream()) check(ub_ctx_debugout(ctx, out), "debugout");
        check(ub_ctx_async(ctx, 1), "cannot start the resolver thread");
        if (!opts.forwarders.empty()) {
            // Test and site resolvers often live on loopback, which unbound refuses by default.
            check(ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"),
                  "do-not-query-localhost");
            // unbound answers the special-use "test." (RFC 6761) itself with NXDOMAIN; a site that
            // names its own resolver may use such names (our test suite does), so ask it.
            check(ub_ctx_set_option(ctx, "local-zone:", "test. transparent"), "local-zone");
            for (const auto& f : opts.forwarders)
                check(ub_ctx_set_fwd(ctx, f.c_str()), fmt::format("forwarder {}", f));
        } else {
            // Without resolv.conf unbound resolves from the root itself.
            (void)ub_ctx_resolvconf(ctx, nullptr);
        }
        if (!opts.trust_anchor_file.empty())
            check(ub_ctx_add_ta_file(ctx, opts.trust_anchor_file.c_str()), "trust anchor file");
        fd.assign(ub_fd(ctx));
    }

    ~Impl() {
        boost::system::error_code ec;
        fd.cancel(ec);
        (void)fd.release();  // the descriptor belongs to libunbound
        if (ctx) ub_ctx_delete(ctx);
    }

    static void on_result(void* mydata, int err, ub_result* result) {
        auto* p = static_cast<Pending*>(mydata);
        RawResult r;
        r.err = err;
        if (result) {
            r.rcode = result->rcode;
            r.havedata = result->havedata != 0;
            r.nxdomain = result->nxdomain != 0;
            r.bogus = result->bogus != 0;
            if (result->why_bogus) r.why_bogus = result->why_bogus;
            for (int i = 0; result->data && result->data[i]; ++i)
                r.data.emplace_back(result->data[i], static_cast<std::size_t>(result->len[i]));
            ub_resolve_free(result);
        }
        // Runs inside ub_process() on the strand; the Impl is reached through the Pending.
        current->finish(p, std::move(r));
    }

    // ub_process() calls on_result(), which has no Impl argument of its own.
    static thread_local Impl* current;

    void finish(Pending* p, RawResult r) {
        auto it = pending.find(p);
        if (it == pending.end()) return;
        auto keep = it->second;
        pending.erase(it);
        keep->timer.cancel();
        Handler h = std::move(keep->handler);
        h->complete(std::move(r));
    }

    void arm() {
        if (reading || pending.empty()) return;
        reading = true;
        fd.async_wait(asio::posix::stream_descriptor::wait_read,
                      asio::bind_executor(
                          strand, [self = shared_from_this()](const boost::system::error_code& ec) {
                              self->reading = false;
                              if (ec) return;
                              current = self.get();
                              ub_process(self->ctx);
                              current = nullptr;
                              self->arm();
                          }));
    }

    void start(const std::string& name, int type, Handler h) {
        auto p = std::make_shared<Pending>(strand);
        p->handler = std::move(h);
        pending.emplace(p.get(), p);
        int r =
            ub_resolve_async(ctx, name.c_str(), type, kClassIn, p.get(), &on_result, &p->async_id);
        if (r != 0) {
            RawResult rr;
            rr.err = r;
            finish(p.get(), std::move(rr));
            return;
        }
        p->timer.expires_after(opts.timeout);
        p->timer.async_wait(asio::bind_executor(
            strand, [self = shared_from_this(),
                     w = std::weak_ptr<Pending>(p)](const boost::system::error_code& ec) {
                auto p = w.lock();
                if (ec || !p || !self->pending.count(p.get())) return;
                ub_cancel(self->ctx, p->async_id);
                RawResult rr;
                rr.timed_out = true;
                self->finish(p.get(), std::move(rr));
            }));
        arm();
    }

    // Plain function, not a coroutine: GCC 12 mishandles lambda temporaries inside co_await.
    struct Initiate {
        std::shared_ptr<Impl> self;
        template <class H>
        void operator()(H&& handler, std::string name, int type) const {
            Handler h = std::make_unique<HandlerImpl<std::decay_t<H>>>(std::forward<H>(handler));
            asio::dispatch(self->strand,
                           [self = self, name = std::move(name), type, h = std::move(h)]() mutable {
                               self->start(name, type, std::move(h));
                           });
        }
    };

    asio::awaitable<RawResult> query(std::string name, int type) {
        return asio::async_initiate<decltype(asio::use_awaitable), void(RawResult)>(
            Initiate{shared_from_this()}, asio::use_awaitable, std::move(name), type);
    }
};

thread_local Resolver::Impl* Resolver::Impl::current = nullptr;

Resolver::Resolver(asio::io_context& io, Options opts)
    : impl_(std::make_shared<Impl>(io, std::move(opts))) {}

Resolver::~Resolver() {
    // Pending lookups hold the Impl; cancel the descriptor wait so it can go.
    asio::dispatch(impl_->strand, [impl = impl_] {
        boost::system::error_code ec;
        impl->fd.cancel(ec);
    });
}

asio::awaitable<MxAnswer> Resolver::mx(std::string domain) {
    RawResult r = co_await impl_->query(domain, kTypeMx);
    MxAnswer out = classify<MxRecord>(r, domain);
    if (out.status == Status::ok) {
        for (const auto& d : r.data)
            if (auto mx = decode_mx(d)) out.records.push_back(std::move(*mx));
        if (out.records.empty()) {
            out.status = Status::temp_fail;
            out.error = fmt::format("{}: undecodable MX records", domain);
        }
    }
    co_return out;
}

asio::awaitable<AddressAnswer> Resolver::a(std::string host) {
    RawResult r = co_await impl_->query(host, kTypeA);
    AddressAnswer out = classify<std::string>(r, host);
    for (const auto& d : r.data)
        if (auto ip = decode_address(d); ip && d.size() == 4) out.records.push_back(*ip);
    if (out.status == Status::ok && out.records.empty()) out.status = Status::nodata;
    co_return out;
}

asio::awaitable<AddressAnswer> Resolver::aaaa(std::string host) {
    RawResult r = co_await impl_->query(host, kTypeAaaa);
    AddressAnswer out = classify<std::string>(r, host);
    for (const auto& d : r.data)
        if (auto ip = decode_address(d); ip && d.size() == 16) out.records.push_back(*ip);
    if (out.status == Status::ok && out.records.empty()) out.status = Status::nodata;
    co_return out;
}

}  // namespace sluice::dns

namespace sluice::dns {

asio::awaitable<TextAnswer> Resolver::txt(std::string name) {
    RawResult r = co_await impl_->query(name, kTypeTxt);
    TextAnswer out = classify<std::string>(r, name);
    for (const auto& d : r.data)
        if (auto t = decode_txt(d)) out.records.push_back(std::move(*t));
    if (out.status == Status::ok && out.records.empty()) out.status = Status::nodata;
    co_return out;
}

asio::awaitable<TextAnswer> Resolver::ptr(std::string name) {
    RawResult r = co_await impl_->query(name, kTypePtr);
    TextAnswer out = classify<std::string>(r, name);
    for (const auto& d : r.data) {
        std::size_t used = 0;
        if (auto n = decode_name(d, &used); n && used == d.size() && !n->empty())
            out.records.push_back(std::move(*n));
    }
    if (out.status == Status::ok && out.records.empty()) out.status = Status::nodata;
    co_return out;
}

}  // namespace sluice::dns
