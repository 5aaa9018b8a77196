#include "common/log.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

namespace sluice::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::atomic<Format> g_format{Format::logfmt};
std::mutex g_mutex;
std::shared_ptr<spdlog::logger> g_logger;

std::shared_ptr<spdlog::logger> logger() {
    std::lock_guard lock(g_mutex);
    if (!g_logger) {
        g_logger = std::make_shared<spdlog::logger>(
            "sluice", std::make_shared<spdlog::sinks::stderr_sink_mt>());
        g_logger->set_pattern("%v");
        g_logger->set_level(spdlog::level::trace);  // filtering is ours (enabled())
        g_logger->flush_on(spdlog::level::trace);  // before init(): tools and tests, unbuffered
    }
    return g_logger;
}

std::string_view level_name(Level l) {
    switch (l) {
        case Level::debug: return "debug";
        case Level::info: return "info";
        case Level::warn: return "warn";
        case Level::error: return "error";
        case Level::off: return "off";
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
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
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
    if (file.empty())
        l = std::make_shared<spdlog::logger>("sluice",
                                             std::make_shared<spdlog::sinks::stderr_sink_mt>());
    else
        l = std::make_shared<spdlog::logger>(
            "sluice", std::make_shared<spdlog::sinks::basic_file_sink_mt>(file));
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);  // filtering is ours (enabled())
    // Warnings and errors reach the disk at once; routine lines are flushed every second, so a
    // busy server does not pay a write() per line (up to 5 per message). A crash can cut off at
    // most the last second of info lines, never an error.
    l->flush_on(spdlog::level::warn);
    spdlog::drop("sluice");
    spdlog::register_logger(l);
    spdlog::flush_every(std::chrono::seconds(1));
    std::lock_guard lock(g_mutex);
    g_logger = std::move(l);
}

bool enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }

std::string format_line(Format format, Level level, std::string_view event,
                        std::initializer_list<Field> fields, std::string_view timestamp) {
    std::string out;
    out.reserve(128);
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
    return out;
}

void event(Level level, std::string_view ev, std::initializer_list<Field> fields) {
    if (!enabled(level)) return;
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    std::string ts = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z",
                                 fmt::gmtime(std::chrono::system_clock::to_time_t(now)),
                                 static_cast<int>(ms.count()));
    std::string line = format_line(g_format.load(std::memory_order_relaxed), level, ev, fields, ts);
    static constexpr spdlog::level::level_enum kSpd[] = {spdlog::level::debug, spdlog::level::info,
                                                        spdlog::level::warn, spdlog::level::err,
                                                        spdlog::level::off};
    logger()->log(kSpd[static_cast<int>(level)], line);
}

}  // namespace sluice::log
