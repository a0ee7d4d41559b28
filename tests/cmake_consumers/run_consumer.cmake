# Builds and runs the tiny consumer program the way a user of s3db would, in a fresh directory:
#   KIND=find_package      `cmake --install` into a new prefix, then find_package(s3db CONFIG REQUIRED)
#   KIND=add_subdirectory  add_subdirectory(<s3db source tree>)
#   KIND=vendored          a copy of include/ only; the project finds the three packages itself
#   KIND=pkg_config        `cmake --install` into a new prefix, then the compiler with `pkg-config s3db`
# Usage (see tests/CMakeLists.txt): cmake -DKIND=... -DS3DB_SOURCE_DIR=... -DS3DB_BINARY_DIR=...
#   -DCONSUMERS_DIR=... -DWORK_DIR=... -DGENERATOR=... -DCXX_COMPILER=... [-DBUILD_TYPE=...] -P run_consumer.cmake
cmake_minimum_required(VERSION 3.21)

foreach(var KIND S3DB_SOURCE_DIR S3DB_BINARY_DIR CONSUMERS_DIR WORK_DIR GENERATOR CXX_COMPILER)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "run_consumer.cmake needs -D${var}=...")
    endif()
endforeach()

function(run)
    execute_process(COMMAND ${ARGV} COMMAND_ECHO STDOUT RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        list(JOIN ARGV " " command)
        message(FATAL_ERROR "consumer '${KIND}': command failed (${rc}): ${command}")
    endif()
endfunction()

# Start from nothing, so files left by an earlier run cannot hide a missing install rule.
file(REMOVE_RECURSE "${WORK_DIR}")
set(src "${WORK_DIR}/src")
set(prefix "${WORK_DIR}/prefix")
file(MAKE_DIRECTORY "${src}")
file(COPY "${CONSUMERS_DIR}/consumer.cpp" DESTINATION "${src}")

if(KIND STREQUAL "find_package" OR KIND STREQUAL "pkg_config")
    set(config_args)
    if(BUILD_TYPE)
        set(config_args --config "${BUILD_TYPE}")
    endif()
    run("${CMAKE_COMMAND}" --install "${S3DB_BINARY_DIR}" --prefix "${prefix}" ${config_args})
endif()

if(KIND STREQUAL "pkg_config")
    find_program(PKG_CONFIG NAMES pkg-config pkgconf REQUIRED)
    set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
    execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs s3db
        OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "pkg-config does not know s3db from ${prefix}/share/pkgconfig")
    endif()
    message(STATUS "pkg-config --cflags --libs s3db: ${flags}")
    separate_arguments(flags UNIX_COMMAND "${flags}")
    # The header path must lead into the prefix we installed to, wherever that prefix is.
    file(REAL_PATH "${prefix}/include" expected)
    set(found FALSE)
    foreach(flag IN LISTS flags)
        if(flag MATCHES "^-I(.+)$")
            file(REAL_PATH "${CMAKE_MATCH_1}" dir)
            if(dir STREQUAL expected)
                set(found TRUE)
            endif()
        endif()
    endforeach()
    if(NOT found)
        message(FATAL_ERROR "pkg-config flags do not point at ${expected}: ${flags}")
    endif()
    run("${CXX_COMPILER}" -std=c++20 -Wall -Wextra -Wpedantic -Werror
        "${src}/consumer.cpp" ${flags} -o "${WORK_DIR}/consumer")
    run("${WORK_DIR}/consumer")
    return()
endif()

file(COPY "${CONSUMERS_DIR}/${KIND}/CMakeLists.txt" DESTINATION "${src}")
set(configure_args -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(BUILD_TYPE)
    list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
endif()
if(KIND STREQUAL "find_package")
    list(APPEND configure_args "-DCMAKE_PREFIX_PATH=${prefix}" "-DS3DB_EXPECTED_PREFIX=${prefix}")
elseif(KIND STREQUAL "add_subdirectory")
    list(APPEND configure_args "-DS3DB_SOURCE_DIR=${S3DB_SOURCE_DIR}")
elseif(KIND STREQUAL "vendored")
    file(COPY "${S3DB_SOURCE_DIR}/include" DESTINATION "${src}/third_party/s3db")
else()
    message(FATAL_ERROR "unknown consumer kind '${KIND}'")
endif()

run("${CMAKE_COMMAND}" -S "${src}" -B "${WORK_DIR}/build" ${configure_args})
run("${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --parallel 2)  # the test's PROCESSORS
run("${WORK_DIR}/build/consumer")
if(KIND STREQUAL "find_package" OR KIND STREQUAL "add_subdirectory")
    run("${WORK_DIR}/build/consumer_compiled")  # the compiled-once mode (s3db_add_library)
endif()
