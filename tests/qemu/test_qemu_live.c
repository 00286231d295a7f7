/*
 * The qemu driver and `vmic boot` against a real QEMU running the fixture's
 * Debian kernel (TCG, 2 vCPUs), booted once through `vmic boot` itself:
 *
 *   argv[1]  the vmic binary      argv[2]  a fixture dir (vmlinuz, initrd.gz)
 *
 * Truth comes from the guest and from QEMU, never from vmic: the guest's
 * /proc (kallsyms, iomem, version) written to ttyS1 during THIS boot (KASLR
 * moves everything every boot), QEMU's own "info registers" and "xp", and
 * QMP's query-status for whether the VM runs.
 *
 * Order matters: QEMU's gdbstub serves one client, so the command-line and
 * bad-endpoint checks run before the test's own session opens, and killing
 * QEMU comes last.
 */
#include <inttypes.h>

#include "harness.h"
#include "live.h"
#include "truth.h"

#define READY "=== VMIC-FIXTURE-READY ==="

static const char *vmic_bin;
static char dir[256], truth_dir[256], target[300];
static vmic_core *core;
static live_qmp qmp;
static truth_sym *syms;
static size_t nsyms;

static uint64_t sym(const char *name)
{
    const truth_sym *s = truth_find_sym(syms, nsyms, name);
    return s ? s->addr : 0;
}

/* QMP's query-status. The test holds QMP only while vmic does not need it
 * (QEMU serves one QMP client per socket): without a session, briefly. */
static bool vm_running(void)
{
    bool running = false, own = !qmp.open;
    if (own && live_qmp_open(&qmp, dir) != VMIC_OK) {
        fprintf(stderr, "  QMP: %s\n", vmic_errmsg());
        return false;
    }
    if (qmp_running(&qmp.q, &running, NULL, 0) != VMIC_OK)
        fprintf(stderr, "  query-status: %s\n", vmic_errmsg());
    if (own)
        live_qmp_close(&qmp);
    return running;
}

static void vm_cont(void)
{
    bool own = !qmp.open;
    if (own && live_qmp_open(&qmp, dir) != VMIC_OK)
        return;
    qmp_execute(&qmp.q, "cont", NULL, 0, NULL);
    if (own)
        live_qmp_close(&qmp);
}

static vmic_ctx_t kernel_ctx(void)
{
    vmic_amd64_regs_t r;
    if (vmic_get_regs(core, 0, &r) != VMIC_OK)
        return vmic_ctx(vmic_pa(0));
    return vmic_ctx(vmic_pa(r.cr3));
}

/* ---- before the session: the command line, bad endpoints ---------------------- */

static void test_cli_info_live(void)
{
    static char out[1 << 16];
    char *argv[] = {(char *)vmic_bin, "info", "--json", target, NULL};
    CHECK_EQ(live_run(argv, out, sizeof out, 60), 0);
    CHECK(strstr(out, "\"driver\":\"qemu\"") != NULL);
    CHECK(strstr(out, "\"caps\":\"read,write,registers,set-registers,pause,events,views,singlestep,"
                      "hw-breakpoint,watchpoint,exec-watch\"") != NULL);
    CHECK(strstr(out, "\"vcpu\":1") != NULL);   /* the second vCPU is listed */
    CHECK(strstr(out, "\"cr3\":") != NULL);
    /* It paused the VM to look and resumed it. */
    CHECK(vm_running());
}

static void test_cli_attach(void)
{
    static char out[1 << 16];
    char gdb[300], qmpsock[300], mem[300];
    snprintf(gdb, sizeof gdb, "%s/gdb.sock", dir);
    snprintf(qmpsock, sizeof qmpsock, "unix:%s/qmp.sock", dir);
    snprintf(mem, sizeof mem, "%s/ram", dir);
    char *argv[] = {(char *)vmic_bin, "attach", "--gdb", gdb, "--qmp", qmpsock, "--mem", mem,
                    NULL};
    CHECK_EQ(live_run(argv, out, sizeof out, 60), 0);
    char first[1024];
    snprintf(first, sizeof first, "target    qemu:gdb=%s,qmp=%s,mem=%s\n", gdb, qmpsock, mem);
    CHECK_MSG(strncmp(out, first, strlen(first)) == 0, "attach printed: %.200s", out);
    CHECK(strstr(out, "vcpus     2") != NULL);
    CHECK(vm_running());
}

