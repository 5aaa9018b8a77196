// version.hpp: what `sluice --version` prints (values generated at build time).
#pragma once

namespace sluice::app {

extern const char* const kVersion;      // "0.1.0" (CMake project version)
extern const char* const kGitRevision;  // "1a2b3c4d5e6f", "-dirty" appended, or "unknown"
extern const char* const kBuildType;    // "Release", "RelWithDebInfo", ...

}  // namespace sluice::app
