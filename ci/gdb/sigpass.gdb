# make gdb-test, seventh session (sigusr): with SIGUSR1 set to nostop noprint pass, gdb lets
# the signal stop go by and passes the signal on, so the handler runs and the program exits 0.
set pagination off
set confirm off
handle SIGUSR1 nostop noprint pass
continue
