# ---- reader: what a reader is told (issue 13 items 2-4, 6, 7) -------------
# Included from the top CMakeLists.txt after the reader's other targets,
# the tests and the fuzz harnesses. sg_explain: the headline, identity
# panel, warnings and links of one message, shared by `spoofguard
# explain` and spoofguard-view. GMime only decodes the display name's
# RFC 2047 words (the MIME walk, sg_mime, has readied it).
pkg_check_modules(SG_EXPLAIN_GMIME REQUIRED IMPORTED_TARGET gmime-3.0)
add_library(sg_explain STATIC ${PROJECT_SOURCE_DIR}/src/reader/explain.c
            ${PROJECT_SOURCE_DIR}/src/reader/explain_json.c)
target_include_directories(sg_explain PUBLIC ${PROJECT_SOURCE_DIR}/src/reader ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(sg_explain PUBLIC sg_mime sg_sanitize sg_lookalike sg_common spoofguard_static
                      PkgConfig::SG_EXPLAIN_GMIME PkgConfig::PSL PkgConfig::IDN2)
sg_cli_helper(explain cmd_explain ${SG_CLI_DIR}/cmd_explain.c)
target_link_libraries(spoofguard-explain PRIVATE sg_explain)
if(TARGET test_explain)
  target_link_libraries(test_explain PRIVATE sg_explain)
  set_property(TEST test_explain APPEND PROPERTY ENVIRONMENT
               "SG_EXPLAIN_DATA=${PROJECT_SOURCE_DIR}/tests/data/explain")
endif()
if(TARGET fuzz_explain)
  target_link_libraries(fuzz_explain PRIVATE sg_explain)
endif()
