/*
 * Minimal _Unwind_* stubs for Rust std programs on Redox built with
 * panic = "abort" (and -Zbuild-std=std,panic_abort).
 *
 * std's `unwind` crate links -lgcc_eh for crt-static Redox targets, and std
 * still references the unwinder for backtraces (_Unwind_Backtrace,
 * _Unwind_GetIP) even when panics abort. There is no Redox libgcc_eh here,
 * so ci/build-relibc.sh compiles this file into $SYSROOT/lib/libgcc_eh.a.
 * Effect: backtraces are empty; anything that would really unwind aborts.
 */
typedef unsigned long uintptr_t;
struct _Unwind_Context;
struct _Unwind_Exception;
typedef int (*_Unwind_Trace_Fn)(struct _Unwind_Context *, void *);

void abort(void);

enum { URC_END_OF_STACK = 5 };

int _Unwind_Backtrace(_Unwind_Trace_Fn f, void *arg) { (void)f; (void)arg; return URC_END_OF_STACK; }
uintptr_t _Unwind_GetIP(struct _Unwind_Context *c) { (void)c; return 0; }
uintptr_t _Unwind_GetIPInfo(struct _Unwind_Context *c, int *before) { (void)c; if (before) *before = 0; return 0; }
uintptr_t _Unwind_GetCFA(struct _Unwind_Context *c) { (void)c; return 0; }
uintptr_t _Unwind_GetLanguageSpecificData(struct _Unwind_Context *c) { (void)c; return 0; }
uintptr_t _Unwind_GetRegionStart(struct _Unwind_Context *c) { (void)c; return 0; }
uintptr_t _Unwind_GetTextRelBase(struct _Unwind_Context *c) { (void)c; return 0; }
uintptr_t _Unwind_GetDataRelBase(struct _Unwind_Context *c) { (void)c; return 0; }
void *_Unwind_FindEnclosingFunction(void *pc) { (void)pc; return 0; }
void _Unwind_SetGR(struct _Unwind_Context *c, int i, uintptr_t v) { (void)c; (void)i; (void)v; abort(); }
void _Unwind_SetIP(struct _Unwind_Context *c, uintptr_t v) { (void)c; (void)v; abort(); }
int _Unwind_RaiseException(struct _Unwind_Exception *e) { (void)e; abort(); return 0; }
void _Unwind_Resume(struct _Unwind_Exception *e) { (void)e; abort(); }
void _Unwind_DeleteException(struct _Unwind_Exception *e) { (void)e; }
