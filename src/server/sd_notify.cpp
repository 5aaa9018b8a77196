// sd_notify.cpp: see sd_notify.hpp.
#include "server/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <system_error>

#include "common/log.hpp"

namespace sluice::server {

bool sd_notify(std::string_view state) {
    const char* env = std::getenv("NOTIFY_SOCKET");  // NOLINT(concurrency-mt-unsafe): never set
    if (env == nullptr || *env == '\0') return false;
    const std::string_view name(env);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // "vsock:..." (systemd 253+, for virtual machines) and anything else: not ours to guess.
    if ((name[0] != '/' && name[0] != '@') || name.size() >= sizeof(addr.sun_path)) {
        log::warn("sd_notify_failed", {{"socket", name}, {"error", "unsupported address"}});
        return false;
    }
    std::memcpy(addr.sun_path, name.data(), name.size());
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    if (name[0] == '@')
        addr.sun_path[0] = '\0';  // abstract: the name is the bytes after the NUL, no terminator
    else
        len += 1;  // a path: include its terminating NUL, as systemd does

    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ssize_t sent = -1;
    if (fd >= 0) {
        sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                        reinterpret_cast<const sockaddr*>(&addr), len);
    }
    const int err = errno;
    if (fd >= 0) ::close(fd);
    if (sent != static_cast<ssize_t>(state.size())) {
        log::warn("sd_notify_failed",
                  {{"socket", name}, {"error", std::generic_category().message(err)}});
        return false;
    }
    return true;
}

std::string sd_reloading_state() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL +
                      static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
    return fmt::format("RELOADING=1\nMONOTONIC_USEC={}", usec);
}

}  // namespace sluice::server
