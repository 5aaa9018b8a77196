// log.hpp: structured event logging, one line per event, as logfmt or JSON.
//
// Every line carries ts, level and event, then the event's fields in the order given. Values are
// escaped for the chosen format, so client-supplied strings (HELO names, addresses) can never forge
// a field or break a line. Backed by spdlog (thread-safe sink on stderr or a file). The file is
// created mode 0640 and can be reopened at its path while other threads log (SIGHUP, logrotate).
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace sluice::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };
enum class Format { logfmt, json };

struct Field {
    using Value = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;
    std::string_view key;
    Value value;

    Field() : value(std::string_view()) {}
    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
    Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
    Field(std::string_view k, int v) : key(k), value(static_cast<std::int64_t>(v)) {}
    Field(std::string_view k, long v) : key(k), value(static_cast<std::int64_t>(v)) {}
    Field(std::string_view k, long long v) : key(k), value(static_cast<std::int64_t>(v)) {}
    Field(std::string_view k, unsigned v) : key(k), value(static_cast<std::uint64_t>(v)) {}
    Field(std::string_view k, unsigned long v) : key(k), value(static_cast<std::uint64_t>(v)) {}
    Field(std::string_view k, unsigned long long v)
        : key(k), value(static_cast<std::uint64_t>(v)) {}
    Field(std::string_view k, double v) : key(k), value(v) {}
    Field(std::string_view k, bool v) : key(k), value(v) {}
};

// Configure the global logger. file empty = stderr. Safe to call again (e.g. on reload). A new
// file is created mode 0640 (its directories as needed); throws if it cannot be opened.
void init(Level level, Format format, const std::string& file = {});

// Reopens the log file at its path (after logrotate renamed it): later lines go to a new file, and
// no line is split between the two. Safe while other threads log; nothing when logging to stderr.
// When the file cannot be opened, the old one stays in use, an error line says why, and false is
// returned.
bool reopen();

// Gives the open log file to the user the server is about to become (root drops privileges after
// opening it), so that it stays that user's file. Nothing when logging to stderr. False (errno set)
// when fchown fails.
bool chown_file(unsigned uid, unsigned gid);

bool enabled(Level level);

// Formats one line (without trailing newline); exposed for tests.
std::string format_line(Format format, Level level, std::string_view event,
                        std::initializer_list<Field> fields, std::string_view timestamp);

// "2026-11-28T23:38:41.010Z" (UTC, milliseconds): the ts of every line.
std::string timestamp(std::chrono::system_clock::time_point t);

void event(Level level, std::string_view event, std::initializer_list<Field> fields);
// The same with fields chosen at run time (a line whose optional fields are left out).
void event(Level level, std::string_view event, std::span<const Field> fields);

inline void debug(std::string_view ev, std::initializer_list<Field> f = {}) {
    event(Level::debug, ev, f);
}
inline void info(std::string_view ev, std::initializer_list<Field> f = {}) {
    event(Level::info, ev, f);
}
inline void warn(std::string_view ev, std::initializer_list<Field> f = {}) {
    event(Level::warn, ev, f);
}
inline void error(std::string_view ev, std::initializer_list<Field> f = {}) {
    event(Level::error, ev, f);
}

}  // namespace sluice::log
