"""vm.breakpoints(): breakpoints with Python callbacks on a live guest,
through vmic's breakpoint manager (<vmic/utils.h>, vmic_bpm_*).

The session (vmic_bpm_run) runs on a thread of its own so that the calling
thread stays free for Ctrl-C; the callbacks run on the driver's thread
while the guest is stopped at the breakpoint, and may use the VM (read
memory, look up symbols) as vmic allows there. A callback that returns True
ends the session; one that raises ends it too, and run() raises that
exception in the caller.

Nothing the session uses (the manager, the ctypes callbacks) is freed
before its thread is out of vmic_bpm_run: a Ctrl-C only asks it to stop,
and run() and close() wait for the session's own "done" event. Not for
Thread.is_alive(): CPython 3.11's join, interrupted by a signal, marks a
thread that still runs as stopped (python/cpython#90882), which let run()
return, and the manager be freed, under a session still delivering hits.
"""
import ctypes
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Union

from . import _structs as S
from ._lib import lib
from .errors import check, error

_TAPS = {"auto": 0, "memory": 1, "breakpoint": 2, "debugreg": 3, "plugin": 4}
_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """A breakpoint placed with Breakpoints.add (what remove() takes)."""
    key: int
    va: int
    root: int
    global_: bool
    name: str


@dataclass(frozen=True, slots=True)
class Hit:
    """One hit: the breakpoint, the vCPU and its registers at that moment
    (a copy of vmic_amd64_regs_t: hit.regs.rip, .rdi, .cr3, ...)."""
    breakpoint: Breakpoint
    vcpu: int
    regs: S.Regs
    pa: int

    @property
    def has_regs(self) -> bool:
        """Whether the tap gave registers (regs.valid names the groups);
        a tap that stops no vCPU for its hit may not."""
        return self.regs.valid != 0


HitFn = Callable[[Hit], Optional[bool]]


