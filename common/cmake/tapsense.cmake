# Project-wide build conventions, applied by the helpers below so that each
# folder's CMakeLists.txt stays a few lines long.
include_guard(GLOBAL)

set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(CapnProto CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(tomlplusplus CONFIG REQUIRED)
find_package(SQLiteCpp CONFIG REQUIRED)
find_package(Boost 1.81 CONFIG REQUIRED)
pkg_check_modules(ZMQ REQUIRED IMPORTED_TARGET libzmq)
pkg_check_modules(PCAP REQUIRED IMPORTED_TARGET libpcap)
# Digests for JA3/JA4/HASSH (common/proto/digest.h).
pkg_check_modules(NETTLE REQUIRED IMPORTED_TARGET nettle)
# Rule regexes (common/fp/rules.h): linear-time matching.
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)

set(TAPSENSE_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Werror
    # (-Wnull-dereference is left out: at -O3 GCC 12 flags std::vector code it
    # cannot see through, and the sanitizer build catches real null reads.)
    )
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 reports bogus -Wrestrict on std::string concatenation at -O2/-O3
  # (GCC bug 105329); nothing in this code base uses restrict.
  list(APPEND TAPSENSE_WARNINGS -Wno-restrict)
endif()

function(_tapsense_common target)
  target_compile_options(${target} PRIVATE ${TAPSENSE_WARNINGS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  if(TAPSENSE_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# tapsense_add_library(name SOURCES a.cpp ... [DEPS t1 t2 ...])
# Creates static library tapsense_<name> with alias tapsense::<name>.
function(tapsense_add_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(tapsense_${name} STATIC ${A_SOURCES})
  add_library(tapsense::${name} ALIAS tapsense_${name})
  _tapsense_common(tapsense_${name})
  target_link_libraries(tapsense_${name} PUBLIC ${A_DEPS})
endfunction()

# tapsense_add_executable(name SOURCES ... [DEPS ...]) -> build/bin/<name>
function(tapsense_add_executable name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  _tapsense_common(${name})
  target_link_libraries(${name} PRIVATE ${A_DEPS})
endfunction()

# tapsense_add_gtest(name SOURCES ... [DEPS ...] [LABEL unit])
# One GoogleTest binary; each TEST() becomes a CTest test with the label.
function(tapsense_add_gtest name)
  cmake_parse_arguments(A "" "LABEL" "SOURCES;DEPS" ${ARGN})
  if(NOT A_LABEL)
    set(A_LABEL unit)
  endif()
  find_package(GTest REQUIRED)
  add_executable(${name} ${A_SOURCES})
  _tapsense_common(${name})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  target_link_libraries(${name} PRIVATE GTest::gtest GTest::gtest_main ${A_DEPS})
  target_compile_definitions(${name} PRIVATE
    TAPSENSE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TAPSENSE_SHARED_PCAPS="${PROJECT_SOURCE_DIR}/../shared/pcaps")
  include(GoogleTest)
  gtest_discover_tests(${name} PROPERTIES LABELS ${A_LABEL} DISCOVERY_TIMEOUT 60)
endfunction()

# tapsense_add_script_test(name LABEL e2e TIMEOUT 300 COMMAND ...)
function(tapsense_add_script_test name)
  cmake_parse_arguments(A "" "LABEL;TIMEOUT" "COMMAND" ${ARGN})
  add_test(NAME ${name} COMMAND ${A_COMMAND} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS ${A_LABEL} TIMEOUT ${A_TIMEOUT}
    ENVIRONMENT "TAPSENSE_BUILD=${CMAKE_BINARY_DIR};TAPSENSE_SOURCE=${PROJECT_SOURCE_DIR}"
    SKIP_RETURN_CODE 77)
endfunction()
