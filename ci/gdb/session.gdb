# make gdb-test: what Debian's gdb does to gdbdemo under gdbserver (ci/gdb.sh runs it with
# `file` and `target remote` first, then checks the output against ci/gdb/session.expected).
set pagination off
set confirm off
set width 0
break gdbdemo::compute
continue
bt 2
info registers rip
print input
next
print factor
set var factor = 3
print factor
stepi
x/4xb $pc
# A hardware watchpoint (Z2: a debug-register slot of the trace session).
watch gdbdemo::LAST_RESULT
continue
delete 2
# The round trip of one stepi: gdb's resume, our step, the stop reply, gdb's reads after it.
python import time
python t = time.monotonic(); [gdb.execute("stepi", to_string=True) for _ in range(20)]; print("stepi round trip: %.1f ms (mean of 20)" % ((time.monotonic() - t) * 50))
# AVX: gdbdemo has loaded 0x1001, 0x2002, .. 0x8008 into ymm0 at gdbdemo_ymm_loaded; gdb
# composes $ymm0 from xmm0 and ymm0h (the upper half, from the xsave area). Change a lane in
# each half; the program stores ymm0 and prints it.
break gdbdemo_ymm_loaded
continue
p/x $ymm0.v8_int32
set var $ymm0.v8_int32[0] = 0xf00d
set var $ymm0.v8_int32[7] = 0x600d
p/x $ymm0.v8_int32
continue
