#pragma once

// <immintrin.h> for the kernels. GCC 12 reports false -W(maybe-)uninitialized warnings inside the
// AVX-512 intrinsic headers (GCC bug 105593); they are located in the header, so silencing them
// around the include keeps the warning on for our own code.

#if defined(__x86_64__) || defined(__i386__)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
#endif
