#include "common/log.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

namespace sluice::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::atomic<Format> g_format{Format::logfmt};
std::mutex g_mutex;
std::shared_ptr<spdlog::logger> g_logger;
// Bumped by init(): each thread keeps the logger it last used and takes g_mutex only to pick up a
// new one, not for every line (a busy server writes four lines per message from several threads).
std::atomic<std::uint64_t> g_generation{1};

// Opens the log file for appending; a file it creates gets mode 0640 whatever the umask.
std::FILE* open_log_file(const std::string& path) {
    std::error_code ec;
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);  // open() reports it
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd >= 0)
        (void)::fchmod(fd, 0640);
    else if (errno == EEXIST)
        fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0)
        throw std::runtime_error("cannot open log file " + path + ": " + std::strerror(errno));
    std::FILE* f = ::fdopen(fd, "a");
    if (f == nullptr) {
        const int e = errno;
        ::close(fd);
        throw std::runtime_error("cannot open log file " + path + ": " + std::strerror(e));
    }
    return f;
}

// The file sink: stdio-buffered like spdlog's basic_file_sink (flushed every second and at each
// warning), but its FILE can be swapped for a new one at the same path. Every line is written
// under the sink's mutex, and so is the swap: a line goes wholly to the old file or to the new.
class ReopenableFileSink final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    explicit ReopenableFileSink(std::string path)
        : path_(std::move(path)), file_(open_log_file(path_)) {}
    ~ReopenableFileSink() override { std::fclose(file_); }
    ReopenableFileSink(const ReopenableFileSink&) = delete;
    ReopenableFileSink& operator=(const ReopenableFileSink&) = delete;

    void reopen() {
        std::FILE* f = open_log_file(path_);  // throws: the old file stays
        std::lock_guard lock(mutex_);
        std::fclose(std::exchange(file_, f));  // (fclose flushes what the old one buffered)
    }
    bool chown(unsigned uid, unsigned gid) {
        std::lock_guard lock(mutex_);
        return ::fchown(::fileno(file_), static_cast<uid_t>(uid), static_cast<gid_t>(gid)) == 0;
    }
    const std::string& path() const { return path_; }

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        spdlog::memory_buf_t buf;
        formatter_->format(msg, buf);
        // A full disk must not stop the server: a line that cannot be written is lost.
        (void)std::fwrite(buf.data(), 1, buf.size(), file_);
    }
    void flush_() override { (void)std::fflush(file_); }

  private:
    const std::string path_;
    std::FILE* file_;
};

std::shared_ptr<ReopenableFileSink> g_file_sink;  // under g_mutex; null when logging to stderr

std::shared_ptr<spdlog::logger> logger() {
    std::lock_guard lock(g_mutex);
    if (!g_logger) {
        g_logger = std::make_shared<spdlog::logger>(
            "sluice", std::make_shared<spdlog::sinks::stderr_sink_mt>());
        g_logger->set_pattern("%v");
        g_logger->set_level(spdlog::level::trace);  // filtering is ours (enabled())
        g_logger->flush_on(spdlog::level::trace);   // before init(): tools and tests, unbuffered
    }
    return g_logger;
}

// What a thread keeps between lines: the logger it last used (see g_generation) and reusable
// buffers, so a line needs neither a lock of ours nor an allocation once they have grown.
struct ThreadState {
    std::shared_ptr<spdlog::logger> logger;
    std::uint64_t seen = 0;
    std::string ts, line;
    ~ThreadState();
};
// Trivially destructible, so still valid while and after the thread's ThreadState is destroyed: a
// line logged then (say, from another thread_local's destructor) takes the slow path.
thread_local bool t_state_gone = false;
ThreadState::~ThreadState() {
    t_state_gone = true;
}

ThreadState* thread_state() {
    if (t_state_gone) return nullptr;
    thread_local ThreadState st;
    return &st;
}

// "2026-11-28T23:38:41.010Z". The part up to the seconds is formatted once a second per thread.
void append_timestamp(std::string& out, std::chrono::system_clock::time_point now) {
    using namespace std::chrono;
    thread_local bool have = false;  // (all trivially destructible)
    thread_local std::time_t cached_sec = 0;
    thread_local char prefix[32];
    thread_local std::size_t prefix_len = 0;
    const auto secs = floor<seconds>(now.time_since_epoch());  // before 1970 too
    const int ms =
        static_cast<int>(duration_cast<milliseconds>(now.time_since_epoch() - secs).count());
    const auto sec = static_cast<std::time_t>(secs.count());
    if (!have || sec != cached_sec) {
        const auto r =
            fmt::format_to_n(prefix, sizeof prefix, "{:%Y-%m-%dT%H:%M:%S}", fmt::gmtime(sec));
        prefix_len = std::min(r.size, sizeof prefix);
        cached_sec = sec;
        have = true;
    }
    out.append(prefix, prefix_len);
    const char tail[] = {'.', static_cast<char>('0' + ms / 100),
                         static_cast<char>('0' + ms / 10 % 10), static_cast<char>('0' + ms % 10),
                         'Z'};
    out.append(tail, sizeof tail);
}

std::string_view level_name(Level l) {
    switch (l) {
        case Level::debug:
            return "debug";
        case Level::info:
            return "info";
        case Level::warn:
            return "warn";
        case Level::error:
            return "error";
        case Level::off:
            return "off";
    }
    return "info";
}

