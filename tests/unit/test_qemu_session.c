/*
 * What keeps a live guest from being left frozen, without a QEMU: the gdb
 * chardev's state in query-chardev (QEMU 7.2's own replies), the session
 * lock between two processes, the registers in HMP "info registers -a",
 * and the guard against a fake gdbstub on a socketpair: what it sends when
 * vmic dies, and that it sends nothing when vmic lets it go. The live
 * counterpart is tests/qemu/test_nofreeze.py.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"
#include "harness.h"

/* query-chardev of a `vmic boot` QEMU, free and with a client. */
static const char chardev_free[] =
    "[{\"frontend-open\": true, \"filename\": \"gdb\", \"label\": \"#chr059\"}, "
    "{\"frontend-open\": true, \"filename\": \"file\", \"label\": \"serial1\"}, "
    "{\"frontend-open\": true, \"filename\": "
    "\"disconnected:unix:/dev/shm/vmic-boot.hRPWAg/gdb.sock,server=on\", \"label\": \"gdb\"}, "
    "{\"frontend-open\": true, \"filename\": "
    "\"unix:/dev/shm/vmic-boot.hRPWAg/qmp.sock,server=on\", \"label\": \"compat_monitor0\"}]";
static const char chardev_busy[] =
    "[{\"frontend-open\": true, \"filename\": \"gdb\", \"label\": \"#chr059\"}, "
    "{\"frontend-open\": true, \"filename\": "
    "\"unix:/dev/shm/vmic-boot.hRPWAg/gdb.sock,server=on\", \"label\": \"gdb\"}]";
/* -chardev socket,id=dbg,... -gdb chardev:dbg: found by its path. */
static const char chardev_by_path[] =
    "[{\"frontend-open\": true, \"filename\": \"unix:/run/q/debug.sock,server=on\", "
    "\"label\": \"dbg\"}]";

static void test_stub_state(void)
{
    qemu_endpoint_t ep, other, tcp;
    CHECK_OK(endpoint_parse("gdb", "unix:/dev/shm/vmic-boot.hRPWAg/gdb.sock", &ep));
    CHECK_OK(endpoint_parse("gdb", "/run/q/debug.sock", &other));
    CHECK_OK(endpoint_parse("gdb", "localhost:1234", &tcp));
    CHECK_EQ(stub_state_parse(chardev_free, &ep), STUB_FREE);
    CHECK_EQ(stub_state_parse(chardev_busy, &ep), STUB_BUSY);
    CHECK_EQ(stub_state_parse(chardev_by_path, &other), STUB_BUSY);
    CHECK_EQ(stub_state_parse(chardev_by_path, &tcp), STUB_UNKNOWN);
    CHECK_EQ(stub_state_parse("[]", &ep), STUB_UNKNOWN);
    CHECK_EQ(stub_state_parse("{\"not\": \"an array\"}", &ep), STUB_UNKNOWN);
    CHECK_EQ(stub_state_parse("[{\"label\": \"gdb\", \"filename\": ", &ep), STUB_UNKNOWN);
}

static void test_lock(void)
{
    char dir[] = "/tmp/vmic-test-lock.XXXXXX", sock[128], holder[256];
    qemu_endpoint_t ep;
    qemu_lock_t mine, theirs;
    bool busy;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(sock, sizeof sock, "%s/gdb.sock", dir);
    CHECK_OK(endpoint_parse("gdb", sock, &ep));

    CHECK(!lock_peek(&ep, holder, sizeof holder));
    CHECK_OK(lock_take(&mine, &ep, &busy, holder, sizeof holder));
    CHECK(!busy && mine.fd >= 0);
    char want[64];
    snprintf(want, sizeof want, "vmic pid %d (", (int)getpid());
    /* Another process sees it held, and by whom. */
    pid_t child = fork();
    if (child == 0) {
        bool b = false;
        char h[256] = "";
        qemu_lock_t l;
        close(mine.fd);   /* the child's copy would hold the same lock */
        vmic_status s = lock_take(&l, &ep, &b, h, sizeof h);
        bool peek = lock_peek(&ep, h, sizeof h);
        _exit(s == VMIC_OK && b && l.fd < 0 && peek && strstr(h, want) ? 0 : 1);
    }
    int st;
    CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    lock_release(&mine);
    CHECK(!lock_peek(&ep, holder, sizeof holder));
    CHECK_OK(lock_take(&theirs, &ep, &busy, holder, sizeof holder));
    CHECK(!busy);
    lock_release(&theirs);

    /* A symlink planted as the lock is not followed. */
    char lock[160];
    snprintf(lock, sizeof lock, "%s/vmic.lock", dir);
    unlink(lock);
    CHECK(symlink("/etc/passwd", lock) == 0);
    CHECK_ERR(lock_take(&theirs, &ep, &busy, holder, sizeof holder), VMIC_E_IO);
    CHECK_ERRMSG("symbolic link");
    unlink(lock);
    /* No such directory: no lock, and no error (connecting will say why). */
    qemu_endpoint_t gone;
    CHECK_OK(endpoint_parse("gdb", "/nonexistent-vmic-dir/x/gdb.sock", &gone));
    CHECK_OK(lock_take(&theirs, &gone, &busy, holder, sizeof holder));
    CHECK(!busy && theirs.fd < 0);
    /* TCP endpoints have no directory: no lock, no error. */
    CHECK_OK(endpoint_parse("gdb", "localhost:1234", &ep));
    CHECK_OK(lock_take(&theirs, &ep, &busy, holder, sizeof holder));
    CHECK(!busy && theirs.fd < 0);
    rmdir(dir);
}

