# ---- reader: the MIME walk (issue 13 item 5) ------------------------------
# Included from the top CMakeLists.txt after the tests and fuzz harnesses
# are declared. sg_mime: GMime 3 stays in the reader's view (`spoofguard
# explain`, spoofguard-view), out of libspoofguard and spoofguardd.
pkg_check_modules(GMIME REQUIRED IMPORTED_TARGET gmime-3.0)
add_library(sg_mime STATIC ${PROJECT_SOURCE_DIR}/src/reader/mime.c)
target_include_directories(sg_mime PUBLIC ${PROJECT_SOURCE_DIR}/src/reader)
target_link_libraries(sg_mime PUBLIC PkgConfig::GMIME sg_common)
if(TARGET test_mime)
  target_link_libraries(test_mime PRIVATE sg_mime)
endif()
if(TARGET fuzz_mime)
  target_link_libraries(fuzz_mime PRIVATE sg_mime)
endif()
