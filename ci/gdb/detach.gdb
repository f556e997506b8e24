# make gdb-test, second session (gdbdemo 5): stop at compute, then detach; the program
# must run on to its own end untraced.
set pagination off
set confirm off
break gdbdemo::compute
continue
print input
detach
