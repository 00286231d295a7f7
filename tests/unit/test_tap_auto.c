/*
 * VMIC_TAP_AUTO picks the tap the driver allows. The drivers here are
 * tables of groups and nothing else: which groups are present is all the
 * choice may look at, and no operation is called but info and reset.
 */
#include <string.h>

#include <vmic/vmic.h>

#include "harness.h"

typedef struct fake_driver {
    vmic_driver base;
    vmic_driver_ops_t ops;
    vmic_driver_info_t info;
} fake_driver;

static const vmic_driver_info_t *fake_info(vmic_driver *d)
{
    return &((fake_driver *)d)->info;
}

static vmic_status fake_reset(vmic_driver *d)
{
    (void)d;
    return VMIC_OK;
}

static vmic_status fake_monitor(vmic_driver *d, const vmic_monitor_t *m, bool enable)
{
    (void)d, (void)m, (void)enable;
    return VMIC_E_UNSUPPORTED;
}

static const vmic_memory_ops_t memory = {0};
static const vmic_event_ops_t events = {.reset = fake_reset};
static const vmic_monitor_ops_t int3 = {.interrupt = fake_monitor};
static const vmic_breakpoint_ops_t breakpoints = {0};
static const vmic_view_ops_t views = {0};
static const vmic_view_ops_t exec_only_views = {.exec_only = true};

enum { EVENTS = 1, INT3 = 2, HWBP = 4, VIEWS = 8, X_VIEWS = 16 };

/* The kind AUTO picks over a driver with those groups; the core closed. */
static vmic_tap_kind pick(unsigned groups, vmic_core **keep)
{
    static fake_driver f;
    vmic_core *core;

    memset(&f, 0, sizeof f);
    f.ops = (vmic_driver_ops_t){
        .name = "fake", .info = fake_info, .memory = &memory,
        .events = groups & EVENTS ? &events : NULL,
        .monitors = groups & INT3 ? &int3 : NULL,
        .breakpoints = groups & HWBP ? &breakpoints : NULL,
        .views = groups & VIEWS ? &views : groups & X_VIEWS ? &exec_only_views : NULL,
    };
    f.info = (vmic_driver_info_t){.driver = "fake", .source = "test",
                                  .caps = vmic_driver_caps(&f.ops)};
    f.base.ops = &f.ops;
    if (vmic_core_open(&f.base, NULL, &core) != VMIC_OK)
        return (vmic_tap_kind)-1;
    vmic_tap_kind k = vmic_tap_auto_kind(core);
    if (keep)
        *keep = core;
    else
        vmic_core_close(core);
    return k;
}

static void test_the_order(void)
{
    /* kvm's groups: debug registers first (guest memory stays untouched). */
    CHECK_EQ(pick(EVENTS | INT3 | HWBP | VIEWS, NULL), VMIC_TAP_DEBUGREG);
    /* qemu's: events and debug registers, no views. */
    CHECK_EQ(pick(EVENTS | HWBP, NULL), VMIC_TAP_DEBUGREG);
    CHECK_EQ(pick(EVENTS | INT3 | VIEWS, NULL), VMIC_TAP_BREAKPOINT);
    CHECK_EQ(pick(EVENTS | VIEWS, NULL), VMIC_TAP_MEMORY);
    /* Views that only take X away (qemu's plugin): no breakpoint tap,
     * whose shadow pages need read and write traps. */
    CHECK_EQ(pick(EVENTS | INT3 | X_VIEWS, NULL), VMIC_TAP_MEMORY);
}

static void test_nothing_fits(void)
{
    /* A dump; and groups that count only with events. */
    CHECK_EQ(pick(0, NULL), VMIC_TAP_AUTO);
    CHECK_EQ(pick(HWBP | VIEWS | INT3, NULL), VMIC_TAP_AUTO);

    vmic_core *core;
    CHECK_EQ(pick(HWBP, &core), VMIC_TAP_AUTO);
    vmic_tap_options_t opt = {.kind = VMIC_TAP_AUTO};
    vmic_tap *tap = (vmic_tap *)1;
    CHECK_ERR(vmic_tap_open(core, &opt, &tap), VMIC_E_UNSUPPORTED);
    CHECK_ERRMSG("no tap controller fits the fake driver");
    CHECK(tap == NULL);
    vmic_core_close(core);
}

int main(void)
{
    RUN(test_the_order);
    RUN(test_nothing_fits);
    return HARNESS_RESULT();
}
