# s3db_includes(<file> <out-var> [DECLARATIONS]): the headers <file> includes, in order, as written
# between the brackets or quotes (s3db/core/resource.hpp, nlohmann/json.hpp, string). DECLARATIONS
# stops at the first "#if S3DB_DEFINE_BODIES": the includes the declarations mode sees. One reader of
# includes for the layer check (check_layers.cmake) and the header checks (CMakeLists.txt).
function(s3db_includes file out)
    cmake_parse_arguments(PARSE_ARGV 2 arg "DECLARATIONS" "" "")
    file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*(include[ \t]*[<\"]|if S3DB_DEFINE_BODIES)")
    set(targets)
    foreach(line IN LISTS lines)
        if(line MATCHES "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"]")
            list(APPEND targets "${CMAKE_MATCH_1}")
        elseif(arg_DECLARATIONS)
            break()
        endif()
    endforeach()
    set(${out} "${targets}" PARENT_SCOPE)
endfunction()
