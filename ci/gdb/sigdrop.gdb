# make gdb-test, sixth session (sigusr): the SIGUSR1 its child sends stops it, as gdb's
# "Program received signal"; `signal 0` resumes it without the signal, so its handler never
# runs and it exits 3 after its five seconds.
set pagination off
set confirm off
continue
signal 0