static char kernel[600], initrd[600]; /* the fixture's */

/* A guest kernel that panics before --wait-serial's text: vmic boot says
 * that it panicked, and why (its console), not only that QEMU exited. No
 * init in the initramfs by that name and no root= to fall back on: "VFS:
 * Unable to mount root fs", a panic a few seconds into the boot. */

static void test_boot_says_guest_panicked(void)
{
    static char out[1 << 14];
    char pdir[256];
    live_tmpdir(pdir, sizeof pdir, "panic");
    char *argv[] = {(char *)vmic_bin, "boot", "--json", "--dir", pdir, "--kernel", kernel,
                    "--initrd", initrd, "--no-plugin", "--append",
                    "console=ttyS0 panic=-1 rdinit=/vmic-no-such-init", "--wait-serial",
                    "=== VMIC-FIXTURE-READY ===", "--timeout", "120", NULL};
    int rc = live_run(argv, out, sizeof out, 150);
    CHECK(rc != 0);
    CHECK_MSG(strstr(out, "the guest kernel panicked before it wrote") != NULL, "printed: %.600s",
              out);
    CHECK_MSG(strstr(out, "Kernel panic - not syncing") != NULL, "printed: %.600s", out);
    struct stat st;
    CHECK_MSG(stat(pdir, &st) != 0, "%s is still there", pdir); /* boot removed it */
    if (stat(pdir, &st) == 0)
        live_stop(vmic_bin, pdir);
}

static void test_bad_endpoints(void)
{
    vmic_driver *drv;
    char gdb[300], qmps[300], mem[300];
    snprintf(gdb, sizeof gdb, "%s/gdb.sock", dir);
    snprintf(qmps, sizeof qmps, "%s/qmp.sock", dir);
    snprintf(mem, sizeof mem, "%s/ram", dir);
    vmic_qemu_config_t cfg = {.gdb = gdb, .qmp = qmps, .mem = mem, .timeout_ms = 500};

    /* Nothing there. */
    cfg.gdb = "/nonexistent/gdb.sock";
    CHECK_ERR(vmic_qemu_open(&cfg, &drv), VMIC_E_IO);
    CHECK_ERRMSG("unix:/nonexistent/gdb.sock");

    /* A RAM file that is not this QEMU's. */
    cfg.gdb = gdb;
    cfg.mem = "/proc/self/exe";
    CHECK_ERR(vmic_qemu_open(&cfg, &drv), VMIC_E_NOTFOUND);
    CHECK_ERRMSG("is not the RAM of this QEMU");
    CHECK_ERRMSG("ram0 mem-path=");

    /* QMP where the gdbstub should be: no answer to qSupported, in time. */
    cfg.mem = mem;
    cfg.gdb = qmps;
    double t0 = live_now();
    CHECK(vmic_qemu_open(&cfg, &drv) != VMIC_OK);
    CHECK(live_now() - t0 < 3.0);
    CHECK_ERRMSG("gdbstub");

    /* The gdbstub where QMP should be: refused as "not QMP" (connecting to a
     * gdbstub stops the VM: QEMU does that to every gdb client). */
    cfg.gdb = gdb;
    cfg.qmp = gdb;
    t0 = live_now();
    CHECK(vmic_qemu_open(&cfg, &drv) != VMIC_OK);
    CHECK(live_now() - t0 < 3.0);
    CHECK_ERRMSG("QMP");
    if (!vm_running())
        vm_cont();
    CHECK(vm_running());
}

/* ---- the session ------------------------------------------------------------------ */

static void test_info(void)
{
    const vmic_driver_info_t *info = vmic_core_info(core);
    CHECK_STR(info->driver, "qemu");
    CHECK_STR(info->source, target);
    CHECK_EQ(info->caps, VMIC_CAP_READ | VMIC_CAP_WRITE | VMIC_CAP_REGISTERS |
                         VMIC_CAP_SET_REGISTERS | VMIC_CAP_PAUSE | VMIC_CAP_EVENTS |
                         VMIC_CAP_SINGLESTEP | VMIC_CAP_HW_BREAKPOINT | VMIC_CAP_WATCHPOINT |
                         VMIC_CAP_EXEC_WATCH | VMIC_CAP_VIEWS); /* vmic boot loads the plugin:
                                                                   exec watches, and views
                                                                   without data traps */
    CHECK(info->flags & VMIC_DRIVER_INFO_PLUGIN);
    CHECK_EQ(info->vcpu_count, 2);
    CHECK_EQ(info->nregions, 1);
    CHECK_EQ(info->regions[0].start.addr, 0);
    CHECK_EQ(info->regions[0].size, 256ull << 20);
    CHECK(info->regions[0].host != NULL && info->regions[0].writable);
    CHECK_EQ(info->mem_size, 256ull << 20);
    /* Attaching left the VM running. */
    CHECK(vm_running());
}