/* QMP's copy of HMP "info registers -a" for two vCPUs (\r\n line ends). */
static const char regs_text[] =
    "CPU#0\r\n"
    "RAX=000000000001ad40 RBX=0000000000000000 RCX=0000000000000000 RDX=4000000000000000\r\n"
    "RSI=0000000000000083 RDI=0000000000000254 RBP=ffffffff99a1aa40 RSP=ffffffff99a03e98\r\n"
    "R8 =0000000000023000 R9 =00000000314dfc52 R10=00000000fffffffb R11=0000000000000001\r\n"
    "R12=0000000000000000 R13=0000000000000000 R14=0000000000000000 R15=0000000000014790\r\n"
    "RIP=ffffffff98a592eb RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\r\n"
    "ES =0000 0000000000000000 00000000 00000000\r\n"
    "CS =0010 0000000000000000 ffffffff 00af9b00 DPL=0 CS64 [-RA]\r\n"
    "SS =0018 0000000000000000 ffffffff 00cf9300 DPL=0 DS   [-WA]\r\n"
    "DS =0000 0000000000000000 00000000 00000000\r\n"
    "FS =0000 0000000000000000 00000000 00000000\r\n"
    "GS =0000 ffff8963cf600000 00000000 00000000\r\n"
    "LDT=0000 0000000000000000 00000000 00008200 DPL=0 LDT\r\n"
    "TR =0040 fffffe0000003000 00004087 00008900 DPL=0 TSS64-avl\r\n"
    "GDT=     fffffe0000001000 0000007f\r\n"
    "IDT=     fffffe0000000000 00000fff\r\n"
    "CR0=80050033 CR2=00000000084fa010 CR3=0000000002a40000 CR4=000006f0\r\n"
    "DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 \r\n"
    "DR6=00000000ffff0ff0 DR7=0000000000000400\r\n"
    "EFER=0000000000000d01\r\n"
    "FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80\r\n"
    "XMM00=0000000000000000 0000000000000000 XMM01=0000000000000000 0000000000000000\r\n"
    "CPU#1\r\n"
    "RAX=1111111111111111 RBX=0 RCX=0 RDX=0\r\n"
    "RSI=0 RDI=0 RBP=0 RSP=0\r\n"
    "R8 =0 R9 =0 R10=0 R11=0\r\n"
    "R12=0 R13=0 R14=0 R15=0\r\n"
    "RIP=ffffffff81000010 RFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=1\r\n";

static void test_hmp_regs(void)
{
    vmic_amd64_regs_t r;
    CHECK_EQ(hmp_regs_count(regs_text), 2u);
    CHECK_OK(hmp_regs_parse(regs_text, 0, &r));
    CHECK_EQ(r.valid, VMIC_REGS_GPR | VMIC_REGS_SEG | VMIC_REGS_DT | VMIC_REGS_CR |
                          VMIC_REGS_DR | VMIC_REGS_EFER);
    CHECK_EQ(r.rax, 0x1ad40u);
    CHECK_EQ(r.rdx, 0x4000000000000000u);
    CHECK_EQ(r.r8, 0x23000u);
    CHECK_EQ(r.r9, 0x314dfc52u);
    CHECK_EQ(r.r15, 0x14790u);
    CHECK_EQ(r.rip, 0xffffffff98a592ebu);
    CHECK_EQ(r.rflags, 0x246u);
    CHECK_EQ(r.cs.selector, 0x10);
    CHECK_EQ(r.cs.attr, 0xa09b);   /* type b, S, DPL 0, P; L; G */
    CHECK_EQ(r.gs.base, 0xffff8963cf600000u);
    CHECK_EQ(r.tr.base, 0xfffffe0000003000u);
    CHECK_EQ(r.tr.limit, 0x4087u);
    CHECK_EQ(r.gdtr.base, 0xfffffe0000001000u);
    CHECK_EQ(r.idtr.limit, 0xfff);
    CHECK_EQ(r.cr0, 0x80050033u);
    CHECK_EQ(r.cr3, 0x2a40000u);
    CHECK_EQ(r.cr4, 0x6f0u);
    CHECK_EQ(r.dr6, 0xffff0ff0u);
    CHECK_EQ(r.efer, 0xd01u);
    /* vCPU 1: general registers only, and not vCPU 0's. */
    CHECK_OK(hmp_regs_parse(regs_text, 1, &r));
    CHECK_EQ(r.valid, VMIC_REGS_GPR);
    CHECK_EQ(r.rax, 0x1111111111111111u);
    CHECK_EQ(r.rip, 0xffffffff81000010u);
    CHECK_ERR(hmp_regs_parse(regs_text, 2, &r), VMIC_E_NOTFOUND);
    /* "CPU#1" is not the start of "CPU#10". */
    CHECK_ERR(hmp_regs_parse("CPU#10\r\nRAX=1\r\n", 1, &r), VMIC_E_NOTFOUND);
    CHECK_ERR(hmp_regs_parse("no registers here", 0, &r), VMIC_E_FORMAT);
    CHECK_ERR(hmp_regs_parse("CPU#0\r\nRAX=12345678901234567 RBX=0\r\n", 0, &r), VMIC_E_FORMAT);
}

