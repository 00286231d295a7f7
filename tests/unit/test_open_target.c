/*
 * vmic_open_target tells a dump from a live QEMU by the TARGET string alone,
 * and the capability bits come from the driver's table, never beside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmic/vmic.h>

#include "harness.h"

static vmic_status no_op(vmic_driver *d)
{
    (void)d;
    return VMIC_OK;
}

static vmic_status no_write(vmic_driver *d, vmic_pa_t pa, const void *buf, size_t len)
{
    (void)d, (void)pa, (void)buf, (void)len;
    return VMIC_OK;
}

static vmic_status no_monitor(vmic_driver *d, const vmic_monitor_t *m, bool enable)
{
    (void)d, (void)m, (void)enable;
    return VMIC_OK;
}

/* Only which operations are there counts; none is called. */
static void test_caps_from_the_table(void)
{
    static const vmic_memory_ops_t ro = {0};
    static const vmic_memory_ops_t rw = {.write = no_write};
    static const vmic_control_ops_t control = {.pause = no_op, .resume = no_op};
    static const vmic_event_ops_t events = {0};
    static const vmic_breakpoint_ops_t bps = {0};
    static const vmic_monitor_ops_t int3 = {.interrupt = no_monitor};

    vmic_driver_ops_t t = {.name = "t", .memory = &ro};
    CHECK_EQ(vmic_driver_caps(&t), VMIC_CAP_READ);
    t.memory = &rw;
    t.control = &control;
    CHECK_EQ(vmic_driver_caps(&t), VMIC_CAP_READ | VMIC_CAP_WRITE | VMIC_CAP_PAUSE);
    /* Breakpoints and monitors without an event loop: nobody would see a hit. */
    t.breakpoints = &bps;
    t.monitors = &int3;
    CHECK_EQ(vmic_driver_caps(&t), VMIC_CAP_READ | VMIC_CAP_WRITE | VMIC_CAP_PAUSE);
    t.events = &events;
    CHECK_EQ(vmic_driver_caps(&t), VMIC_CAP_READ | VMIC_CAP_WRITE | VMIC_CAP_PAUSE |
                                       VMIC_CAP_EVENTS | VMIC_CAP_SINGLESTEP |
                                       VMIC_CAP_HW_BREAKPOINT | VMIC_CAP_SW_BREAKPOINT);
    CHECK_EQ(vmic_driver_caps(NULL), 0);
}

static void test_a_dump_path(void)
{
    char path[] = "/tmp/vmic-test-target-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    static uint8_t page[2 * VMIC_PAGE_SIZE];
    memset(page, 0x5a, sizeof page);
    CHECK(write(fd, page, sizeof page) == (ssize_t)sizeof page);
    close(fd);

    vmic_driver *d;
    CHECK_OK(vmic_open_target(path, NULL, &d));
    const vmic_driver_info_t *info = d->ops->info(d);
    CHECK_STR(info->driver, "raw");
    CHECK_EQ(info->caps, VMIC_CAP_READ);
    CHECK_EQ(info->mem_size, sizeof page);
    vmic_driver_close(d);

    /* A format given: the dump is parsed as that, and a raw file is no ELF. */
    vmic_target_options_t elf = {.format = VMIC_DUMP_ELF};
    d = (vmic_driver *)1;
    CHECK(vmic_open_target(path, &elf, &d) != VMIC_OK);
    CHECK(d == NULL);
    unlink(path);
}

static void test_a_live_target(void)
{
    vmic_driver *d = (vmic_driver *)1;
    vmic_target_options_t elf = {.format = VMIC_DUMP_ELF};

    /* A format means a dump: refused before anything is connected. */
    CHECK_ERR(vmic_open_target("qemu:/nonexistent/vmic-dir", &elf, &d), VMIC_E_INVAL);
    CHECK_ERRMSG("not for a live target");
    CHECK(d == NULL);
    /* qemu:DIR goes to the qemu driver, which names what is missing. */
    CHECK(vmic_open_target("qemu:/nonexistent/vmic-dir", NULL, &d) != VMIC_OK);
    CHECK_ERRMSG("/nonexistent/vmic-dir");
    CHECK(d == NULL);
    CHECK_ERR(vmic_open_target("", NULL, &d), VMIC_E_INVAL);
    CHECK_ERR(vmic_open_target(NULL, NULL, &d), VMIC_E_INVAL);
}

int main(void)
{
    RUN(test_caps_from_the_table);
    RUN(test_a_dump_path);
    RUN(test_a_live_target);
    return HARNESS_RESULT();
}
