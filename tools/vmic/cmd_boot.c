/*
 * vmic boot: start a QEMU that vmic can attach to, in the background.
 *
 * Everything lives in one directory (see boot_dir.h): the gdbstub and QMP
 * sockets, the RAM file (memory-backend-file, share=on), the pid file and
 * the two serial ports' output. "qemu:DIR" is then the TARGET for every
 * command. QEMU daemonizes itself (-daemonize): its launcher exits only
 * once QEMU is initialised and its sockets listen, which is the first half of
 * "up"; attaching once through the three endpoints is the second.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "boot_dir.h"
#include "boot_plugin.h"
#include "cli.h"
#include "cli_clock.h"

static const char about[] =
    "Start QEMU in the background with the three endpoints vmic attaches to (a\n"
    "gdbstub, a QMP socket and guest RAM in a shared file), all in one\n"
    "directory, check that vmic can attach, and print the TARGET (qemu:DIR) to\n"
    "give other commands. QEMU keeps running after vmic exits; 'vmic boot\n"
    "--stop TARGET' shuts it down and removes the directory.\n\n"
    "It boots the kernel you give it: --kernel (and --initrd), else the files\n"
    "the environment names (VMIC_KERNEL, and VMIC_INITRD with it), else\n"
    "nothing but the firmware if --no-kernel says so. The test fixtures'\n"
    "kernels are made by scripts/make-fixture.sh (scripts/fixture-path.sh\n"
    "prints where one is).";

static const char epilog[] =
    "Environment:\n"
    "  VMIC_KERNEL   the kernel to boot when --kernel is not given\n"
    "  VMIC_INITRD   its initramfs (used with VMIC_KERNEL only)\n"
    "  VMIC_PLUGIN   the plugin to load when --plugin gives no PATH\n\n"
    "DIR holds gdb.sock, qmp.sock, ram, qemu.pid, console.log (ttyS0),\n"
    "serial1.log (ttyS1), qemu.log (QEMU's messages), cmdline.txt and target;\n"
    "with the plugin also plugin.ctl, the plugin's control block.\n\n"
    "Under TCG vmic's QEMU plugin, libvmic-qemu.so, is loaded by default\n"
    "(--no-plugin: not), as\n"
    "  -plugin PLUGIN,ram=DIR/ram,ctl=DIR/plugin.ctl\n"
    "so that `vmic trace` stops only the vCPU at a breakpoint, not the VM.\n"
    "It is the first of: --plugin=PATH, $VMIC_PLUGIN, EXEDIR/plugin/ (vmic's\n"
    "build tree), EXEDIR/../LIBDIR/vmic/, PREFIX/LIBDIR/vmic/ (installed);\n"
    "none found is an error with --plugin, else a note (QEMU runs without).\n";

typedef struct boot_opts {
    const char *kernel, *initrd, *disk, *append, *accel, *machine, *cpu, *dir, *qemu;
    const char *wait_serial;
    const char *plugin;      /* NULL: the default; "": the lookup; else the path */
    bool no_plugin;          /* --no-plugin */
    bool use_plugin;         /* plugin_path is loaded */
    char plugin_path[PATH_MAX];
    bool no_kernel, stop, quiet, json;
    uint64_t memory_mib;
    uint64_t smp;
    uint64_t timeout_s;
    char **extra;
    int nextra;
} boot_opts;

static int set_accel(const char *cmd, const char *value, void *dst)
{
    if (strcmp(value, "tcg") != 0 && strcmp(value, "kvm") != 0)
        return cli_usage(cmd, "--accel is tcg or kvm, not '%s'", value);
    *(const char **)dst = value;
    return 0;
}

