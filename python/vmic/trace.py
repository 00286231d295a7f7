"""vm.trace(): what a live guest's processes do, as Python events.

vmic's tracer (<vmic/trace.h>) runs an event session that blocks until it
ends and hands each event to a callback on the driver's thread. A
generator cannot be resumed from there, so the session runs on a thread of
its own: the callback turns each event into a dataclass (while the C struct
is valid) and queues it, and the iterator yields from the queue. Ending it
(the loop breaks, Ctrl-C, an exception, close()) asks the session to stop
two ways: the callback returns non-zero at the next event, and the session
thread gets a SIGINT of its own, which vmic reads from a signalfd
(vmic_core_take_signals), so an idle guest ends it too. That signalfd may
also read a Ctrl-C meant for the main thread; the iterator then raises the
KeyboardInterrupt itself, at once (the events still queued are dropped, as
they would be had Python's handler seen it), so Ctrl-C reads the same
either way. Either way vmic removes every breakpoint and the guest runs on
untraced.

The tracer is freed only after the session thread is out of
vmic_tracer_run, which the thread's own "done" event says; not
Thread.is_alive(), which CPython 3.11 makes False for a running thread
whose join a signal interrupted (python/cpython#90882).
"""
import ctypes
import queue
import signal
import threading
import weakref
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple, Union

from . import _structs as S
from ._lib import lib
from .errors import VmicError, check, error

_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
_VALUE_KINDS = ("int", "hex", "string", "buffer", "strings", "flags", "unreadable", "struct")


def _s(b) -> str:
    return b.decode(errors="replace") if b else ""


@dataclass(frozen=True, slots=True)
class Arg:
    """One decoded system-call argument: text as strace shows it (3,
    "/etc/passwd", O_RDONLY|O_CLOEXEC, ...), raw the register."""
    name: str
    type: str
    raw: int
    kind: str
    text: str
    truncated: bool = False
    hidden: bool = False

    @property
    def value(self) -> Union[int, str]:
        """An int for a number, the unquoted string for a string, else text."""
        if self.kind == "int":
            try:
                return int(self.text, 0)
            except ValueError:
                return self.text
        if self.kind == "string" and self.text.startswith('"'):
            body = self.text[1:-4] if self.text.endswith('"...') else self.text[1:-1]
            return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
        return self.text

    def as_json(self) -> dict:
        d = {"name": self.name, "type": self.type, "raw": hex(self.raw), "kind": self.kind,
             "text": self.text}
        if self.truncated:
            d["truncated"] = True
        if self.hidden:
            d["hidden"] = True
        return d


@dataclass(frozen=True, slots=True)
class TaskRef:
    """A task an event names: thread id, process id, comm, task_struct."""
    pid: int
    tgid: int
    comm: str
    task: int


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """What every event has: who (pid is the thread id, tgid the process),
    on which vCPU, the tracer's number and host time, and the line
    `vmic trace` prints for it."""
    seq: int
    time_ns: int
    vcpu: int
    pid: int
    tgid: int
    comm: str
    task: int
    line: str

    type = "event"

    def _head(self) -> dict:
        return {"type": self.type, "seq": self.seq, "time_us": self.time_ns // 1000,
                "vcpu": self.vcpu, "pid": self.pid, "tgid": self.tgid, "comm": self.comm}

    def as_json(self) -> dict:
        """The event as `vmic trace --json` prints it."""
        return self._head()


@dataclass(frozen=True, slots=True)
class Syscall(TraceEvent):
    """A system call, at its return (exit and exit_group at entry:
    returned False)."""
    nr: int = 0
    name: str = ""
    args: Tuple[Arg, ...] = ()
    returned: bool = False
    entry_seen: bool = False
    ret: int = 0
    ret_text: str = ""
    error: Optional[str] = None
    duration_ns: int = 0

    type = "syscall"

    def arg(self, name: str) -> Optional[Arg]:
        """The argument of that name ("filename"), or None."""
        return next((a for a in self.args if a.name == name), None)

    def as_json(self) -> dict:
        d = self._head()
        d.update(nr=self.nr, name=self.name, args=[a.as_json() for a in self.args],
                 returned=self.returned)
        if self.returned:
            d.update(ret=self.ret, ret_text=self.ret_text)
            if self.error:
                d["error"] = self.error
        d["entry_seen"] = self.entry_seen
        if self.entry_seen and self.returned:
            d["duration_us"] = self.duration_ns // 1000
        return d


@dataclass(frozen=True, slots=True)
class Fork(TraceEvent):
    """A task created: the event's task is the parent, child the new one."""
    child: Optional[TaskRef] = None
    thread: bool = False
    kernel: bool = False

    type = "fork"

    def as_json(self) -> dict:
        d = self._head()
        c = self.child
        d.update(child={"pid": c.pid, "tgid": c.tgid, "comm": c.comm}, thread=self.thread,
                 kernel=self.kernel)
        return d


