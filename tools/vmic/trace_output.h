/* vmic trace's output: events as lines or JSON objects, the summary, and
 * --list's syscall table. */
#ifndef VMIC_TOOL_TRACE_OUTPUT_H
#define VMIC_TOOL_TRACE_OUTPUT_H

#include <vmic/vmic.h>

/* How the trace gets its events: "plugin" (exec watches in QEMU's TCG
 * plugin: only the hitting vCPU waits), "gdbstub" (every hit stops QEMU's
 * VM), or the driver's name (kvm). */
const char *trace_path_name(const vmic_tracer *t, const vmic_driver_info_t *info);
/* The first line: on stderr, and with --json also {"type":"start",...}
 * on stdout. */
void trace_print_start(const vmic_tracer *t, const vmic_driver_info_t *info, bool as_json);

/* One event on stdout: the strace-like line, or one JSON object. */
void trace_print_event(const vmic_trace_event_t *ev, bool as_json);

/* Calls per syscall and per process (text on stderr, JSON on stdout as
 * one {"type":"summary",...} object). */
void trace_print_summary(const vmic_tracer *t, bool as_json);

/* What vmic's QEMU plugin counted (a trace through it): on stderr, and
 * with --json one {"type":"plugin",...} object on stdout. */
void trace_print_plugin(vmic_driver *d, bool as_json);

/* The guest's syscall table: number, name, arguments. */
void trace_print_table(const vmic_syscall_t *table, size_t count, bool as_json);

#endif
