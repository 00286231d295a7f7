/* Injected faults: the test picks the call of an operation that fails, so
 * that every error path of the code under test can be reached on purpose. */
#include "mock_internal.h"

static const char *const op_names[VMIC_MOCK_NOPS] = {
    "read", "write", "set_access", "switch_view", "create_view", "remap_gfn", "alloc_gfn",
    "monitor",
};

void vmic_mock_fail(vmic_mock *m, vmic_mock_op op, uint32_t after, vmic_status status)
{
    mock_lock(m);
    m->faults[op] = (mock_fault){.armed = true, .at = m->calls[op] + after + 1,
                                 .gfn = MOCK_NO_GFN, .status = status};
    mock_unlock(m);
}

void vmic_mock_fail_at(vmic_mock *m, vmic_mock_op op, vmic_gfn_t gfn, vmic_status status)
{
    mock_lock(m);
    m->faults[op] = (mock_fault){.armed = true, .gfn = gfn.num, .status = status};
    mock_unlock(m);
}

uint64_t vmic_mock_calls(vmic_mock *m, vmic_mock_op op)
{
    mock_lock(m);
    uint64_t n = m->calls[op];
    mock_unlock(m);
    return n;
}

vmic_status mock_fault_check(vmic_mock *m, vmic_mock_op op, uint64_t first, uint64_t last,
                             const char *what)
{
    mock_fault *f = &m->faults[op];
    m->calls[op]++;
    if (!f->armed)
        return VMIC_OK;
    if (f->gfn == MOCK_NO_GFN ? m->calls[op] != f->at
                              : first == MOCK_NO_GFN || f->gfn < first || f->gfn > last)
        return VMIC_OK;
    f->armed = false;
    return vmic_fail(f->status, "mock: %s (%s) fails as the test asked", op_names[op], what);
}