static void test_registers_match_qemu(void)
{
    CHECK_OK(vmic_pause(core));
    CHECK(!vm_running());
    char *text = live_hmp(&qmp, "info registers -a");
    CHECK(text != NULL);
    for (unsigned v = 0; v < 2; v++) {
        vmic_amd64_regs_t r;
        CHECK_OK(vmic_get_regs(core, v, &r));
        CHECK_EQ(r.valid, VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_CR | VMIC_REGS_EFER);
        char block[8192];
        const char *b = live_cpu_block(text, v, block, sizeof block);
        CHECK_MSG(b != NULL, "no CPU#%u in info registers", v);
        struct { const char *key; uint64_t mine; } regs[] = {
            {"RAX=", r.rax}, {"RBX=", r.rbx}, {"RCX=", r.rcx}, {"RDX=", r.rdx},
            {"RSI=", r.rsi}, {"RDI=", r.rdi}, {"RBP=", r.rbp}, {"RSP=", r.rsp},
            {"R8 =", r.r8}, {"R9 =", r.r9}, {"R10=", r.r10}, {"R11=", r.r11},
            {"R12=", r.r12}, {"R13=", r.r13}, {"R14=", r.r14}, {"R15=", r.r15},
            {"RIP=", r.rip}, {"RFL=", r.rflags}, {"CR0=", r.cr0}, {"CR2=", r.cr2},
            {"CR3=", r.cr3}, {"CR4=", r.cr4}, {"EFER=", r.efer},
        };
        for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
            uint64_t q;
            CHECK_MSG(live_hmp_reg(b, regs[i].key, &q), "no %s for CPU#%u", regs[i].key, v);
            CHECK_MSG(q == regs[i].mine, "vCPU %u %s QEMU 0x%" PRIx64 " vmic 0x%" PRIx64, v,
                      regs[i].key, q, regs[i].mine);
        }
        struct { const char *key; const vmic_amd64_segment_t *s; bool base; } segs[] = {
            {"ES =", &r.es, false}, {"CS =", &r.cs, false}, {"SS =", &r.ss, false},
            {"DS =", &r.ds, false}, {"FS =", &r.fs, true}, {"GS =", &r.gs, true},
        };
        for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) {
            uint64_t sel, base;
            CHECK(live_hmp_seg(b, segs[i].key, &sel, &base));
            CHECK_MSG(sel == segs[i].s->selector, "vCPU %u %s selector", v, segs[i].key);
            if (segs[i].base)
                CHECK_MSG(base == segs[i].s->base, "vCPU %u %s base 0x%" PRIx64 " vmic 0x%"
                          PRIx64, v, segs[i].key, base, segs[i].s->base);
        }
        /* A Linux kernel in long mode with paging: what the paging code needs. */
        CHECK(r.cr0 & VMIC_CR0_PG);
        CHECK(r.efer & VMIC_EFER_LMA);
    }
    free(text);
    CHECK_OK(vmic_resume(core));
    CHECK(vm_running());
}

static void test_memory_matches_guest_truth(void)
{
    char version[512], banner[512];
    CHECK(truth_line(truth_dir, "version.txt", version, sizeof version));
    uint64_t va = sym("linux_banner");
    CHECK(va != 0);
    CHECK_OK(vmic_pause(core));
    vmic_ctx_t ctx = kernel_ctx();
    size_t len;
    /* The banner ends in "\n"; /proc/version printed it without. */
    CHECK_OK(vmic_read_str_va(core, ctx, vmic_va(va), banner, sizeof banner - 1, &len));
    banner[strcspn(banner, "\n")] = '\0';
    CHECK_STR(banner, version);

    size_t n;
    truth_range *iomem = truth_iomem(truth_dir, &n);
    const truth_range *code = truth_find_range(iomem, n, "Kernel code");
    CHECK(code != NULL);
    vmic_pa_t pa;
    CHECK_OK(vmic_translate(core, ctx, vmic_va(sym("_text")), &pa));
    CHECK_EQ(pa.addr, code->start);
    free(iomem);
    CHECK_OK(vmic_resume(core));
}

