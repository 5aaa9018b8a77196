# Run at every build (apps/sluice/CMakeLists.txt): writes version.cpp with the project version,
# the git revision of the source tree (with "-dirty" for uncommitted changes) and the build type.
# configure_file leaves the file untouched when nothing changed, so nothing relinks needlessly.
execute_process(COMMAND git -C "${SRC}" rev-parse --short=12 HEAD
                OUTPUT_VARIABLE SLUICE_GIT_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE rc ERROR_QUIET)
if(NOT rc EQUAL 0 OR SLUICE_GIT_REVISION STREQUAL "")
  set(SLUICE_GIT_REVISION "unknown")
else()
  execute_process(COMMAND git -C "${SRC}" status --porcelain --untracked-files=no
                  OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT dirty STREQUAL "")
    string(APPEND SLUICE_GIT_REVISION "-dirty")
  endif()
endif()
configure_file("${IN}" "${OUT}" @ONLY)
