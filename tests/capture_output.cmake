# Runs a command, writes its standard output to OUTPUT (and echoes it), and
# fails when the command exits non-zero.
#   cmake -DOUTPUT=out.txt -P capture_output.cmake -- cmd args...
set(cmd)
set(collect OFF)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(collect)
    list(APPEND cmd "${CMAKE_ARGV${i}}")
  elseif("${CMAKE_ARGV${i}}" STREQUAL "--")
    set(collect ON)
  endif()
endforeach()
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_FILE "${OUTPUT}")
file(READ "${OUTPUT}" out)
message("${out}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "the command exited with '${rc}'")
endif()
