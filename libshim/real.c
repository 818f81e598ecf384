// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * real.c - the table of libc functions (real.h). interpose.c fills it;
 * the unit tests point it at libc themselves.
 */
#include "real.h"

struct fs_real fs_real;
