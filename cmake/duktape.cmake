# Builds Duktape from the source Debian ships in duktape-dev (/usr/share/duktape), configured with
# the interrupt counter and an execution-timeout hook, which Debian's shared library lacks.
# Scripts in snowsim then run in-process with a time limit (see src/sim/script.c).
set(DUK_SRC /usr/share/duktape)
set(DUK_OUT ${CMAKE_BINARY_DIR}/duktape)
if(NOT EXISTS ${DUK_SRC}/duktape.c)
  message(FATAL_ERROR "Duktape source not found in ${DUK_SRC}: run 'make deps' (duktape-dev)")
endif()
file(MAKE_DIRECTORY ${DUK_OUT})
file(COPY ${DUK_SRC}/duktape.h DESTINATION ${DUK_OUT})
# Check the clock every 256 bytecode instructions instead of 256k, so a tight loop around a
# slow builtin still meets its time limit.
file(READ ${DUK_SRC}/duktape.c src)
string(REPLACE "#define DUK_HTHREAD_INTCTR_DEFAULT (256L * 1024L)"
  "#define DUK_HTHREAD_INTCTR_DEFAULT (256L)" src "${src}")
string(FIND "${src}" "INTCTR_DEFAULT (256L)" found_ctr)
if(found_ctr EQUAL -1)
  message(FATAL_ERROR "could not shorten Duktape's interrupt interval")
endif()
file(WRITE ${DUK_OUT}/duktape.c "${src}")
file(READ ${DUK_SRC}/duk_config.h cfg)
string(REPLACE "#undef DUK_USE_INTERRUPT_COUNTER" "#define DUK_USE_INTERRUPT_COUNTER" cfg "${cfg}")
string(REPLACE "#undef DUK_USE_EXEC_TIMEOUT_CHECK"
  "extern int sg_duk_timeout_check(void *udata);\n#define DUK_USE_EXEC_TIMEOUT_CHECK(udata) sg_duk_timeout_check((udata))"
  cfg "${cfg}")
string(FIND "${cfg}" "sg_duk_timeout_check" found)
if(found EQUAL -1)
  message(FATAL_ERROR "could not enable Duktape's execution timeout in duk_config.h")
endif()
file(WRITE ${DUK_OUT}/duk_config.h "${cfg}")
add_library(sgduktape STATIC ${DUK_OUT}/duktape.c)
target_include_directories(sgduktape PUBLIC ${DUK_OUT})
target_compile_options(sgduktape PRIVATE -w -O2 -std=c99)
target_link_libraries(sgduktape PUBLIC m)
