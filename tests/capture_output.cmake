# Runs a command, writes its standard output to OUTPUT (and echoes it), and
# fails when the command exits non-zero.
#   cmake -DOUTPUT=out.txt -P capture_output.cmake -- cmd args...
include(${CMAKE_CURRENT_LIST_DIR}/script_command.cmake)
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_FILE "${OUTPUT}")
file(READ "${OUTPUT}" out)
message("${out}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "the command exited with '${rc}'")
endif()