@dataclass(frozen=True, slots=True)
class Exec(TraceEvent):
    """A task now runs a new program (comm is the new name)."""
    filename: str = ""
    cmdline: str = ""
    cmdline_truncated: bool = False
    old_comm: str = ""

    type = "exec"

    def as_json(self) -> dict:
        d = self._head()
        d.update(filename=self.filename, cmdline=self.cmdline,
                 cmdline_truncated=self.cmdline_truncated, old_comm=self.old_comm)
        return d


@dataclass(frozen=True, slots=True)
class Exit(TraceEvent):
    """A task exited: status as exit(2) gave it, or the signal that killed it."""
    code: int = 0
    status: int = 0
    signal: int = 0
    core_dumped: bool = False
    thread: bool = False

    type = "exit"

    def as_json(self) -> dict:
        d = self._head()
        d.update(code=self.code, status=self.status, signal=self.signal,
                 core_dumped=self.core_dumped, thread=self.thread)
        return d


_LINE = 4096


def _event(e: S.TraceEvent) -> TraceEvent:
    """The dataclass of one C event (only valid inside the callback)."""
    buf = ctypes.create_string_buffer(_LINE)
    lib.vmic_trace_format(ctypes.byref(e), buf, _LINE)
    t = e.task
    head = (e.seq, e.time_ns, e.vcpu, t.pid, t.tgid, _s(t.comm), t.task, _s(buf.value))
    if e.kind == 1:
        sc = e.syscall
        args = tuple(Arg(_s(a.name), _s(a.type), a.raw, _VALUE_KINDS[a.kind]
                         if 0 <= a.kind < len(_VALUE_KINDS) else "?", _s(a.text), a.truncated,
                         a.hidden) for a in sc.args[:max(0, min(sc.nargs, S.SYSCALL_MAX_ARGS))])
        return Syscall(*head, sc.nr, _s(sc.name), args, sc.returned, sc.entry_seen, sc.ret,
                       _s(sc.ret_text), _s(sc.error) or None, sc.duration_ns)
    if e.kind == 2:
        c = e.fork.child
        return Fork(*head, TaskRef(c.pid, c.tgid, _s(c.comm), c.task), e.fork.thread,
                    e.fork.kernel)
    if e.kind == 3:
        x = e.exec
        return Exec(*head, _s(x.filename), _s(x.cmdline), x.cmdline_truncated, _s(x.old_comm))
    x = e.exit
    return Exit(*head, x.code, x.status, x.signal, x.core_dumped, x.thread)


_END = object()