bool logfmt_needs_quotes(std::string_view s) {
    if (s.empty()) return true;
    for (unsigned char c : s)
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) return true;
    return false;
}

void append_escaped(std::string& out, std::string_view s) {
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20 || c == 0x7f)
                    fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
                else
                    out += static_cast<char>(c);  // UTF-8 passes through
        }
    }
}

void append_value(std::string& out, Format f, const Field::Value& v) {
    std::visit(
        [&](auto&& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::string_view>) {
                if (f == Format::json || logfmt_needs_quotes(x)) {
                    out += '"';
                    append_escaped(out, x);
                    out += '"';
                } else {
                    out += x;
                }
            } else if constexpr (std::is_same_v<T, bool>) {
                out += x ? "true" : "false";
            } else {
                fmt::format_to(std::back_inserter(out), "{}", x);
            }
        },
        v);
}

}  // namespace

void init(Level level, Format format, const std::string& file) {
    g_level = level;
    g_format = format;
    std::shared_ptr<spdlog::logger> l;
    std::shared_ptr<ReopenableFileSink> file_sink;
    if (file.empty()) {
        l = std::make_shared<spdlog::logger>("sluice",
                                             std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else {
        file_sink = std::make_shared<ReopenableFileSink>(file);
        l = std::make_shared<spdlog::logger>("sluice", file_sink);
    }
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);  // filtering is ours (enabled())
    // Warnings and errors reach the disk at once; routine lines are flushed every second, so a
    // busy server does not pay a write() per line (up to 5 per message). A crash can cut off at
    // most the last second of info lines, never an error.
    l->flush_on(spdlog::level::warn);
    spdlog::drop("sluice");
    spdlog::register_logger(l);
    spdlog::flush_every(std::chrono::seconds(1));
    std::shared_ptr<spdlog::logger> old;
    {
        std::lock_guard lock(g_mutex);
        old = std::exchange(g_logger, std::move(l));
        g_file_sink = std::move(file_sink);
        g_generation.fetch_add(1, std::memory_order_acq_rel);
    }
    // Threads still holding the old logger drop it at their next line; what it buffered so far
    // is written now (the rest when the last holder lets go).
    if (old) old->flush();
}

bool reopen() {
    std::shared_ptr<ReopenableFileSink> sink;
    {
        std::lock_guard lock(g_mutex);
        sink = g_file_sink;
    }
    if (!sink) return true;
    try {
        sink->reopen();
    } catch (const std::exception& e) {
        error("log_reopen_failed", {{"file", sink->path()}, {"error", e.what()}});
        return false;
    }
    info("log_reopened", {{"file", sink->path()}});
    return true;
}

bool chown_file(unsigned uid, unsigned gid) {
    std::shared_ptr<ReopenableFileSink> sink;
    {
        std::lock_guard lock(g_mutex);
        sink = g_file_sink;
    }
    return !sink || sink->chown(uid, gid);
}

bool enabled(Level level) {
    return level >= g_level.load(std::memory_order_relaxed);
}

namespace {

void format_into(std::string& out, Format format, Level level, std::string_view event,
                 std::span<const Field> fields, std::string_view timestamp) {
    if (format == Format::json) {
        out += "{\"ts\":\"";
        out += timestamp;
        out += "\",\"level\":\"";
        out += level_name(level);
        out += "\",\"event\":";
        append_value(out, format, event);
        for (const auto& f : fields) {
            out += ",\"";
            append_escaped(out, f.key);
            out += "\":";
            append_value(out, format, f.value);
        }
        out += '}';
    } else {
        out += "ts=";
        out += timestamp;
        out += " level=";
        out += level_name(level);
        out += " event=";
        append_value(out, format, event);
        for (const auto& f : fields) {
            out += ' ';
            out += f.key;
            out += '=';
            append_value(out, format, f.value);
        }
    }
}

}  // namespace

std::string format_line(Format format, Level level, std::string_view event,
                        std::initializer_list<Field> fields, std::string_view timestamp) {
    std::string out;
    out.reserve(128);
    format_into(out, format, level, event, std::span<const Field>(fields.begin(), fields.size()),
                timestamp);
    return out;
}

std::string timestamp(std::chrono::system_clock::time_point t) {
    std::string out;
    append_timestamp(out, t);
    return out;
}

void event(Level level, std::string_view ev, std::initializer_list<Field> fields) {
    event(level, ev, std::span<const Field>(fields.begin(), fields.size()));
}

void event(Level level, std::string_view ev, std::span<const Field> fields) {
    if (!enabled(level)) return;
    ThreadState* st = thread_state();
    std::optional<ThreadState> fallback;  // only once this thread's state is gone
    ThreadState& t = st ? *st : fallback.emplace();
    const std::uint64_t gen = g_generation.load(std::memory_order_acquire);
    if (t.seen != gen || !t.logger) {
        t.logger = logger();
        t.seen = gen;
    }
    t.ts.clear();
    append_timestamp(t.ts, std::chrono::system_clock::now());
    t.line.clear();
    format_into(t.line, g_format.load(std::memory_order_relaxed), level, ev, fields, t.ts);
    static constexpr spdlog::level::level_enum kSpd[] = {spdlog::level::debug, spdlog::level::info,
                                                         spdlog::level::warn, spdlog::level::err,
                                                         spdlog::level::off};
    t.logger->log(kSpd[static_cast<int>(level)], spdlog::string_view_t(t.line));
}

}  // namespace sluice::log