static int parse_args(int argc, char **argv, boot_opts *o)
{
    const cli_opt opts[] = {
        CLI_STR("kernel", 0, "FILE", &o->kernel, "the kernel to boot (QEMU -kernel; default\n"
                "$VMIC_KERNEL)"),
        CLI_STR("initrd", 0, "FILE", &o->initrd, "its initramfs (default $VMIC_INITRD with\n"
                "$VMIC_KERNEL)"),
        CLI_STR("disk", 0, "IMG", &o->disk, "a raw disk image, as a virtio disk (/dev/vda)"),
        CLI_STR("append", 0, "ARGS", &o->append,
                "kernel command line (default 'console=ttyS0 panic=-1')"),
        CLI_FLAG("no-kernel", 0, &o->no_kernel,
                 "boot the firmware only (it finds nothing to boot)"),
        CLI_U64("memory", 'm', "MIB", &o->memory_mib, 16, 1u << 20,
                "guest RAM in MiB (default 256)"),
        CLI_U64("smp", 0, "N", &o->smp, 1, 255, "vCPUs (default 1)"),
        CLI_FN("accel", 0, "tcg|kvm", set_accel, &o->accel,
               "default tcg; KVM needs vmx/svm in the host CPU"),
        CLI_STR("machine", 0, "TYPE", &o->machine, "QEMU machine (default pc)"),
        CLI_STR("cpu", 0, "MODEL", &o->cpu, "default qemu64 under TCG, host under KVM"),
        CLI_STR("dir", 0, "DIR", &o->dir, "where QEMU's files go (default: a new directory\n"
                "/dev/shm/vmic-boot.XXXXXX, or under $TMPDIR); made\n"
                "0700 if missing, else it must be empty, yours and 0700"),
        CLI_STR("qemu", 0, "BINARY", &o->qemu, "default qemu-system-x86_64"),
        CLI_STR("wait-serial", 0, "TEXT", &o->wait_serial,
                "then wait until the guest writes TEXT to its\nsecond serial port (ttyS1)"),
        CLI_U64("timeout", 0, "SEC", &o->timeout_s, 1, 86400,
                "longest wait for QEMU and --wait-serial (default 120)"),
        CLI_OPT("plugin", "PATH", &o->plugin, "load vmic's QEMU plugin (TCG; the default),\n"
                "found as below unless PATH is given"),
        CLI_FLAG("no-plugin", 0, &o->no_plugin, "run QEMU without vmic's plugin"),
        CLI_FLAG("stop", 0, &o->stop, "shut down the QEMU of TARGET, remove its directory"),
        CLI_FLAG("quiet", 'q', &o->quiet, "print only the TARGET"),
        CLI_END,
    };
    /* Stops at the first operand, so QEMU's own arguments after "--" (or the
     * TARGET of --stop) are never taken for ours. */
    const cli_spec spec = {
        .cmd = "boot", .usage = "[OPTIONS] [-- QEMU-ARGS...]\n       vmic boot --stop TARGET",
        .about = about, .epilog = epilog, .opts = opts, .groups = CLI_G_JSON,
        .json_help = "print JSON; an error is {\"error\":{\"command\",\n"
                     "\"message\",\"status\",\"exit\"}} on stdout",
        .min_operands = 0, .max_operands = INT_MAX, .stop_at_operand = true,
    };
    cli_common c = {0};
    int first = cli_parse(&spec, argc, argv, &c);
    if (first < 0)
        return -first;
    o->json = c.json;
    bool dashdash = first > 1 && strcmp(argv[first - 1], "--") == 0;
    int operands = argc - first;
    if (o->stop) {
        if (operands != 1)
            return cli_usage("boot", "--stop wants one TARGET (qemu:DIR)");
    } else if (operands > 0 && !dashdash) {
        return cli_usage("boot", "unexpected '%s' (QEMU's own arguments go after '--')",
                         argv[first]);
    }
    o->extra = argv + first;
    o->nextra = operands;
    if (o->no_kernel && (o->kernel || o->initrd))
        return cli_usage("boot", "--no-kernel and --kernel/--initrd exclude each other");
    if (o->plugin && o->no_plugin)
        return cli_usage("boot", "--plugin and --no-plugin exclude each other");
    if (o->plugin && strcmp(o->accel, "tcg") != 0)
        return cli_usage("boot", "--plugin needs --accel tcg (QEMU runs plugins under TCG only)");
    if (o->disk && strchr(o->disk, ','))
        return cli_usage("boot", "--disk %s: QEMU's -drive cannot take a path with ','", o->disk);
    return EXIT_OK;
}