/*
 * Waits (up to 5 s) for the guest to advance jiffies_64, reading it through
 * the live RAM mapping; returns the new value and when it was seen. An idle
 * NO_HZ guest ticks only when it has a timer to run, hence the wait.
 */
static bool next_tick(vmic_ctx_t ctx, uint64_t jva, uint64_t *j, double *when)
{
    uint64_t start, now;
    if (vmic_read_u64_va(core, ctx, vmic_va(jva), &start) != VMIC_OK)
        return false;
    for (double t0 = live_now(); live_now() - t0 < 5.0;) {
        if (vmic_read_u64_va(core, ctx, vmic_va(jva), &now) != VMIC_OK)
            return false;
        if (now != start) {
            *j = now;
            *when = live_now();
            return true;
        }
        live_sleep_ms(5);
    }
    return false;
}

/*
 * Pausing stops the guest's clock with it (QEMU's virtual clock stops with
 * the VM): across a 2 s pause, the guest's jiffies advance by the running
 * time only. If the pause had not stopped the VM, the guest would count the
 * whole wall time.
 */
static void test_pause_stops_the_guest(void)
{
    const uint64_t hz = 250;   /* CONFIG_HZ of Debian's kernels */
    uint64_t jva = sym("jiffies_64"), j0, j1, j2, j3;
    double w0, w1;
    CHECK(jva != 0);
    CHECK_OK(vmic_pause(core));      /* for CR3 */
    vmic_ctx_t ctx = kernel_ctx();
    CHECK(ctx.root.addr != 0);
    CHECK_OK(vmic_resume(core));

    CHECK_MSG(next_tick(ctx, jva, &j0, &w0), "the running guest did not tick within 5 s");
    CHECK_OK(vmic_pause(core));
    CHECK_OK(vmic_pause(core));   /* idempotent */
    CHECK(!vm_running());
    CHECK_OK(vmic_read_u64_va(core, ctx, vmic_va(jva), &j1));
    live_sleep_ms(2000);
    CHECK_OK(vmic_read_u64_va(core, ctx, vmic_va(jva), &j2));
    CHECK_MSG(j1 == j2, "jiffies moved while paused: %" PRIu64 " -> %" PRIu64, j1, j2);
    CHECK_OK(vmic_resume(core));
    CHECK_OK(vmic_resume(core));  /* idempotent */
    CHECK(vm_running());
    CHECK_MSG(next_tick(ctx, jva, &j3, &w1), "the resumed guest did not tick within 5 s");

    double guest = (double)(j3 - j0) / (double)hz, wall = w1 - w0;
    fprintf(stderr, "  across a 2 s pause: guest time %.2f s, wall time %.2f s\n", guest, wall);
    CHECK_MSG(guest < wall - 1.5, "guest time %.2f s is not ~2 s short of wall time %.2f s",
              guest, wall);
    CHECK(guest >= 0);

    /* Registers of a running VM: refused, not stale. */
    vmic_amd64_regs_t r;
    CHECK_ERR(vmic_get_regs(core, 0, &r), VMIC_E_BUSY);
    CHECK_ERRMSG("running");
}

static void test_external_stop_and_cont(void)
{
    vmic_amd64_regs_t r;

    /* Someone else stops the VM through QMP: the gdbstub tells us. */
    CHECK(vm_running());
    CHECK_OK(qmp_execute(&qmp.q, "stop", NULL, 0, NULL));
    CHECK_OK(vmic_get_regs(core, 0, &r));
    /* Someone else resumes it behind our back: the next gdb packet arrives
     * while it runs (QEMU would drop its first byte) and still gets its
     * reply; the VM is stopped again, as vmic believed. */
    CHECK_OK(qmp_execute(&qmp.q, "cont", NULL, 0, NULL));
    CHECK(vm_running());
    CHECK_OK(vmic_get_regs(core, 1, &r));
    CHECK(r.valid & VMIC_REGS_CR);
    CHECK(!vm_running());

    /* Again with vCPU 1 already selected: stopping the VM makes QEMU point
     * its register accesses at the vCPU it reports as stopped (vCPU 0), so
     * the reply must not be taken for vCPU 1's. QEMU's own view decides. */
    CHECK_OK(qmp_execute(&qmp.q, "cont", NULL, 0, NULL));
    CHECK(vm_running());
    CHECK_OK(vmic_get_regs(core, 1, &r));
    CHECK(!vm_running());
    char *text = live_hmp(&qmp, "info registers -a");
    char block[8192];
    uint64_t rsp = 0, cr3 = 0;
    const char *b = text ? live_cpu_block(text, 1, block, sizeof block) : NULL;
    free(text);
    CHECK(b && live_hmp_reg(b, "RSP=", &rsp) && live_hmp_reg(b, "CR3=", &cr3));
    CHECK_MSG(r.rsp == rsp && r.cr3 == cr3, "vCPU 1: vmic rsp 0x%" PRIx64 " cr3 0x%" PRIx64
              ", QEMU rsp 0x%" PRIx64 " cr3 0x%" PRIx64, r.rsp, r.cr3, rsp, cr3);
    CHECK_OK(vmic_resume(core));
    CHECK(vm_running());
}

