/* achat-visibility.h: symbol visibility and availability macros
 *
 * SPDX-FileCopyrightText: 2026 The achat authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(ACHAT_INSIDE) && !defined(ACHAT_COMPILATION)
# error "Only <achat/achat.h> can be included directly."
#endif

#include <glib.h>

#if defined(_WIN32) || defined(__CYGWIN__)
# if defined(ACHAT_COMPILATION)
#  define _ACHAT_EXTERN __declspec(dllexport) extern
# else
#  define _ACHAT_EXTERN __declspec(dllimport) extern
# endif
#elif defined(ACHAT_COMPILATION) && __GNUC__ >= 4
# define _ACHAT_EXTERN __attribute__((visibility("default"))) extern
#else
# define _ACHAT_EXTERN extern
#endif

#define ACHAT_AVAILABLE_IN_ALL _ACHAT_EXTERN
#define ACHAT_AVAILABLE_IN_1_0 _ACHAT_EXTERN