/* Reads what the guard sent to the fake stub until `want` is in it. */
static bool stub_reads(int fd, char *buf, size_t cap, const char *want)
{
    size_t have = 0;
    buf[0] = '\0';
    while (have + 1 < cap && !strstr(buf, want)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0)
            return false;
        ssize_t n = read(fd, buf + have, cap - 1 - have);
        if (n <= 0)
            return false;
        have += (size_t)n;
        buf[have] = '\0';
    }
    return strstr(buf, want) != NULL;
}

static void stub_says(int fd, const char *s)
{
    CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
}

static void test_guard(void)
{
    char buf[512];
    for (int resume = 0; resume < 2; resume++) {
        int sv[2];
        qemu_guard_t g;
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        CHECK_OK(guard_start(&g, GUARD_GDB, sv[0], -1, resume));
        close(sv[0]);   /* the guard holds the connection now, as after open */
        close(g.ctl);   /* vmic dies: its end of the socketpair goes away */
        CHECK(stub_reads(sv[1], buf, sizeof buf, "$?#3f"));
        CHECK(strncmp(buf, "+\x03$?#3f", 7) == 0);
        stub_says(sv[1], "$T05thread:01;#07");
        if (resume) {
            CHECK(stub_reads(sv[1], buf, sizeof buf, "$D#44"));
            stub_says(sv[1], "$OK#9a");
        } else {
            /* Found paused: no 'D', which would resume it. */
            CHECK(stub_reads(sv[1], buf, sizeof buf, "$qAttached#8f"));
            CHECK(strstr(buf, "$D#") == NULL);
            stub_says(sv[1], "$1#31");
        }
        /* Then it lets go: the stub sees the client leave. */
        CHECK(!stub_reads(sv[1], buf, sizeof buf, "never"));
        close(sv[1]);
    }
    /* vmic dies between the two packets of a PUSH carried out: the guard
     * writes RSP and RIP back (on that vCPU) before it detaches. */
    {
        int sv[2];
        qemu_guard_t g;
        const gdb_reg_t rsp = {.name = "rsp", .regnum = 7, .bits = 64},
                        rip = {.name = "rip", .regnum = 16, .bits = 64};
        const gdb_reg_t *regs[2] = {&rsp, &rip};
        const uint64_t values[2] = {0xffffd14cc0013f58u, 0xffffffff81000010u};
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        CHECK_OK(guard_start(&g, GUARD_GDB, sv[0], -1, true));
        close(sv[0]);
        guard_undo(&g, 2, regs, values, 2);
        guard_undo_done(&g);
        guard_undo(&g, 2, regs, values, 2);   /* this one is still under way */
        close(g.ctl);
        CHECK(stub_reads(sv[1], buf, sizeof buf, "$?#3f"));
        stub_says(sv[1], "$T05thread:02;#08");
        CHECK(stub_reads(sv[1], buf, sizeof buf, "$qAttached#8f"));
        CHECK(strstr(buf, "$Hg2#e1$P7=583f01c04cd1ffff#") != NULL);
        CHECK(strstr(buf, "$P10=10000081ffffffff#") != NULL);
        CHECK(strstr(buf, "$D#") == NULL);   /* not before the registers are back */
        stub_says(sv[1], "$1#31");
        CHECK(stub_reads(sv[1], buf, sizeof buf, "$D#44"));
        stub_says(sv[1], "$OK#9a");
        close(sv[1]);
    }
    /* Released: the guard closes its copy and sends nothing. */
    int sv[2];
    qemu_guard_t g;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK_OK(guard_start(&g, GUARD_GDB, sv[0], -1, true));
    close(sv[0]);
    guard_release(&g);
    CHECK_EQ(g.ctl, -1);
    ssize_t n = read(sv[1], buf, sizeof buf);
    CHECK_EQ(n, 0);   /* EOF, not a byte */
    close(sv[1]);
}

int main(void)
{
    RUN(test_stub_state);
    RUN(test_lock);
    RUN(test_hmp_regs);
    RUN(test_guard);
    return HARNESS_RESULT();
}
