# src/viewer/viewer.cmake: filled in by the work of issue 13 (included from the top CMakeLists.txt
# after the reader's other targets, the tests and the fuzz harnesses).
