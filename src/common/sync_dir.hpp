// sync_dir.hpp: fsync of a directory, which makes the names created, renamed or removed in it
// durable (a file's own fsync does not cover its directory entry on POSIX).
#pragma once

#include <string>

namespace sluice {

// Returns 0 or an errno value. EINTR is retried.
int sync_directory(const std::string& dir);

}  // namespace sluice
