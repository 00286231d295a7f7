/* vmic trace's output (trace_output.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "trace_output.h"

/* ---- events --------------------------------------------------------------------- */

static const char *value_kind(vmic_trace_value_kind k)
{
    static const char *const names[] = {"int", "hex", "string", "buffer", "strings", "flags",
                                        "unreadable", "struct"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static void json_task(json *j, const vmic_trace_task_t *t)
{
    json_i64(j, "pid", t->pid);
    json_i64(j, "tgid", t->tgid);
    json_str(j, "comm", t->comm);
}

static void json_syscall(json *j, const vmic_trace_event_t *ev)
{
    json_u64(j, "nr", ev->syscall.nr);
    json_str(j, "name", ev->syscall.name);
    json_array_begin(j, "args");
    for (int i = 0; i < ev->syscall.nargs; i++) {
        const vmic_trace_value_t *v = &ev->syscall.args[i];
        json_object_begin(j, NULL);
        json_str(j, "name", v->name);
        json_str(j, "type", v->type);
        json_hex(j, "raw", v->raw);
        json_str(j, "kind", value_kind(v->kind));
        json_str(j, "text", v->text);
        if (v->truncated)
            json_bool(j, "truncated", true);
        if (v->hidden)
            json_bool(j, "hidden", true);   /* not in the strace-like line */
        json_object_end(j);
    }
    json_array_end(j);
    json_bool(j, "returned", ev->syscall.returned);
    if (ev->syscall.returned) {
        json_i64(j, "ret", ev->syscall.ret);
        json_str(j, "ret_text", ev->syscall.ret_text);
        if (ev->syscall.error)
            json_str(j, "error", ev->syscall.error);
    }
    json_bool(j, "entry_seen", ev->syscall.entry_seen);
    if (ev->syscall.entry_seen && ev->syscall.returned)
        json_u64(j, "duration_us", ev->syscall.duration_ns / 1000);
}

static void json_event(const vmic_trace_event_t *ev)
{
    json j;
    json_init(&j, stdout);
    json_object_begin(&j, NULL);
    json_str(&j, "type", vmic_trace_kind_name(ev->kind));
    json_u64(&j, "seq", ev->seq);
    json_u64(&j, "time_us", ev->time_ns / 1000);
    json_u64(&j, "vcpu", ev->vcpu);
    json_task(&j, &ev->task);
    switch (ev->kind) {
    case VMIC_TRACE_SYSCALL:
        json_syscall(&j, ev);
        break;
    case VMIC_TRACE_FORK:
        json_object_begin(&j, "child");
        json_task(&j, &ev->fork.child);
        json_object_end(&j);
        json_bool(&j, "thread", ev->fork.thread);
        json_bool(&j, "kernel", ev->fork.kernel);
        break;
    case VMIC_TRACE_EXEC:
        json_str(&j, "filename", ev->exec.filename);
        json_str(&j, "cmdline", ev->exec.cmdline);
        json_bool(&j, "cmdline_truncated", ev->exec.cmdline_truncated);
        json_str(&j, "old_comm", ev->exec.old_comm);
        break;
    case VMIC_TRACE_EXIT:
        json_i64(&j, "code", ev->exit.code);
        json_i64(&j, "status", ev->exit.status);
        json_i64(&j, "signal", ev->exit.signal);
        json_bool(&j, "core_dumped", ev->exit.core_dumped);
        json_bool(&j, "thread", ev->exit.thread);
        break;
    }
    json_object_end(&j);
    json_done(&j);
}

void trace_print_event(const vmic_trace_event_t *ev, bool as_json)
{
    if (as_json) {
        json_event(ev);
        return;
    }
    char line[4096];
    size_t need = vmic_trace_format(ev, line, sizeof line);
    printf("%s%s\n", line, need >= sizeof line ? "..." : "");
}

/* ---- the summary -------------------------------------------------------------------------- */

#define SUMMARY_ROWS 4096

static void json_summary(const vmic_trace_count_t *sc, size_t nsc, const vmic_trace_count_t *pc,
                         size_t npc, const vmic_trace_stats_t *st)
{
    json j;
    json_init(&j, stdout);
    json_object_begin(&j, NULL);
    json_str(&j, "type", "summary");
    json_array_begin(&j, "syscalls");
    for (size_t i = 0; i < nsc; i++) {
        json_object_begin(&j, NULL);
        json_str(&j, "name", sc[i].name);
        json_u64(&j, "nr", sc[i].nr);
        json_u64(&j, "calls", sc[i].calls);
        json_u64(&j, "errors", sc[i].errors);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_array_begin(&j, "processes");
    for (size_t i = 0; i < npc; i++) {
        json_object_begin(&j, NULL);
        json_i64(&j, "pid", pc[i].pid);
        json_str(&j, "comm", pc[i].name);
        json_u64(&j, "syscalls", pc[i].calls);
        json_u64(&j, "errors", pc[i].errors);
        json_u64(&j, "forks", pc[i].forks);
        json_u64(&j, "execs", pc[i].execs);
        json_u64(&j, "exits", pc[i].exits);
        json_object_end(&j);
    }
    json_array_end(&j);
    json_u64(&j, "events", st->events);
    json_u64(&j, "hits", st->hits);
    json_u64(&j, "filtered", st->filtered);
    json_u64(&j, "unmatched", st->unmatched);
    json_u64(&j, "dropped", st->dropped);
    json_u64(&j, "read_errors", st->read_errors);
    json_u64(&j, "late_reads", st->late_reads);
    json_object_end(&j);
    json_done(&j);
}

static void text_summary(const vmic_trace_count_t *sc, size_t nsc, const vmic_trace_count_t *pc,
                         size_t npc, const vmic_trace_stats_t *st)
{
    fprintf(stderr, "\n%10s %8s  %s\n", "calls", "errors", "syscall");
    for (size_t i = 0; i < nsc; i++)
        fprintf(stderr, "%10" PRIu64 " %8" PRIu64 "  %s\n", sc[i].calls, sc[i].errors,
                sc[i].name);
    fprintf(stderr, "\n%7s %-16s %9s %7s %6s %6s %6s\n", "pid", "comm", "syscalls", "errors",
            "forks", "execs", "exits");
    for (size_t i = 0; i < npc; i++)
        fprintf(stderr, "%7d %-16s %9" PRIu64 " %7" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64
                "\n", (int)pc[i].pid, pc[i].name, pc[i].calls, pc[i].errors, pc[i].forks,
                pc[i].execs, pc[i].exits);
    fprintf(stderr, "\n%" PRIu64 " events from %" PRIu64 " breakpoint hits (%" PRIu64
            " filtered out, %" PRIu64 " returns without their entry, %" PRIu64
            " unreadable)\n", st->events, st->hits, st->filtered, st->unmatched,
            st->read_errors);
    /* Captured events whose decoding read memory after the vCPU went on. */
    if (st->late_reads)
        fprintf(stderr, "%" PRIu64 " reads outside the plugin's captures (done later than "
                "their call)\n", st->late_reads);
}

const char *trace_path_name(const vmic_tracer *t, const vmic_driver_info_t *info)
{
    if (vmic_tracer_tap(t) == VMIC_TAP_EXEC_WATCH)
        return "plugin";
    /* Views on QEMU are the plugin's (pages without X). */
    if (vmic_tracer_tap(t) == VMIC_TAP_MEMORY && strcmp(info->driver, "qemu") == 0)
        return "plugin-views";
    return strcmp(info->driver, "qemu") == 0 ? "gdbstub" : info->driver;
}

/* The path in words, for the first line. */
static const char *path_words(const vmic_tracer *t, const char *path)
{
    if (strcmp(path, "plugin") == 0 && vmic_tracer_captures(t))
        return "vmic's QEMU plugin (each vCPU copies what a call needs and goes on)";
    if (strcmp(path, "plugin") == 0)
        return "vmic's QEMU plugin (only the vCPU at a breakpoint waits)";
    if (strcmp(path, "plugin-views") == 0)
        return "vmic's QEMU plugin, in a view whose breakpoint pages lack X (each "
               "instruction on them waits)";
    if (strcmp(path, "gdbstub") == 0)
        return "QEMU's gdbstub (every hit stops the VM; vmic's plugin goes faster)";
    return "the driver's breakpoints";
}

void trace_print_start(const vmic_tracer *t, const vmic_driver_info_t *info, bool as_json)
{
    const char *path = trace_path_name(t, info);
    fprintf(stderr, "vmic trace: tracing %s through %s with %zu breakpoints (SIGINT to "
            "detach)\n", info->source, path_words(t, path), vmic_tracer_breakpoints(t));
    if (!as_json)
        return;
    json j;
    json_init(&j, stdout);
    json_object_begin(&j, NULL);
    json_str(&j, "type", "start");
    json_str(&j, "source", info->source);
    json_str(&j, "path", path);
    json_u64(&j, "breakpoints", vmic_tracer_breakpoints(t));
    json_bool(&j, "capture", vmic_tracer_captures(t));
    json_object_end(&j);
    json_done(&j);
}

void trace_print_summary(const vmic_tracer *t, bool as_json)
{
    vmic_trace_count_t *sc = calloc(SUMMARY_ROWS, sizeof *sc);
    vmic_trace_count_t *pc = calloc(SUMMARY_ROWS, sizeof *pc);
    if (!sc || !pc) {
        free(sc);
        free(pc);
        return;
    }
    size_t nsc = vmic_tracer_syscall_counts(t, sc, SUMMARY_ROWS);
    size_t npc = vmic_tracer_process_counts(t, pc, SUMMARY_ROWS);
    if (nsc > SUMMARY_ROWS)
        nsc = SUMMARY_ROWS;
    if (npc > SUMMARY_ROWS)
        npc = SUMMARY_ROWS;
    vmic_trace_stats_t st;
    vmic_tracer_stats(t, &st);
    if (as_json)
        json_summary(sc, nsc, pc, npc, &st);
    else
        text_summary(sc, nsc, pc, npc, &st);
    free(sc);
    free(pc);
}

void trace_print_plugin(vmic_driver *d, bool as_json)
{
    vmic_qemu_plugin_stats_t st;
    if (vmic_qemu_plugin_stats(d, &st) != VMIC_OK || !st.used) {
        vmic_clear_error();
        return;
    }
    fprintf(stderr, "vmic trace: plugin: %" PRIu64 " events made, %" PRIu64 " traced, %" PRIu64
            " let go at the end, %" PRIu64 " dropped; watches applied %u times (last in %u ms, "
            "at most %u ms; %u QMP stop/cont)\n", st.made, st.delivered, st.let_go, st.dropped,
            st.applies, st.apply_ms_last, st.apply_ms_max, st.kicks);
    if (!as_json)
        return;
    json j;
    json_init(&j, stdout);
    json_object_begin(&j, NULL);
    json_str(&j, "type", "plugin");
    json_u64(&j, "made", st.made);
    json_u64(&j, "delivered", st.delivered);
    json_u64(&j, "let_go", st.let_go);
    json_u64(&j, "dropped", st.dropped);
    json_u64(&j, "applies", st.applies);
    json_u64(&j, "apply_ms_last", st.apply_ms_last);
    json_u64(&j, "apply_ms_max", st.apply_ms_max);
    json_u64(&j, "kicks", st.kicks);
    json_object_end(&j);
    json_done(&j);
}

/* ---- --list ------------------------------------------------------------------------------------ */

void trace_print_table(const vmic_syscall_t *table, size_t count, bool as_json)
{
    json j;
    json_init(&j, stdout);
    if (as_json)
        json_array_begin(&j, NULL);
    for (size_t i = 0; i < count; i++) {
        const vmic_syscall_t *sc = &table[i];
        if (as_json) {
            json_object_begin(&j, NULL);
            json_u64(&j, "nr", sc->nr);
            json_str(&j, "name", sc->name);
            json_hex(&j, "handler", sc->handler.addr);
            json_bool(&j, "implemented", sc->implemented);
            json_bool(&j, "metadata", sc->has_metadata);
            json_i64(&j, "nargs", sc->nargs);
            json_array_begin(&j, "args");
            for (int a = 0; a < sc->nargs; a++) {
                json_object_begin(&j, NULL);
                json_str(&j, "name", sc->args[a].name);
                json_str(&j, "type", sc->args[a].type);
                json_object_end(&j);
            }
            json_array_end(&j);
            json_object_end(&j);
            continue;
        }
        printf("%4u  %016" PRIx64 "  %s(", sc->nr, sc->handler.addr, sc->name);
        if (sc->nargs < 0)
            printf("?");
        for (int a = 0; a < sc->nargs; a++)
        {
            size_t n = strlen(sc->args[a].type);
            bool star = n && sc->args[a].type[n - 1] == '*';
            printf("%s%s%s%s", a ? ", " : "", sc->args[a].type, star ? "" : " ",
                   sc->args[a].name);
        }
        printf(")%s\n", sc->implemented ? "" : "  (not implemented)");
    }
    if (as_json) {
        json_array_end(&j);
        json_done(&j);
    }
}
