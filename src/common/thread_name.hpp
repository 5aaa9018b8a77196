// thread_name.hpp: names the calling thread (as shown by top -H, ps -L and perf), so an operator
// can tell the event loop from the spool and delivery threads.
#pragma once

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "common/log.hpp"

namespace sluice {

// Linux keeps 15 characters; longer names are cut.
inline void set_thread_name(const char* name) {
    char buf[16] = {};
    for (int i = 0; i < 15 && name[i] != '\0'; ++i) buf[i] = name[i];
    ::pthread_setname_np(::pthread_self(), buf);
}

// For background (delivery) threads: names the calling thread and lowers its CPU priority by
// `nice` (0..19), so that under a burst the event loop and the spool get the CPU first and the
// delivery threads catch up in larger, cheaper batches when it is free. A refusal is logged.
inline void become_background_thread(const char* name, int nice) {
    set_thread_name(name);
    if (nice > 0 && ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice) != 0)
        log::warn("delivery_priority",
                  {{"nice", nice}, {"error", std::generic_category().message(errno)}});
}

}  // namespace sluice