static void test_writes_seen_by_qemu(void)
{
    uint64_t orig, seen, mark = 0x5453455443494d56ull;   /* "VMICTEST" */
    vmic_pa_t pa;

    CHECK_OK(vmic_pause(core));
    CHECK_OK(vmic_translate(core, kernel_ctx(), vmic_va(sym("linux_banner")), &pa));
    CHECK_OK(vmic_read_u64_pa(core, pa, &orig));
    CHECK(live_xp64(&qmp, pa.addr, &seen));
    CHECK_EQ(seen, orig);
    CHECK_OK(vmic_write_pa(core, pa, &mark, sizeof mark));
    CHECK(live_xp64(&qmp, pa.addr, &seen));
    CHECK_EQ(seen, mark);
    CHECK_OK(vmic_write_pa(core, pa, &orig, sizeof orig));
    CHECK(live_xp64(&qmp, pa.addr, &seen));
    CHECK_EQ(seen, orig);
    CHECK_OK(vmic_resume(core));
}

static void test_set_regs_seen_by_qemu(void)
{
    vmic_amd64_regs_t orig, r;
    uint64_t q;

    CHECK_OK(vmic_pause(core));
    CHECK_OK(vmic_get_regs(core, 1, &orig));
    r = orig;
    r.rax = 0x1122334455667788ull;
    r.r11 = 0x0badc0de0badc0deull;
    CHECK_OK(vmic_set_regs(core, 1, &r));
    char *text = live_hmp(&qmp, "info registers -a");
    CHECK(text != NULL);
    char block[8192];
    const char *b = live_cpu_block(text, 1, block, sizeof block);
    CHECK(b && live_hmp_reg(b, "RAX=", &q) && q == r.rax);
    CHECK(b && live_hmp_reg(b, "R11=", &q) && q == r.r11);
    free(text);
    CHECK_OK(vmic_get_regs(core, 1, &r));
    CHECK_EQ(r.rax, 0x1122334455667788ull);
    /* Only that vCPU. */
    vmic_amd64_regs_t other;
    CHECK_OK(vmic_get_regs(core, 0, &other));
    CHECK(other.rax != 0x1122334455667788ull);
    CHECK_OK(vmic_set_regs(core, 1, &orig));
    CHECK_OK(vmic_get_regs(core, 1, &r));
    CHECK_EQ(r.rax, orig.rax);
    CHECK_EQ(r.r11, orig.r11);

    /* What the gdbstub cannot write is refused, not dropped silently. */
    r.valid |= VMIC_REGS_DT;
    CHECK_ERR(vmic_set_regs(core, 1, &r), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("GDTR/IDTR");
    CHECK_OK(vmic_resume(core));
}

/*
 * The gdb primitives the event layer will use, on this QEMU, through a raw
 * connection (no session open): a breakpoint on a function every timer tick
 * runs, a write watchpoint on jiffies_64, a single-step; each must come back
 * as the stop reply the event layer will turn into an event.
 */
static gdb_remote_t raw;
static gdb_regmap_t map;

static void gdb_primitives(void)
{
    gdb_remote_t *g = &raw;
    gdb_stop_t stop;
    vmic_amd64_regs_t r;
    uint64_t bp = sym("update_process_times"), jiffies = sym("jiffies_64");

    CHECK(bp && jiffies);
    CHECK_OK(gdb_handshake(g));
    CHECK_OK(gdb_target_read(g, &map));

    /* Software breakpoint (QEMU: a TCG breakpoint, guest memory untouched). */
    CHECK_OK(gdb_insert_point(g, GDB_POINT_SW_BREAK, bp, 1));
    CHECK_OK(gdb_continue(g));
    CHECK_OK(gdb_wait_stop(g, 10000, &stop));
    CHECK_EQ(stop.signal, 5);
    CHECK(stop.has_thread && stop.thread >= 1 && stop.thread <= 2);
    CHECK_OK(gdb_select_thread(g, stop.thread));
    CHECK_OK(regs_read(g, &map, &r));
    CHECK_MSG(r.rip == bp, "stopped at 0x%" PRIx64 ", breakpoint at 0x%" PRIx64, r.rip, bp);
    CHECK_OK(gdb_remove_point(g, GDB_POINT_SW_BREAK, bp, 1));

    /* Single-step that vCPU off the breakpoint: one instruction on. */
    uint32_t t = stop.thread;
    CHECK_OK(gdb_step(g, t));
    CHECK_OK(gdb_wait_stop(g, 5000, &stop));
    CHECK_EQ(stop.thread, t);
    CHECK_OK(gdb_select_thread(g, t));
    CHECK_OK(regs_read(g, &map, &r));
    CHECK_MSG(r.rip > bp && r.rip < bp + 16, "stepped to 0x%" PRIx64 " from 0x%" PRIx64, r.rip,
              bp);

    /* Write watchpoint: the timer tick writes jiffies_64. */
    CHECK_OK(gdb_insert_point(g, GDB_POINT_WRITE_WATCH, jiffies, 8));
    CHECK_OK(gdb_continue(g));
    CHECK_OK(gdb_wait_stop(g, 10000, &stop));
    CHECK_EQ(stop.watch, GDB_WATCH_WRITE);
    CHECK_EQ(stop.watch_addr, jiffies);
    CHECK_OK(gdb_remove_point(g, GDB_POINT_WRITE_WATCH, jiffies, 8));

}

static void test_gdb_primitives_on_qemu(void)
{
    char path[300];
    qemu_endpoint_t ep;
    int fd;

    snprintf(path, sizeof path, "%s/gdb.sock", dir);
    CHECK_OK(endpoint_parse("gdb", path, &ep));
    CHECK_OK(endpoint_connect("gdb", &ep, 2000, &fd));
    CHECK_OK(gdb_init(&raw, fd, ep.name, 5000));
    gdb_primitives();
    /* Whatever failed: detach (QEMU removes what is left and resumes). */
    bool failed = harness_current_failed;
    if (!raw.dead && gdb_command_ok(&raw, "D") != VMIC_OK)
        fprintf(stderr, "  detach: %s\n", vmic_errmsg());
    gdb_regmap_free(&map);
    gdb_close(&raw);
    harness_current_failed = failed;
    CHECK(vm_running());
}

static void test_second_client_times_out(void)
{
    /* QEMU serves one gdb client: a second one gets no answer, and says so
     * within its timeout instead of hanging. */
    vmic_qemu_config_t cfg = {.timeout_ms = 500};
    vmic_driver *drv;
    double t0 = live_now();
    CHECK(vmic_qemu_open_target(target, &cfg, &drv) != VMIC_OK);
    CHECK(live_now() - t0 < 3.0);
    CHECK_ERRMSG("gdb");
    CHECK(vm_running());
}

static void test_qemu_killed_mid_session(void)
{
    pid_t pid = 0;
    char path[300];
    snprintf(path, sizeof path, "%s/qemu.pid", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    CHECK(fscanf(f, "%d", &pid) == 1);
    fclose(f);
    CHECK(pid > 1);
    live_qmp_close(&qmp);
    CHECK(kill(pid, SIGKILL) == 0);
    for (int i = 0; i < 200 && kill(pid, 0) == 0; i++)
        live_sleep_ms(10);

    double t0 = live_now();
    CHECK_ERR(vmic_pause(core), VMIC_E_IO);
    CHECK(live_now() - t0 < 1.0);
    char where[320];
    snprintf(where, sizeof where, "gdb unix:%s/gdb.sock", dir);
    CHECK_ERRMSG(where);
    CHECK_ERRMSG("closed by the peer");
    vmic_amd64_regs_t r;
    t0 = live_now();
    CHECK_ERR(vmic_get_regs(core, 0, &r), VMIC_E_IO);
    CHECK_ERR(vmic_resume(core), VMIC_E_IO);
    CHECK(live_now() - t0 < 0.1);
    t0 = live_now();
    vmic_core_close(core);
    core = NULL;
    CHECK(live_now() - t0 < 0.5);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s VMIC_BINARY FIXTURE_DIR\n", argv[0]);
        return 2;
    }
    live_require_qemu("qemu live tests");
    vmic_bin = argv[1];
    snprintf(kernel, sizeof kernel, "%s/vmlinuz", argv[2]);
    snprintf(initrd, sizeof initrd, "%s/initrd.gz", argv[2]);
    if (access(kernel, R_OK) != 0 || access(initrd, R_OK) != 0) {
        fprintf(stderr, "*** SKIP: no fixture kernel in %s (scripts/make-fixture.sh) ***\n",
                argv[2]);
        return 77;
    }

    live_tmpdir(dir, sizeof dir, "live");   /* new, empty, 0700: boot takes it */
    live_tmpdir(truth_dir, sizeof truth_dir, "truth");
    snprintf(target, sizeof target, "qemu:%s", dir);

    static char out[8192];
    char *boot[] = {(char *)vmic_bin, "boot", "--quiet", "--dir", dir, "--kernel", kernel,
                    "--initrd", initrd, "--smp", "2", "--wait-serial", READY, "--timeout", "150",
                    NULL};
    double t0 = live_now();
    int rc = live_run(boot, out, sizeof out, 170);
    fprintf(stderr, "  vmic boot: exit %d after %.1f s: %s", rc, live_now() - t0, out);
    if (rc != 0 || strncmp(out, target, strlen(target)) != 0) {
        fprintf(stderr, "FAIL vmic boot\n");
        live_stop(vmic_bin, dir);
        return 1;
    }
    char serial[300];
    snprintf(serial, sizeof serial, "%s/serial1.log", dir);
    live_split_truth(serial, truth_dir);
    syms = truth_kallsyms(truth_dir, &nsyms);
    fprintf(stderr, "  this boot's truth: %zu symbols, linux_banner at 0x%" PRIx64 "\n", nsyms,
            sym("linux_banner"));

    RUN(test_cli_info_live);
    RUN(test_cli_attach);

    vmic_driver *drv;
    vmic_qemu_config_t cfg = {.timeout_ms = 5000};
    vmic_status s = vmic_qemu_open_target(target, &cfg, &drv);
    if (s == VMIC_OK)
        s = vmic_core_open(drv, NULL, &core);
    if (s != VMIC_OK) {
        fprintf(stderr, "FAIL open %s: %s\n", target, vmic_errmsg());
        live_stop(vmic_bin, dir);
        return 1;
    }
    live_qmp_open(&qmp, dir);
    RUN(test_info);
    RUN(test_registers_match_qemu);
    RUN(test_memory_matches_guest_truth);
    RUN(test_pause_stops_the_guest);
    RUN(test_external_stop_and_cont);
    RUN(test_writes_seen_by_qemu);
    RUN(test_set_regs_seen_by_qemu);
    /* The session's end must leave the VM running, ready for the next. */
    vmic_core_close(core);
    core = NULL;
    live_qmp_close(&qmp);
    if (!vm_running()) {
        fprintf(stderr, "FAIL closing the session left the VM paused\n");
        harness_failures++;
    }

    RUN(test_gdb_primitives_on_qemu);
    RUN(test_bad_endpoints);

    s = vmic_qemu_open_target(target, &cfg, &drv);
    if (s == VMIC_OK)
        s = vmic_core_open(drv, NULL, &core);
    if (s != VMIC_OK) {
        fprintf(stderr, "FAIL reopen: %s\n", vmic_errmsg());
        harness_failures++;
    } else {
        RUN(test_second_client_times_out);
        RUN(test_qemu_killed_mid_session);
    }
    if (core)
        vmic_core_close(core);
    live_qmp_close(&qmp);

    /* --stop cleans up even after QEMU died. */
    rc = live_stop(vmic_bin, dir);
    struct stat st;
    if (rc != 0 || stat(dir, &st) == 0) {
        fprintf(stderr, "FAIL vmic boot --stop: exit %d, %s %s\n", rc, dir,
                stat(dir, &st) == 0 ? "still there" : "removed");
        harness_failures++;
    }
    RUN(test_boot_says_guest_panicked);
    free(syms);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", truth_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", truth_dir);
    return HARNESS_RESULT();
}
