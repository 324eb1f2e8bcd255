// nnfpga layer library: shared helpers. Semantics of every layer: src/nnfpga/ops/ (the emulator).
#ifndef NNFPGA_COMMON_H_
#define NNFPGA_COMMON_H_

#include "ap_fixed.h"
#include "ap_int.h"

// HLS pragmas as macros: seen by Vitis HLS (which defines __SYNTHESIS__), invisible to g++ -Wall.
#ifdef __SYNTHESIS__
#define NNFPGA_PRAGMA(...) _Pragma(#__VA_ARGS__)
#define NNFPGA_HLS(...) NNFPGA_PRAGMA(HLS __VA_ARGS__)
#else
#define NNFPGA_HLS(...)
#endif

namespace nnfpga {

enum strategy_t { STRATEGY_LATENCY, STRATEGY_RESOURCE };

// Two's-complement mantissa of a fixed-point value (value = mantissa * 2^-F), sign-extended.
template <class T, int W, bool SIGNED>
inline long long mantissa(const T &x) {
    unsigned long long bits = x.range(W - 1, 0).to_uint64();
    if (SIGNED && W < 64 && ((bits >> (W - 1)) & 1ULL)) bits |= ~((1ULL << W) - 1ULL);
    return (long long)bits;
}

// Set a value from its two's-complement mantissa (low W bits used).
template <class T, int W>
inline void set_mantissa(T &x, long long m) {
    unsigned long long bits = (unsigned long long)m;
    if (W < 64) bits &= (1ULL << W) - 1ULL;
    x.range(W - 1, 0) = bits;
}

// A value from the raw mantissa stored in a constant integer array (compiles fast, synthesizes to a ROM).
template <class T, int W, class RAW>
inline T from_raw(RAW r) {
    T x;
    set_mantissa<T, W>(x, (long long)r);
    return x;
}

// floor(v / 2^S) for any sign of S (S < 0 multiplies).
template <int S>
inline long long shift_floor(long long v) {
    if (S >= 0) return v >> (S >= 0 ? S : 0);
    return v * (1LL << (S < 0 ? -S : 0));
}

// The larger / smaller of two values, compared in T (a type that holds both exactly).
template <class T, class A, class B>
inline T maximum(const A &a, const B &b) {
    const T x = a, y = b;
    return y > x ? y : x;
}

template <class T, class A, class B>
inline T minimum(const A &a, const B &b) {
    const T x = a, y = b;
    return y < x ? y : x;
}

inline long long clamp_index(long long i, long long size) {
    return i < 0 ? 0 : (i >= size ? size - 1 : i);
}

}  // namespace nnfpga

#endif
