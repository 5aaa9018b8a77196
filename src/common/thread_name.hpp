// thread_name.hpp: names the calling thread (as shown by top -H, ps -L and perf), so an operator
// can tell the event loop from the spool and delivery threads.
#pragma once

#include <pthread.h>

namespace sluice {

// Linux keeps 15 characters; longer names are cut.
inline void set_thread_name(const char* name) {
    char buf[16] = {};
    for (int i = 0; i < 15 && name[i] != '\0'; ++i) buf[i] = name[i];
    ::pthread_setname_np(::pthread_self(), buf);
}

}  // namespace sluice
