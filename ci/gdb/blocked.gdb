# make gdb-test, sixth session (blockread: a read that never returns): continue, press Ctrl-C
# two seconds later (a SIGINT to gdb itself, which sends the remote interrupt), bt, then kill.
set pagination off
set confirm off
python
import os, signal, threading, time
threading.Thread(target=lambda: (time.sleep(2), os.kill(os.getpid(), signal.SIGINT)), daemon=True).start()
end
continue
bt
kill