/* ---- small helpers ------------------------------------------------------------- */

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Waits for a child; false on timeout (the child is then killed). */
static bool wait_child(pid_t pid, uint64_t timeout_ms, int *status)
{
    int64_t deadline = cli_mono_ms() + (int64_t)timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 && errno != EINTR)
            return false;
        if (cli_mono_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return false;
        }
        sleep_ms(20);
    }
}

/* Runs argv with stdout sent to stderr (our stdout stays the TARGET). */
static int run(char *const argv[], int out_fd, uint64_t timeout_ms, int *status)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        dup2(out_fd, 1);
        dup2(out_fd, 2);
        execvp(argv[0], argv);
        fprintf(stderr, "vmic boot: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return wait_child(pid, timeout_ms, status) ? 0 : -2;
}

/* The last lines of a file, to stderr (why QEMU or the guest failed). */
static void show_tail(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[4096];
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (n)
        fprintf(stderr, "--- %s (%s) ---\n%s%s", what, path, buf,
                buf[n - 1] == '\n' ? "" : "\n");
}

/* ---- the guest --------------------------------------------------------------- */

/* Which kernel and initramfs to boot: the options, else the environment.
 * kernel and initrd: PATH_MAX bytes each (realpath); initrd "" for none. */
static int find_kernel(const boot_opts *o, char *kernel, char *initrd)
{
    const char *k = o->kernel, *i = o->initrd;
    const char *from = "--kernel", *ifrom = "--initrd";
    if (!k && getenv("VMIC_KERNEL") && *getenv("VMIC_KERNEL")) {
        k = getenv("VMIC_KERNEL");
        from = "VMIC_KERNEL";
        if (!i && getenv("VMIC_INITRD") && *getenv("VMIC_INITRD")) {
            i = getenv("VMIC_INITRD");
            ifrom = "VMIC_INITRD";
        }
    }
    if (!k)
        return cli_usage("boot", "no kernel to boot: give --kernel FILE (and --initrd FILE), "
                         "or set VMIC_KERNEL (and VMIC_INITRD); --no-kernel boots the firmware "
                         "only (vmic's source tree makes test kernels: "
                         "scripts/make-fixture.sh)");
    if (!realpath(k, kernel) || !is_file(kernel))
        return cli_fail("boot", VMIC_OK, "%s %s: not a file", from, k);
    if (i && (!realpath(i, initrd) || !is_file(initrd)))
        return cli_fail("boot", VMIC_OK, "%s %s: not a file", ifrom, i);
    return EXIT_OK;
}

/* ---- the directory --------------------------------------------------------------- */

