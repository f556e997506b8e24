# make gdb-test, fourth session (ticker 1000: a line every 20 ms): continue, and press Ctrl-C
# two seconds later (a SIGINT to gdb itself, which sends the remote interrupt), then kill.
set pagination off
set confirm off
python
import os, signal, threading, time
threading.Thread(target=lambda: (time.sleep(2), os.kill(os.getpid(), signal.SIGINT)), daemon=True).start()
end
continue
info registers rip
kill
