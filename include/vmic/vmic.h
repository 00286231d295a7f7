/* vmic: virtual machine introspection for x86-64 guests. One include for all layers. */
#ifndef VMIC_VMIC_H
#define VMIC_VMIC_H

#include <vmic/base.h>
#include <vmic/arch.h>
#include <vmic/event.h>
#include <vmic/driver.h>
#include <vmic/target.h>
#include <vmic/core.h>
#include <vmic/os.h>
#include <vmic/qemu.h>
#include <vmic/utils.h>
#include <vmic/trace.h>

#endif
