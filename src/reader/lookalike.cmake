# ---- reader: lookalike domains (issue 13 item 4) ------------------------
# Included from the top CMakeLists.txt after the tests and fuzz harnesses
# are declared. One target of its own (sg_lookalike) in src/reader, the
# internal static libraries of the reader's view (`spoofguard explain`,
# spoofguard-view); ICU stays out of libspoofguard and spoofguardd.
pkg_check_modules(ICU REQUIRED IMPORTED_TARGET icu-uc icu-i18n)
add_library(sg_lookalike STATIC ${PROJECT_SOURCE_DIR}/src/reader/lookalike.c)
target_include_directories(sg_lookalike PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(sg_lookalike PUBLIC PkgConfig::ICU PkgConfig::PSL PkgConfig::IDN2)
if(TARGET test_lookalike)
  target_link_libraries(test_lookalike PRIVATE sg_lookalike)
endif()
if(TARGET fuzz_lookalike)
  target_link_libraries(fuzz_lookalike PRIVATE sg_lookalike)
endif()
