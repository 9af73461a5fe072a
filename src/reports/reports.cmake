# ---- reports: DMARC reports read and stored (issue 16) --------------------
# Included from the top CMakeLists.txt after the reader's targets (it uses
# sg_mime for reports that come as mail), the tests and the fuzz harnesses.
# sg_reports: an internal static library for the CLI now, spoofguardd and
# spoofguard-view later; never libspoofguard's API.
pkg_check_modules(XML2 REQUIRED IMPORTED_TARGET libxml-2.0)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(SG_REPORTS_GMIME REQUIRED IMPORTED_TARGET gmime-3.0)
# sg_reports_store: the store, what spoofguardd collects and the reports we
# make and send (no reader of others' reports): all spoofguardd needs, so
# the milter never maps libxml2 or GMime. sg_reports adds the reader
# (XML, containers, mail) on top.
add_library(sg_reports_store STATIC ${PROJECT_SOURCE_DIR}/src/reports/store.c
            ${PROJECT_SOURCE_DIR}/src/reports/send.c ${PROJECT_SOURCE_DIR}/src/reports/collect.c
            ${PROJECT_SOURCE_DIR}/src/reports/failure.c ${PROJECT_SOURCE_DIR}/src/reports/csv.c)
target_include_directories(sg_reports_store PUBLIC ${PROJECT_SOURCE_DIR}/src/reports
                                                    ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)
# spoofguard_static: the rule for a report's address (sg_dmarc_report_addr_ok)
target_link_libraries(sg_reports_store PUBLIC spoofguard_static PkgConfig::ZLIB PkgConfig::SQLITE3
                      PkgConfig::HIREDIS PkgConfig::CRYPTO)
add_library(sg_reports STATIC ${PROJECT_SOURCE_DIR}/src/reports/xml.c
            ${PROJECT_SOURCE_DIR}/src/reports/container.c ${PROJECT_SOURCE_DIR}/src/reports/mail.c)
target_link_libraries(sg_reports PUBLIC sg_reports_store sg_mime PkgConfig::XML2 PkgConfig::ZLIB
                      PkgConfig::SG_REPORTS_GMIME)
sg_cli_helper(report cmd_report ${SG_CLI_DIR}/cmd_report.c ${SG_CLI_DIR}/cmd_report_send.c)
target_link_libraries(spoofguard-report PRIVATE sg_reports sg_outbound)
# spoofguard-view's /reports page reads the store
if(TARGET sg_viewer_core)
  target_link_libraries(sg_viewer_core PUBLIC sg_reports)
endif()
if(TEST script_viewer_reports AND TARGET spoofguard-view)
  set_property(TEST script_viewer_reports APPEND PROPERTY ENVIRONMENT
               "SG_VIEW=$<TARGET_FILE:spoofguard-view>")
endif()
if(TARGET test_reports)
  target_link_libraries(test_reports PRIVATE sg_reports)
endif()
if(TARGET fuzz_report)
  target_link_libraries(fuzz_report PRIVATE sg_reports)
endif()
if(TARGET report_parse_bench)
  target_link_libraries(report_parse_bench PRIVATE sg_reports)
endif()
# The sending side (issue 16 items 1 and 2): report_fill puts a day of
# observations into a store through the collection code, for the `report
# send` tests (tests/scripts/reports_send.sh) and bench/report_gen_bench.sh.
add_executable(report_fill ${PROJECT_SOURCE_DIR}/bench/report_fill.c)
target_link_libraries(report_fill PRIVATE sg_reports)
foreach(t script_reports_send script_reports_send_dns script_reports_cluster)
  if(TEST ${t})
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "SG_REPORT_FILL=$<TARGET_FILE:report_fill>")
  endif()
endforeach()
# spoofguardd's collection (src/daemon/reportcollect.c) writes the store
target_link_libraries(sg_daemon_core PUBLIC sg_reports_store)
# test_report_send reads the reports we write as a strict consumer does
# (libxml2, no recovery, our RFC 9990 schema)
if(TARGET test_report_send)
  target_link_libraries(test_report_send PRIVATE PkgConfig::XML2)
endif()