class Breakpoints:
    """A breakpoint manager over the VM's core (a context manager).

        with vm.breakpoints() as bps:
            bps.add("do_sys_openat2", lambda hit: print(hit.regs.rsi))
            bps.run(seconds=5)

    Closing it removes every breakpoint; so does the end of each run.
    """

    def __init__(self, vm, tap: str = "auto"):
        if tap not in _TAPS:
            raise ValueError("tap %r: one of %s" % (tap, ", ".join(_TAPS)))
        self._vm = vm
        core = vm._need_core()
        opt = S.TapOptions(kind=_TAPS[tap])
        t, b = ctypes.c_void_p(), ctypes.c_void_p()
        check(lib.vmic_tap_open(core, ctypes.byref(opt), ctypes.byref(t)), "tap")
        check(lib.vmic_bpm_open(core, t, ctypes.byref(b)), "breakpoint manager")  # owns t
        self._bpm = b
        self._fns: Dict[int, tuple] = {}
        self._next_key = 1
        self._stop = threading.Event()
        self._failure: Optional[BaseException] = None
        self.hits = 0
        self.interrupted = False
        self._deadline: Optional[float] = None
        self._session_done: Optional[threading.Event] = None  # a run's session is on
        self._handler: Optional[S.BpmHandler] = None  # its callbacks, alive until it ends
        vm._children.append(self)

    @property
    def tap(self) -> str:
        """How breakpoints are made here ("plugin", "debugreg", "breakpoint", "memory")."""
        return (lib.vmic_tap_name(lib.vmic_bpm_tap(self._bpm)) or b"").decode()

    def add(self, where: Union[int, str], fn: HitFn, *, root: Optional[int] = None,
            global_: bool = True) -> Breakpoint:
        """A breakpoint at a symbol's or an address's instruction; fn(hit) is
        called at each hit. Kernel code is mapped in every address space:
        global_ (the default) catches it in every process; give root (a
        process's p.root) and global_=False for one address space."""
        vm = self._vm
        va = vm.symbol(where) if isinstance(where, str) else where
        root_pa = vm.kernel.root if root is None else root
        key, self._next_key = self._next_key, self._next_key + 1
        bp = S.Breakpoint(va=va, root=root_pa, global_=global_, key=key)
        check(lib.vmic_bpm_insert(self._bpm, ctypes.byref(bp)),
              "breakpoint at %s" % (where if isinstance(where, str) else hex(va)))
        handle = Breakpoint(key, va, root_pa, global_, where if isinstance(where, str) else "")
        self._fns[key] = (handle, fn, bp)
        return handle

    def remove(self, bp: Breakpoint) -> None:
        """Removes one breakpoint."""
        _, _, c = self._fns.pop(bp.key)
        check(lib.vmic_bpm_remove(self._bpm, ctypes.byref(c)), "removing breakpoint")

    # ---- the session --------------------------------------------------------------------

    def _on_hit(self, _bpm, ev, hits, n, _resp, _arg) -> int:
        try:
            e = ev.contents
            regs = S.Regs.from_buffer_copy(e.regs)
            # Where it executed: each kind says so in its own detail (a
            # memory tap's hit is an execute fault, VMIC_EVENT_MEMORY_ACCESS).
            pa = {1: e.memory.pa, 6: e.breakpoint.pa}.get(e.kind, e.interrupt.pa)
            for i in range(n):
                entry = self._fns.get(hits[i].bp.key)
                if entry is None:
                    continue
                self.hits += 1
                if entry[1](Hit(entry[0], e.vcpu, regs, pa)) is True:
                    self._stop.set()
        except BaseException as exc:  # ends the session; run() raises it
            self._failure = exc
            self._stop.set()
        return 0  # the response is the manager's step-over

    def _should_stop(self, _core, _arg) -> bool:
        return self._stop.is_set() or (self._deadline is not None and
                                       time.monotonic() >= self._deadline)

    def _on_timeout(self, _core, _arg) -> None:
        pass  # a wake-up, so that should_stop is asked

    def run(self, seconds: Optional[float] = None) -> int:
        """Lets the guest run with the breakpoints until a callback returns
        True, `seconds` pass, stop(), or Ctrl-C (KeyboardInterrupt once the
        session has ended; .interrupted is True); returns the hits of this
        run. An exception in a callback ends the run and is
        raised here. The manager is empty afterwards (vmic clears it at every
        session end); the guest runs on."""
        vm = self._vm
        core = vm._need_core()
        self._failure, self.interrupted, start = None, False, self.hits
        self._deadline = time.monotonic() + seconds if seconds is not None else None
        h = S.BpmHandler(on_hit=S.ON_HIT(self._on_hit),
                         should_stop=S.SHOULD_STOP(self._should_stop),
                         on_timeout=S.ON_TIMEOUT(self._on_timeout))
        check(lib.vmic_resume(core), "resuming the guest")  # vmic.open left it paused
        result = []
        done = threading.Event()

        def session():
            # Signals stay with the main thread, which turns Ctrl-C into a
            # stop; the driver threads this session starts inherit the mask.
            try:
                signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
                s = lib.vmic_bpm_run(self._bpm, ctypes.byref(h), 100)
                result.append(error(s, "breakpoints") if s else None)  # this thread's message
            finally:
                done.set()  # vmic calls none of the callbacks any more

        t = threading.Thread(target=session, name="vmic-breakpoints", daemon=True)
        # Before the start: from then on close() must wait for the session.
        self._handler, self._session_done = h, done
        vm._holder = threading.get_ident()
        try:
            t.start()
            self._wait_session(t)
        except RuntimeError:
            if t.ident is None:  # no thread ("can't start new thread"): nothing to wait for
                self._handler = self._session_done = None
            raise
        finally:
            vm._holder = None
        self._fns.clear()  # the session's end cleared the manager
        self._stop.clear()
        if self._failure is not None:
            raise self._failure
        if self.interrupted:
            raise KeyboardInterrupt
        if result and result[0] is not None:
            raise result[0]
        return self.hits - start

    def _wait_session(self, t: Optional[threading.Thread] = None) -> None:
        """Until the session of a run has ended, however many Ctrl-Cs come:
        each only asks it to stop (run() raises KeyboardInterrupt after).
        The retry is around the whole wait, as a KeyboardInterrupt may land
        anywhere in it, not only in the blocking call."""
        done = self._session_done
        if done is None:
            return
        while True:
            try:
                while not done.wait(0.2):
                    pass
                if t is not None:
                    t.join()  # out of session() too: done is its last step
                break
            except KeyboardInterrupt:
                self.interrupted = True  # raised again once the session has ended
                self._stop.set()
        self._session_done = self._handler = None

    def stop(self) -> None:
        """Ends a run from any thread (within 0.1 s: the session's wake-up)."""
        self._stop.set()

    def stats(self) -> dict:
        """The manager's counters (vmic_bpm_stats_t)."""
        st = S.BpmStats()
        lib.vmic_bpm_stats(self._bpm, ctypes.byref(st))
        return {n: getattr(st, n) for n, _ in S.BpmStats._fields_ if n != "reserved"}

    def close(self) -> None:
        """Removes every breakpoint and frees the manager: after the end of
        a run still under way (an exception left it early), as that
        session's thread uses the manager until then."""
        if self._session_done is not None:
            self._stop.set()
            self._wait_session()
        if self._bpm:
            lib.vmic_bpm_close(self._bpm)
            self._bpm = None

    def __enter__(self) -> "Breakpoints":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
