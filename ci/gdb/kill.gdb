# make gdb-test, third session (gdbdemo 7): stop at compute, then kill the program.
set pagination off
set confirm off
break gdbdemo::compute
continue
kill