class Trace:
    """An iterator of a live guest's events (Syscall, Fork, Exec, Exit),
    from the first next() until the loop ends. Also a context manager.

    It ends when the loop breaks or the iterator is closed, after `duration`
    seconds, with stop() from another thread, when the guest goes away
    (VmicError with vmic's message), or on Ctrl-C: KeyboardInterrupt, raised
    once the session has ended (.interrupted is then True), wherever it
    lands (the loop's body, the wait for an event, or vmic's own signalfd).
    However it ends, no breakpoint is left and the guest runs on. Don't call the VM from the loop body while it runs: the
    session holds the core (the events carry what vmic read for them).
    """

    def __init__(self, vm, *, pid: int = 0, follow: bool = False, comm: Optional[str] = None,
                 syscalls: Union[None, str, List[str]] = None, no_syscalls: bool = False,
                 no_processes: bool = False, string_max: int = 0, buffer_max: int = 0,
                 duration: Optional[float] = None, queue_size: int = 65536):
        if isinstance(syscalls, (list, tuple)):
            syscalls = ",".join(syscalls)
        self._vm = vm
        self._keep = [comm.encode() if comm else None, syscalls.encode() if syscalls else None]
        self._opt = S.TraceOptions(no_syscalls=no_syscalls, no_processes=no_processes, pid=pid,
                                   follow=follow, comm=self._keep[0], syscalls=self._keep[1],
                                   string_max=string_max, buffer_max=buffer_max,
                                   duration_ms=int(duration * 1000) if duration else 0)
        t = ctypes.c_void_p()
        check(lib.vmic_tracer_open(vm._need(), ctypes.byref(self._opt), ctypes.byref(t)),
              "tracer")
        self._tracer = t
        vm._children.append(self)
        self._queue: "queue.Queue" = queue.Queue(queue_size)
        self._stop = threading.Event()
        self._ready = threading.Event()  # the session thread blocks the signals now
        self._done = threading.Event()   # the session thread is out of vmic_tracer_run
        self._ctrl_c = threading.Event()  # vmic's signalfd read a Ctrl-C stop() did not send
        self.armed = threading.Event()   # set once the breakpoints are in (first next())
        self._thread: Optional[threading.Thread] = None
        self._iter: Optional[weakref.ref] = None
        self._manual: Optional[Iterator] = None
        self._started = False
        self.interrupted = False
        self.stats: dict = {}

    # ---- the session thread -------------------------------------------------------------

    def _on_event(self, ev, _arg) -> int:
        if self._stop.is_set():
            return 1
        try:
            item = _event(ev.contents)
        except BaseException as e:  # a bug of ours: end the session, raise it in the loop
            item = e
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return 1 if isinstance(item, BaseException) else 0
            except queue.Full:
                continue  # the guest waits at this event while the loop catches up
        return 1

    def _session(self) -> None:
        # Signals stay with the main thread; this one takes its own through
        # vmic's signalfd (what close() sends).
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
            self._ready.set()
            core = self._vm._core
            lib.vmic_core_take_signals(core, True)
            cb = S.TRACE_FN(self._on_event)
            s = lib.vmic_tracer_run(self._tracer, cb, None)
            if s == 11 and not self._stop.is_set():
                self._ctrl_c.set()  # before the end is queued: the iterator sees it first
            result = error(s, "trace") if s and s != 11 else s  # the message is this thread's
            lib.vmic_core_take_signals(core, False)
            st = S.TraceStats()
            lib.vmic_tracer_stats(self._tracer, ctypes.byref(st))
            self.stats = {n: getattr(st, n) for n, _ in S.TraceStats._fields_
                          if n != "reserved"}
            self._queue_end(result)
        finally:
            self._done.set()  # the tracer is not used here any more

    def _queue_end(self, result) -> None:
        while True:
            try:
                self._queue.put((_END, result), timeout=0.1)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()  # nobody reads any more: make room for the end
                except queue.Empty:
                    pass

    # ---- the iterator ---------------------------------------------------------------------

    def __iter__(self) -> Iterator[TraceEvent]:
        # Held weakly: when the loop drops the generator (break, an
        # exception) CPython closes it at once, and that ends the session.
        gen = self._iter() if self._iter is not None else None
        if gen is None:
            if self._started:
                raise RuntimeError("a Trace is iterated once: call vm.trace() again")
            self._started = True
            gen = self._events()
            self._iter = weakref.ref(gen)
        return gen

    def __next__(self) -> TraceEvent:
        if self._manual is None:
            self._manual = iter(self)  # next() by hand: held until close()
        return next(self._manual)

    def _events(self) -> Iterator[TraceEvent]:
        vm = self._vm
        vm._need()
        try:  # from the arm on: armed breakpoints hold the guest until a session takes them
            check(lib.vmic_tracer_arm(self._tracer), "tracer")  # breakpoints in, guest runs
            self.armed.set()
            vm._holder = threading.get_ident()
            self._thread = threading.Thread(target=self._session, name="vmic-trace",
                                            daemon=True)
            self._thread.start()
            while True:
                try:
                    item = self._queue.get(timeout=0.2)
                except queue.Empty:
                    item = None
                except KeyboardInterrupt:
                    self.interrupted = True
                    raise  # after the finally below has ended the session
                if self._ctrl_c.is_set():
                    # Ctrl-C, read by vmic's signalfd before Python's handler
                    # saw it: the same KeyboardInterrupt, now, not after the
                    # events queued before it (a slow loop body would take
                    # minutes to get there).
                    self.interrupted = True
                    raise KeyboardInterrupt
                if item is None:
                    continue
                if isinstance(item, tuple) and item and item[0] is _END:
                    self._thread.join()
                    if isinstance(item[1], VmicError):
                        raise item[1]
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self._end_session()

    def stop(self) -> None:
        """Ends the session from any thread (a timer, another task): the
        loop then ends as if the trace were over."""
        t = self._thread
        self._stop.set()
        if t is not None and not self._done.is_set():
            self._ready.wait()
            try:
                signal.pthread_kill(t.ident, signal.SIGINT)  # vmic reads it: the session ends
            except (ProcessLookupError, OSError):
                pass  # it ended meanwhile

    def _end_session(self) -> None:
        t = self._thread
        if t is not None:
            if not self._done.is_set():
                self.stop()
            self._wait_ended(t)
        self._vm._holder = None

    def _wait_ended(self, t: threading.Thread) -> None:
        """Until the session thread is done with the tracer. The retry is
        around the whole wait: a KeyboardInterrupt may land anywhere in it."""
        while True:
            try:
                while not self._done.wait(0.2):
                    pass
                t.join()  # out of _session too: done is its last step
                return
            except KeyboardInterrupt:
                continue  # a second Ctrl-C: the detach is under way, let it finish

    def close(self) -> None:
        """Ends the session (if running) and frees the tracer."""
        gen = self._iter() if self._iter is not None else None
        if gen is not None:
            gen.close()
        self._manual = None
        self._end_session()
        if self._tracer:
            lib.vmic_tracer_close(self._tracer)
            self._tracer = None

    def __enter__(self) -> "Trace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