/* dir: PATH_MAX bytes (realpath). */
static int make_dir(const boot_opts *o, char *dir)
{
    if (o->dir) {
        struct stat st;
        /* A directory some QEMU of ours runs in: say so before "not empty". */
        if (lstat(o->dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid()) {
            pid_t pid = boot_read_pid(o->dir);
            if (pid && boot_pid_is_ours(pid, o->dir))
                return cli_fail("boot", VMIC_OK, "%s already runs a QEMU (pid %d): 'vmic boot "
                                "--stop qemu:%s' first", o->dir, (int)pid, o->dir);
        }
        int rc = boot_make_dir("boot", o->dir);
        if (rc)
            return rc;
        if (!realpath(o->dir, dir))
            return cli_fail("boot", VMIC_OK, "%s: %s", o->dir, strerror(errno));
    } else {
        struct stat st;
        const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
                                   access("/dev/shm", W_OK) == 0
                               ? "/dev/shm"
                               : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        char tmpl[PATH_MAX];
        snprintf(tmpl, sizeof tmpl, "%s/vmic-boot.XXXXXX", base);
        if (!mkdtemp(tmpl))
            return cli_fail("boot", VMIC_OK, "cannot create a directory in %s: %s", base,
                            strerror(errno));
        if (!realpath(tmpl, dir))
            return cli_fail("boot", VMIC_OK, "%s: %s", tmpl, strerror(errno));
    }
    /* Unix socket paths hold 107 bytes; QEMU's options would split at commas. */
    if (strlen(dir) + 1 + strlen(VMIC_QEMU_DIR_GDB) > 107 || strchr(dir, ','))
        return cli_fail("boot", VMIC_OK, "%s: the directory path must be shorter than ~95 "
                        "bytes and hold no ',' (socket paths)", dir);
    return EXIT_OK;
}

/* ---- QEMU's command line ----------------------------------------------------------- */

typedef struct argbuf {
    char *v[128];
    int n;
    char store[16][PATH_MAX + 64];
    int nstore;
} argbuf;

static void add(argbuf *a, const char *s)
{
    if (a->n < (int)(sizeof a->v / sizeof a->v[0]) - 1)
        a->v[a->n++] = (char *)s;
}

static void addf(argbuf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(argbuf *a, const char *fmt, ...)
{
    if (a->nstore >= (int)(sizeof a->store / sizeof a->store[0]))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->store[a->nstore], sizeof a->store[0], fmt, ap);
    va_end(ap);
    add(a, a->store[a->nstore++]);
}

static void qemu_argv(const boot_opts *o, const char *dir, const char *kernel,
                      const char *initrd, const char *disk, argbuf *a)
{
    bool kvm = strcmp(o->accel, "kvm") == 0;

    add(a, o->qemu);
    add(a, "-name");
    add(a, "vmic-boot");
    add(a, "-accel");
    add(a, o->accel);
    add(a, "-machine");
    addf(a, "%s,memory-backend=ram0", o->machine);
    add(a, "-cpu");
    add(a, o->cpu ? o->cpu : kvm ? "host" : "qemu64");
    add(a, "-m");
    addf(a, "%" PRIu64 "M", o->memory_mib);
    add(a, "-smp");
    addf(a, "%" PRIu64, o->smp);
    /* Guest RAM in DIR/ram, shared: the file vmic maps. */
    add(a, "-object");
    addf(a, "memory-backend-file,id=ram0,size=%" PRIu64 "M,mem-path=%s/%s,share=on",
         o->memory_mib, dir, VMIC_QEMU_DIR_MEM);
    add(a, "-nodefaults");
    add(a, "-display");
    add(a, "none");
    add(a, "-no-reboot");
    if (kernel) {
        add(a, "-kernel");
        add(a, kernel);
        if (initrd && *initrd) {
            add(a, "-initrd");
            add(a, initrd);
        }
        add(a, "-append");
        add(a, o->append);
    }
    if (*disk) {
        add(a, "-drive");
        addf(a, "file=%s,if=virtio,format=raw", disk);
    }
    add(a, "-serial");
    addf(a, "file:%s/%s", dir, BOOT_CONSOLE);
    add(a, "-serial");
    addf(a, "file:%s/%s", dir, BOOT_SERIAL1);
    add(a, "-qmp");
    addf(a, "unix:%s/%s,server=on,wait=off", dir, VMIC_QEMU_DIR_QMP);
    add(a, "-gdb");
    addf(a, "unix:%s/%s,server=on,wait=off", dir, VMIC_QEMU_DIR_GDB);
    add(a, "-pidfile");
    addf(a, "%s/%s", dir, BOOT_PID);
    add(a, "-D");
    addf(a, "%s/%s", dir, BOOT_LOG);
    add(a, "-daemonize");
    if (o->use_plugin) {
        /* q35 splits RAM at the PCI hole elsewhere than pc (plugin/README.md). */
        add(a, "-plugin");
        addf(a, "%s,ram=%s/%s,ctl=%s/%s%s", o->plugin_path, dir, VMIC_QEMU_DIR_MEM, dir,
             BOOT_PLUGIN_CTL, strstr(o->machine, "q35") ? ",machine=q35" : "");
    }
    for (int i = 0; i < o->nextra; i++)
        add(a, o->extra[i]);
    a->v[a->n] = NULL;
}

/* DIR/name, new (boot_create: no symlink followed, no file reused), as a
 * stream; NULL if it cannot be made. */
static FILE *create_stream(const char *dir, const char *name)
{
    int fd = boot_create(dir, name);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    if (!f)
        close(fd);
    return f;
}

static void write_text(const char *dir, const char *name, const char *text)
{
    FILE *f = create_stream(dir, name);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void write_cmdline(const char *dir, const argbuf *a)
{
    FILE *f = create_stream(dir, BOOT_CMDLINE);
    if (!f)
        return;
    for (int i = 0; i < a->n; i++)
        fprintf(f, "%s%s", i ? " " : "", a->v[i]);
    fputc('\n', f);
    fclose(f);
}

/* Starts QEMU; returns once its launcher has exited (QEMU is initialised). */
static int start_qemu(const boot_opts *o, const char *dir, const argbuf *a)
{
    char err[PATH_MAX + 32];
    boot_path(err, sizeof err, dir, BOOT_ERR);
    int fd = boot_create(dir, BOOT_ERR);
    if (fd < 0)
        return cli_fail("boot", VMIC_OK, "%s: %s", err, strerror(errno));
    int status;
    int r = run(a->v, fd, o->timeout_s * 1000, &status);
    close(fd);
    if (r == -2)
        return cli_fail("boot", VMIC_OK, "QEMU did not start within %" PRIu64 " s", o->timeout_s);
    if (r != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        show_tail(err, "QEMU said");
        return cli_fail("boot", VMIC_OK, "QEMU failed to start (%s)",
                        WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "not installed?"
                                                                      : "see above");
    }
    return EXIT_OK;
}

/*
 * Whether the guest kernel's console (DIR/console.log) says it panicked:
 * then *what is its "Kernel panic - not syncing: ..." line and *first the
 * first Oops/BUG line before it (what went wrong first), each "" if none, at
 * most size bytes. With vmic boot's default panic=-1 and QEMU's -no-reboot a
 * panic ends QEMU at once, which otherwise reads as "QEMU exited".
 */
static bool console_panic(const char *dir, char *what, char *first, size_t size)
{
    char path[PATH_MAX + 32];
    char line[512];
    bool panicked = false;
    *what = *first = '\0';
    boot_path(path, sizeof path, dir, BOOT_CONSOLE);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    while (!panicked && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        for (char *c = line; *c; c++) /* the guest's text: no control bytes out */
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        /* After the "[    1.234567] " timestamp, if the console has one. */
        const char *text = line;
        if (*text == '[' && strchr(text, ']'))
            text = strchr(text, ']') + 1;
        text += strspn(text, " ");
        if (!*first && (strncmp(text, "Oops: ", 6) == 0 || strncmp(text, "BUG: ", 5) == 0 ||
                        strncmp(text, "kernel BUG at ", 14) == 0 ||
                        strncmp(text, "general protection fault", 24) == 0))
            snprintf(first, size, "%s", text);
        if (strncmp(text, "Kernel panic - not syncing", 26) == 0) {
            snprintf(what, size, "%s", text);
            panicked = true;
        }
    }
    fclose(f);
    return panicked;
}

/* The wait for --wait-serial's text ended without it (QEMU exited, or the
 * timeout): the console's tail, and the guest kernel's panic if there was one. */
static int wait_failed(const boot_opts *o, const char *dir, bool exited)
{
    char path[PATH_MAX + 32];
    char what[256], first[256];
    boot_path(path, sizeof path, dir, BOOT_CONSOLE);
    show_tail(path, "guest console");
    if (console_panic(dir, what, first, sizeof what))
        return cli_fail("boot", VMIC_OK, "the guest kernel panicked before it wrote '%s' "
                        "(%s%s%s)%s", o->wait_serial, what, *first ? "; first: " : "", first,
                        exited ? "; QEMU exited" : "");
    if (exited)
        return cli_fail("boot", VMIC_OK, "QEMU exited before the guest wrote '%s'",
                        o->wait_serial);
    return cli_fail("boot", VMIC_OK, "the guest did not write '%s' to ttyS1 within %" PRIu64
                    " s", o->wait_serial, o->timeout_s);
}

/* Waits until TEXT shows up in DIR/serial1.log, while QEMU lives. */
static int wait_serial(const boot_opts *o, const char *dir, pid_t pid)
{
    char path[PATH_MAX + 32];
    size_t tlen = strlen(o->wait_serial);
    size_t keep = tlen > 1 ? tlen - 1 : 0;
    char *buf = malloc(keep + 65536 + 1);
    size_t have = 0;
    long offset = 0;
    int64_t deadline = cli_mono_ms() + (int64_t)o->timeout_s * 1000;

    if (!buf || tlen == 0) {
        free(buf);
        return cli_fail("boot", VMIC_OK, "--wait-serial: nothing to wait for");
    }
    boot_path(path, sizeof path, dir, BOOT_SERIAL1);
    for (;;) {
        FILE *f = fopen(path, "r");
        size_t n = 0;
        if (f) {
            fseek(f, offset, SEEK_SET);
            n = fread(buf + have, 1, 65536, f);
            fclose(f);
        }
        offset += (long)n;
        have += n;
        buf[have] = '\0';
        if (memmem(buf, have, o->wait_serial, tlen)) {
            free(buf);
            return EXIT_OK;
        }
        /* Keep the tail that may be the start of TEXT. */
        if (have > keep) {
            memmove(buf, buf + have - keep, keep);
            have = keep;
        }
        if (n == 65536)
            continue;
        bool exited = !boot_pid_is_ours(pid, dir);
        if (exited || cli_mono_ms() >= deadline) {
            free(buf);
            return wait_failed(o, dir, exited);
        }
        sleep_ms(100);
    }
}

/* Attaching once proves the three endpoints work together. */
static int check_attach(const char *target, uint32_t *vcpus, uint64_t *mem)
{
    vmic_qemu_config_t cfg = {.timeout_ms = 10000};
    vmic_driver *drv;
    vmic_status s = vmic_qemu_open_target(target, &cfg, &drv);
    if (s)
        return cli_fail("boot", s, "QEMU started but vmic cannot attach");
    const vmic_driver_info_t *info = drv->ops->info(drv);
    *vcpus = info->vcpu_count;
    *mem = info->mem_size;
    vmic_driver_close(drv);
    return EXIT_OK;
}

static void print_result(const boot_opts *o, const char *dir, const char *target, pid_t pid,
                         const char *kernel, uint32_t vcpus, uint64_t mem)
{
    char size[32];
    if (o->quiet) {
        printf("%s\n", target);
        return;
    }
    if (o->json) {
        json j;
        char path[PATH_MAX + 32];
        json_init(&j, stdout);
        json_object_begin(&j, NULL);
        json_str(&j, "target", target);
        json_str(&j, "dir", dir);
        json_u64(&j, "pid", (uint64_t)pid);
        json_str(&j, "accel", o->accel);
        json_str(&j, "kernel", kernel ? kernel : "");
        json_u64(&j, "memory", mem);
        json_u64(&j, "vcpus", vcpus);
        boot_path(path, sizeof path, dir, BOOT_CONSOLE);
        json_str(&j, "console", path);
        boot_path(path, sizeof path, dir, BOOT_SERIAL1);
        json_str(&j, "serial1", path);
        json_str(&j, "plugin", o->use_plugin ? o->plugin_path : "");
        json_object_end(&j);
        json_done(&j);
        return;
    }
    printf("target    %s\n", target);
    printf("qemu      pid %d, %s, %s RAM, %" PRIu32 " vCPU%s\n", (int)pid, o->accel,
           cli_size(mem, size, sizeof size), vcpus, vcpus == 1 ? "" : "s");
    printf("guest     %s\n", kernel ? kernel : "(firmware only)");
    printf("serial    %s/%s (ttyS0), %s/%s (ttyS1)\n", dir, BOOT_CONSOLE, dir, BOOT_SERIAL1);
    if (o->use_plugin)
        printf("plugin    %s, control block %s/%s\n", o->plugin_path, dir, BOOT_PLUGIN_CTL);
    printf("stop      vmic boot --stop %s\n", target);
}

int cmd_boot(int argc, char **argv)
{
    boot_opts o = {
        .append = "console=ttyS0 panic=-1", .accel = "tcg",
        .machine = "pc", .qemu = "qemu-system-x86_64", .memory_mib = 256, .smp = 1,
        .timeout_s = 120,
    };
    char kernel[PATH_MAX] = "", initrd[PATH_MAX] = "", disk[PATH_MAX] = "", dir[PATH_MAX];
    char target[PATH_MAX + 8];
    int rc;

    if ((rc = parse_args(argc, argv, &o)))
        return rc;
    if (o.stop)
        return boot_stop("boot", o.extra[0], (unsigned)o.timeout_s * 1000, o.quiet);

    if (!o.no_kernel && (rc = find_kernel(&o, kernel, initrd)))
        return rc;
    if (o.disk && (!realpath(o.disk, disk) || !is_file(disk)))
        return cli_fail("boot", VMIC_OK, "--disk %s: not a file", o.disk);
    if (o.plugin && (rc = boot_find_plugin("boot", o.plugin, o.plugin_path)))
        return rc;
    o.use_plugin = o.plugin != NULL;
    if (!o.plugin && !o.no_plugin && strcmp(o.accel, "tcg") == 0) {
        o.use_plugin = boot_plugin_found(o.plugin_path);
        if (!o.use_plugin && !o.quiet && !o.json)
            fprintf(stderr, "vmic boot: note: no %s found (see --help): `vmic trace` will "
                    "stop the whole VM at each breakpoint\n", BOOT_PLUGIN_NAME);
    }
    if (strcmp(o.accel, "kvm") == 0 && access("/dev/kvm", R_OK | W_OK) != 0)
        return cli_fail("boot", VMIC_OK, "--accel kvm: /dev/kvm: %s", strerror(errno));
    if ((rc = make_dir(&o, dir)))
        return rc;
    snprintf(target, sizeof target, "%s%s", VMIC_QEMU_PREFIX, dir);

    argbuf *a = calloc(1, sizeof *a);
    if (!a)
        return cli_fail("boot", VMIC_E_NOMEM, "no memory");
    qemu_argv(&o, dir, o.no_kernel ? NULL : kernel, initrd, disk, a);
    write_cmdline(dir, a);
    rc = start_qemu(&o, dir, a);
    free(a);

    pid_t pid = boot_read_pid(dir);
    uint32_t vcpus = 0;
    uint64_t mem = 0;
    if (rc == EXIT_OK && !pid)
        rc = cli_fail("boot", VMIC_OK, "QEMU wrote no pid to %s/%s", dir, BOOT_PID);
    if (rc == EXIT_OK)
        rc = check_attach(target, &vcpus, &mem);
    if (rc == EXIT_OK) {
        char line[PATH_MAX + 16];
        snprintf(line, sizeof line, "%s\n", target);
        write_text(dir, BOOT_TARGET, line);
    }
    if (rc == EXIT_OK && o.wait_serial)
        rc = wait_serial(&o, dir, pid);
    if (rc != EXIT_OK) {
        char log[PATH_MAX + 32];
        boot_path(log, sizeof log, dir, BOOT_LOG);
        show_tail(log, "QEMU log");
        boot_remove("boot", dir, 5000, true);
        return rc;
    }
    print_result(&o, dir, target, pid, o.no_kernel ? NULL : kernel, vcpus, mem);
    return EXIT_OK;
}
