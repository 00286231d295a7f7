/*
 * The stats of a breakpoint manager or page-table monitor as a value, for
 * checks like CHECK_EQ(bpm_stats(b).taps, 2): the library fills them
 * through a pointer (their structs may grow).
 */
#ifndef VMIC_TEST_STATS_H
#define VMIC_TEST_STATS_H

#include <vmic/utils.h>

static inline vmic_bpm_stats_t bpm_stats(vmic_bpm *bpm)
{
    vmic_bpm_stats_t st;
    vmic_bpm_stats(bpm, &st);
    return st;
}

static inline vmic_ptm_stats_t ptm_stats(const vmic_ptm *ptm)
{
    vmic_ptm_stats_t st;
    vmic_ptm_stats(ptm, &st);
    return st;
}

#endif
