# ---- spoofguard-view (issue 13): the protected web mail viewer ----------------
# Included last from the top CMakeLists.txt. Everything in src/viewer but
# main.c forms sg_viewer_core, which the unit tests link (as the daemon's
# sg_daemon_core). The CLI's resolver opening (sg_cli_dns_open: --zone,
# --dns) and output buffer are compiled in from src/cli/cli_common.c, so
# `spoofguard verify` and the viewer open DNS the same way.
if(NOT TARGET sg_explain)
  message(STATUS "spoofguard-view: not built (sg_explain, src/reader/explain.cmake, is missing)")
  return()
endif()
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(LIBCRYPT REQUIRED IMPORTED_TARGET libcrypt)
find_package(Threads REQUIRED)

file(GLOB SG_VIEWER_CORE CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/viewer/*.c)
list(FILTER SG_VIEWER_CORE EXCLUDE REGEX "/main\\.c$")
add_library(sg_viewer_core STATIC ${SG_VIEWER_CORE} ${PROJECT_SOURCE_DIR}/src/cli/cli_common.c)
target_include_directories(sg_viewer_core PUBLIC ${PROJECT_SOURCE_DIR}/src/viewer
                           ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/src/reader)
target_link_libraries(sg_viewer_core PUBLIC sg_explain sg_common spoofguard_static
                      PkgConfig::MHD PkgConfig::LIBCRYPT PkgConfig::CRYPTO PkgConfig::PSL
                      Threads::Threads)

add_executable(spoofguard-view ${PROJECT_SOURCE_DIR}/src/viewer/main.c)
target_link_libraries(spoofguard-view PRIVATE sg_viewer_core)
install(TARGETS spoofguard-view)

# unit tests (tests/unit/test_viewer_*.c are globbed by the top file)
foreach(t test_viewer_auth test_viewer_maildir test_viewer_pages test_viewer_index
          test_viewer_conns)
  if(TARGET ${t})
    target_link_libraries(${t} PRIVATE sg_viewer_core)
  endif()
endforeach()
if(TARGET fuzz_viewer)
  target_link_libraries(fuzz_viewer PRIVATE sg_viewer_core)
endif()
# the black-box test starts the real binary
if(TEST script_viewer_http)
  set_property(TEST script_viewer_http APPEND PROPERTY ENVIRONMENT
               "SG_VIEW=$<TARGET_FILE:spoofguard-view>")
  set_tests_properties(script_viewer_http PROPERTIES RESOURCE_LOCK viewer_ports)
endif()
# slow clients (slowloris): ports 18150-18152
if(TEST script_viewer_slowloris)
  set_property(TEST script_viewer_slowloris APPEND PROPERTY ENVIRONMENT
               "SG_VIEW=$<TARGET_FILE:spoofguard-view>")
endif()
# bench/viewer_bench (run by hand, bench/README.md): built under SG_BENCH
if(SG_BENCH AND TARGET sg_bench_common)
  add_executable(viewer_bench ${PROJECT_SOURCE_DIR}/bench/viewer_bench.c)
  target_include_directories(viewer_bench PRIVATE ${PROJECT_SOURCE_DIR}/bench)
  target_link_libraries(viewer_bench PRIVATE sg_viewer_core sg_bench_common)
  set_target_properties(viewer_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bench)
endif()
