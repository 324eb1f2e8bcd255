// nnfpga's own header-only implementation of the part of Xilinx's ap_types API that nnfpga-generated HLS code
// uses: ap_int<W>, ap_uint<W>, ap_fixed<W,I,Q,O>, ap_ufixed<W,I,Q,O>. Written from the documented semantics (and
// checked bit for bit against Xilinx's headers by tests/backends/hls/test_ap_header_subset.py); it shares no
// code with them. Same file names as Xilinx's, so `#include "ap_fixed.h"` works with either set.
//
// Values are held as plain integers (`V`, the mantissa: value = V * 2^-(W-I)), sign- or zero-extended in a
// `long long` when W + !signed <= 64 and in an `__int128` up to 128 bits. Any type up to 128 bits (ap_int,
// ap_fixed) / 127 bits (ap_uint, ap_ufixed) works; wider ones, including results of + - * that would be wider
// (e.g. ap_uint<64> * ap_uint<64>), fail with a static_assert. I may be negative or exceed W.
//
// Conversions (constructors, assignment, compound operators) apply the TARGET's rounding mode (AP_TRN,
// AP_TRN_ZERO, AP_RND, AP_RND_ZERO, AP_RND_INF, AP_RND_MIN_INF, AP_RND_CONV) to the exact source value, then its
// overflow mode (AP_WRAP, AP_SAT, AP_SAT_ZERO, AP_SAT_SYM; AP_SAT_SYM maps the most negative value to -max).
// ap_int/ap_uint targets truncate toward zero and wrap. Doubles are decoded as Xilinx does (subnormals read
// with the implicit bit set). + - * are exact with Xilinx's result types; comparisons reproduce Xilinx's results
// exactly, including its C-like mixed signed/unsigned rules (e.g. ap_int<32>(-1) < ap_uint<32>(1) is false,
// ap_int<8>(-1) == ap_uint<32>(0xffffffff) is true) and its AP_SAT_SYM quirk on the right-hand operand.
//
// Deliberate differences from Xilinx's headers (each a bug there, or an extension here):
//  * ap_int<W>(double or float) of a negative value above -0.5 is 0 (Xilinx's returns +1);
//  * ap_fixed with I < 0, or signed with I == 0, converted to ap_int or by to_int()/to_int64()/...: truncation
//    toward zero, i.e. 0 (Xilinx's returns -1 for negative values when I == 0, uninitialized bits when I < 0);
//  * to_double()/to_float() of ap_int/ap_uint wider than 64 bits round correctly (Xilinx's return garbage, e.g.
//    0 for ap_int<100> holding 2^80);
//  * default construction gives 0 (Xilinx's leaves the bits uninitialized);
//  * reading an empty hls::stream aborts (hls_stream.h; Xilinx's warns and returns a default value).
// Not supported: division and %, string constructors, concatenation, reversed ranges (hi < lo), saturation bits
// N != 0, AP_WRAP_SM, NaN and infinities, volatile objects, ap_fixed's implicit conversions to C arithmetic types
// (use to_double(), to_int(), ...; there is an explicit operator bool). ap_int/ap_uint convert implicitly to
// long long / unsigned long long, as in Xilinx's. operator<< on streams prints to_double() for ap_fixed
// (Xilinx's prints an exact decimal string).
#ifndef NNFPGA_AP_TYPES_H
#define NNFPGA_AP_TYPES_H

#if __cplusplus < 201103L
#error "nnfpga's ap_int.h needs C++11 or later (-std=c++14)"
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string>
#include <type_traits>

#define NNFPGA_AP_INLINE inline __attribute__((always_inline))

enum ap_q_mode { AP_RND, AP_RND_ZERO, AP_RND_MIN_INF, AP_RND_INF, AP_RND_CONV, AP_TRN, AP_TRN_ZERO };
enum ap_o_mode { AP_SAT, AP_SAT_ZERO, AP_SAT_SYM, AP_WRAP, AP_WRAP_SM };

typedef long long ap_slong;
typedef unsigned long long ap_ulong;

template <int W_, bool S_> struct ap_int_base;
template <int W_> struct ap_int;
template <int W_> struct ap_uint;
template <int W_, int I_, bool S_ = true, ap_q_mode Q_ = AP_TRN, ap_o_mode O_ = AP_WRAP, int N_ = 0>
struct ap_fixed_base;
template <int W_, int I_, ap_q_mode Q_ = AP_TRN, ap_o_mode O_ = AP_WRAP, int N_ = 0> struct ap_fixed;
template <int W_, int I_, ap_q_mode Q_ = AP_TRN, ap_o_mode O_ = AP_WRAP, int N_ = 0> struct ap_ufixed;

namespace ap_detail {

typedef long long i64;
typedef unsigned long long u64;
__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

template <bool C_, class A_, class B_> struct sel { typedef A_ type; };
template <class A_, class B_> struct sel<false, A_, B_> { typedef B_ type; };
// storage for a B_-bit two's-complement value
template <int B_> struct store { typedef typename sel<(B_ <= 64), i64, i128>::type type; };
template <class T_> struct uns { typedef u64 type; };
template <> struct uns<i128> { typedef u128 type; };
template <class A_, class B_> struct wider { typedef typename sel<(sizeof(A_) >= sizeof(B_)), A_, B_>::type type; };
template <class T_> struct nbits { static constexpr int value = int(sizeof(T_) * 8); };

constexpr int cmax(int a, int b) { return a > b ? a : b; }

// n low bits set (n clamped to 0..width)
template <class U_> constexpr U_ lowmask(int n) {
  return n <= 0 ? U_(0) : (n >= nbits<U_>::value ? ~U_(0) : (U_(1) << n) - 1);
}

// 2^e as a double, at compile time
constexpr double pow2(int e) {
  return e == 0 ? 1.0 : (e > 0 ? (e >= 64 ? 18446744073709551616.0 * pow2(e - 64) : double(1ULL << (e - 1)) * 2.0)
                                 : (e <= -64 ? pow2(e + 64) / 18446744073709551616.0 : 1.0 / pow2(-e)));
}

// The low W_ bits of u as a W_-bit signed (sign-extended) or unsigned (zero-extended) value in T_.
template <class T_, int W_, bool S_> NNFPGA_AP_INLINE T_ norm(typename uns<T_>::type u) {
  typedef typename uns<T_>::type U;
  static constexpr int SH = nbits<T_>::value - W_;
  static_assert(SH >= (S_ ? 0 : 1), "nnfpga ap_types: value does not fit its storage");
  return S_ ? (T_)((T_)(u << SH) >> SH) : (T_)(u & (~U(0) >> SH));
}

template <class T_> NNFPGA_AP_INLINE T_ shl(T_ v, int s) { return (T_)((typename uns<T_>::type)v << s); }

// Convert the value v * 2^-F2 (v fits in sb bits, two's complement) to a W_-bit target with F fractional bits,
// k = F2 - F: round with Q_ to the target LSB, then handle overflow with O_. Returns the target's V.
// k and sb are constants for fixed-point sources (everything folds) and run-time values for doubles.
template <int W_, bool S_, ap_q_mode Q_, ap_o_mode O_, class TD_, class TS_>
NNFPGA_AP_INLINE TD_ convert(TS_ v, int k, int sb) {
  static_assert(O_ != AP_WRAP_SM, "nnfpga ap_types: AP_WRAP_SM is not supported");
  typedef typename wider<TD_, TS_>::type T;
  typedef typename uns<T>::type U;
  typedef typename uns<TD_>::type UD;
  const int BITS = nbits<T>::value;
  const T hi = (T)lowmask<U>(S_ ? W_ - 1 : W_);
  const T lo = !S_ ? T(0) : ((O_ == AP_SAT_SYM && W_ > 1) ? T(-hi) : T(-hi - 1));
  T q;
  if (k < 0) {  // more fractional bits: exact left shift, then overflow
    const int s = -k;
    if (O_ == AP_WRAP) return norm<TD_, W_, S_>((UD)(s < BITS ? (U)(T)v << s : U(0)));
    const T x = (T)v;
    const T hs = s < BITS ? T(hi >> s) : T(0);  // floor(hi / 2^s)
    const T ls = s < BITS ? T((lo >> s) + T(((U)lo & lowmask<U>(s)) != 0)) : T(0);  // ceil(lo / 2^s)
    if (x > hs) return O_ == AP_SAT_ZERO ? TD_(0) : (TD_)hi;
    if (x < ls) return O_ == AP_SAT_ZERO ? TD_(0) : (TD_)lo;
    return s < BITS ? (TD_)((U)x << s) : TD_(0);
  }
  if (k == 0) {
    q = (T)v;
  } else {  // fewer fractional bits: round
    T x = (T)v;
    int kk = k;
    if (k >= sb) {  // |v| <= half an LSB: only the sign, zero and the exact tie -1/2 LSB matter
      const bool tie = k == sb && x < 0 && (U)x == ~lowmask<U>(sb - 1);
      x = tie ? T(-2) : T((x > 0) - (x < 0));
      kk = 2;
    }
    const T fl = x >> kk;
    if (Q_ == AP_TRN) {
      q = fl;
    } else {
      const U rem = (U)x & lowmask<U>(kk), half = U(1) << (kk - 1);
      const bool neg = x < 0;
      bool inc;
      switch (Q_) {
        case AP_TRN_ZERO: inc = neg && rem != 0; break;
        case AP_RND: inc = rem >= half; break;
        case AP_RND_ZERO: inc = rem > half || (rem == half && neg); break;
        case AP_RND_INF: inc = rem > half || (rem == half && !neg); break;
        case AP_RND_MIN_INF: inc = rem > half; break;
        case AP_RND_CONV: inc = rem > half || (rem == half && (fl & 1)); break;
        default: inc = false; break;
      }
      q = fl + T(inc);
    }
  }
  if (O_ == AP_WRAP) return norm<TD_, W_, S_>((UD)(U)q);
  if (q > hi) return O_ == AP_SAT_ZERO ? TD_(0) : (TD_)hi;
  if (q < lo) return O_ == AP_SAT_ZERO ? TD_(0) : (TD_)lo;
  return (TD_)q;
}

// A double's value as m * 2^e with |m| < 2^53, decoded like Xilinx's headers (the implicit bit is always set,
// so subnormals read as 2^-1023 * 1.f) and converted with convert().
template <int W_, bool S_, ap_q_mode Q_, ap_o_mode O_, int F_, class TD_> inline TD_ from_double(double d) {
  u64 b;
  std::memcpy(&b, &d, sizeof b);
  if ((b << 1) == 0) return TD_(0);
  const int ex = int((b >> 52) & 0x7ff);
  i64 m = i64((b & lowmask<u64>(52)) | (u64(1) << 52));
  if (b >> 63) m = -m;
  return convert<W_, S_, Q_, O_, TD_, i64>(m, 1075 - ex - F_, 54);
}

// Value v * 2^-F_ truncated toward zero, modulo 2^64.
template <int F_, class T_> NNFPGA_AP_INLINE u64 trunc_bits(T_ v) {
  typedef typename uns<T_>::type U;
  const int BITS = nbits<T_>::value;
  if (F_ <= 0) return -F_ < BITS ? (u64)((U)v << (F_ <= 0 && -F_ < BITS ? -F_ : 0)) : 0;
  if (F_ >= BITS) return 0;
  const int f = F_ > 0 && F_ < BITS ? F_ : 0;
  const T_ t = T_(v >> f) + T_(v < 0 && ((U)v & lowmask<U>(f)) != 0);
  return (u64)(U)t;
}

// C integer types as Xilinx sees them in mixed expressions: ap_int_base<w, s> / ap_fixed_base<w, w, s>.
template <class T_> struct cint { static constexpr bool ok = false; };
#define AP_DETAIL_CINT(T, W, S)                                        \
  template <> struct cint<T> {                                         \
    static constexpr bool ok = true;                                   \
    static constexpr int w = W;                                        \
    static constexpr bool s = S;                                       \
    typedef typename store<W + !S>::type st;                           \
  };
AP_DETAIL_CINT(bool, 1, false)
AP_DETAIL_CINT(char, 8, (char(-1) < 0))
AP_DETAIL_CINT(signed char, 8, true)
AP_DETAIL_CINT(unsigned char, 8, false)
AP_DETAIL_CINT(short, int(sizeof(short) * 8), true)
AP_DETAIL_CINT(unsigned short, int(sizeof(short) * 8), false)
AP_DETAIL_CINT(int, int(sizeof(int) * 8), true)
AP_DETAIL_CINT(unsigned int, int(sizeof(int) * 8), false)
AP_DETAIL_CINT(long, int(sizeof(long) * 8), true)
AP_DETAIL_CINT(unsigned long, int(sizeof(long) * 8), false)
AP_DETAIL_CINT(long long, 64, true)
AP_DETAIL_CINT(unsigned long long, 64, false)
#undef AP_DETAIL_CINT
// unscoped enums promote to int
template <class T_, bool E_ = std::is_enum<T_>::value> struct cint_of : cint<T_> {};
template <class T_> struct cint_of<T_, true> : cint<int> {};
template <class T_, class R_, bool OK_ = cint_of<T_>::ok> struct enable_cint {};
template <class T_, class R_> struct enable_cint<T_, R_, true> { typedef R_ type; };

// Result types, as Xilinx's RType: * -> W1+W2, I1+I2; + and - -> one more integer bit than the wider operand
// (an unsigned operand counts one more when mixed with a signed one), the finer LSB.
template <int W_, int I_, bool S_> struct fx_t { typedef ap_fixed<W_, I_> type; };
template <int W_, int I_> struct fx_t<W_, I_, false> { typedef ap_ufixed<W_, I_> type; };
template <int W_, bool S_> struct int_t { typedef ap_int<W_> type; };
template <int W_> struct int_t<W_, false> { typedef ap_uint<W_> type; };

template <int W1_, int I1_, bool S1_, int W2_, int I2_, bool S2_> struct rtype {
  static constexpr int F1 = W1_ - I1_, F2 = W2_ - I2_, F = cmax(F1, F2);
  static constexpr int IA = cmax(I1_ + (S2_ && !S1_), I2_ + (S1_ && !S2_)) + 1;
  static constexpr int WL = cmax(W1_ + (S2_ && !S1_), W2_ + (S1_ && !S2_));  // ap_int logic width
  static constexpr int mult_w = W1_ + W2_, mult_i = I1_ + I2_, plus_w = IA + F, plus_i = IA;
  static constexpr bool mult_s = S1_ || S2_, plus_s = S1_ || S2_, minus_s = true;
  typedef typename fx_t<mult_w, mult_i, mult_s>::type mult;
  typedef typename fx_t<plus_w, plus_i, plus_s>::type plus;
  typedef typename fx_t<plus_w, plus_i, minus_s>::type minus;
  typedef typename int_t<mult_w, mult_s>::type imult;
  typedef typename int_t<WL + 1, plus_s>::type iplus;
  typedef typename int_t<WL + 1, minus_s>::type iminus;
  typedef typename int_t<WL, plus_s>::type ilogic;
};

// Exact a * 2^-F1 op b * 2^-F2 into the result type R_ (F_ fractional bits); the result always fits.
template <class R_, int F_, int F1_, int F2_, class A_, class B_> NNFPGA_AP_INLINE R_ add(A_ a, B_ b) {
  typedef typename R_::store_type T;
  R_ r;
  r.V = T(shl<T>((T)a, F_ - F1_) + shl<T>((T)b, F_ - F2_));
  return r;
}
template <class R_, int F_, int F1_, int F2_, class A_, class B_> NNFPGA_AP_INLINE R_ sub(A_ a, B_ b) {
  typedef typename R_::store_type T;
  R_ r;
  r.V = T(shl<T>((T)a, F_ - F1_) - shl<T>((T)b, F_ - F2_));
  return r;
}
template <class R_, class A_, class B_> NNFPGA_AP_INLINE R_ mul(A_ a, B_ b) {
  typedef typename R_::store_type T;
  R_ r;
  r.V = T((T)a * (T)b);
  return r;
}

// Comparisons, exactly as Xilinx's: the operand with fewer fractional bits is first converted to the other's
// LSB (the left one gains an extra integer bit, the right one takes its own modes, see QB_), then the two
// integers of widths AWA, AWB are compared with ap_private's rules: equal signedness compares values; mixed
// signedness follows C: ordering is unsigned (a negative operand is greater than every value of the other)
// unless both are narrower than 32 bits or the signed one is wider, and equality is modulo 2^max(AWA, AWB, 32)
// (for equal widths: exact below 64 bits, modulo 2^width from 64 bits).
// QB_: right operand is a signed AP_SAT_SYM type; when it must gain fractional bits, its most negative value
// becomes min + 1 new LSB (Xilinx's conversion applies the symmetric saturation there).
enum cmp_op { CMP_EQ, CMP_NE, CMP_LT, CMP_GT, CMP_LE, CMP_GE };

// Three-way comparison of x with y * 2^d (d >= 0), exact; YB_: bits of y's two's-complement value.
template <class T_, int YB_> NNFPGA_AP_INLINE int cmp_shift(T_ x, T_ y, int d) {
  typedef typename uns<T_>::type U;
  const int BITS = nbits<T_>::value;
  if (YB_ + d <= BITS) {
    const T_ yy = (T_)((U)y << (d < BITS ? d : 0));
    return (x > yy) - (x < yy);
  }
  const T_ q = d < BITS ? T_(x >> (d < BITS ? d : 0)) : (x < 0 ? T_(-1) : T_(0));
  if (q != y) return q > y ? 1 : -1;
  const bool rem = d < BITS ? (((U)x & lowmask<U>(d)) != 0) : (q < 0 || x != 0);
  return rem ? 1 : 0;
}

template <int OP_, int WA_, int FA_, bool SA_, int WB_, int FB_, bool SB_, bool QB_, class TA_, class TB_>
NNFPGA_AP_INLINE bool compare(TA_ a, TB_ b) {
  typedef typename wider<TA_, TB_>::type T;
  constexpr int D = FA_ > FB_ ? FA_ - FB_ : FB_ - FA_;
  constexpr int AWA = FA_ < FB_ ? cmax(WA_ + D + 1, 1) : WA_;
  constexpr int AWB = FA_ > FB_ ? cmax(WB_ + D, 1) : WB_;
  constexpr bool MIXED = SA_ != SB_;
  constexpr bool ORD_U = MIXED && !(AWA < 32 && AWB < 32) && (SA_ ? AWB >= AWA : AWA >= AWB);
  constexpr int EQ_M = AWA == AWB ? (AWA < 64 ? 0 : AWA) : cmax(cmax(AWA, AWB), 32);
  constexpr bool EQ_MOD = MIXED && EQ_M != 0 && (SA_ ? AWB : AWA) == EQ_M;
  static_assert(!(EQ_MOD && (OP_ == CMP_EQ || OP_ == CMP_NE)) || EQ_M <= 126,
                "nnfpga ap_types: == between signed and unsigned operands this wide is not supported");
  const bool quirk = QB_ && FA_ > FB_ && SB_ && (typename uns<TB_>::type)b == ~lowmask<typename uns<TB_>::type>(WB_ - 1);
  int c;
  if (FA_ == FB_) {
    c = ((T)a > (T)b) - ((T)a < (T)b);
  } else if (FA_ > FB_) {
    c = cmp_shift<T, WB_ + !SB_>((T)a, (T)b, D);
    if (quirk) c = c <= 0 ? -1 : (cmp_shift<T, WB_ + !SB_>(T((T)a - 1), (T)b, D) == 0 ? 0 : 1);
  } else {
    c = -cmp_shift<T, WA_ + !SA_>((T)b, (T)a, D);
  }
  if (OP_ == CMP_EQ || OP_ == CMP_NE) {
    bool eq = c == 0;
    if (EQ_MOD && (SA_ ? a < 0 : b < 0)) {  // negative signed side: equal iff unsigned - signed == 2^M
      const int sa = FA_ < FB_ ? (D < 127 ? D : 0) : 0, sb = FA_ > FB_ ? (D < 127 ? D : 0) : 0;
      const u128 A = (u128)shl<i128>((i128)a, sa), B = (u128)shl<i128>((i128)b, sb) + u128(quirk);
      eq = (SA_ ? B - A : A - B) == (u128(1) << (EQ_M < 127 ? EQ_M : 0));
    }
    return OP_ == CMP_EQ ? eq : !eq;
  }
  const bool lt = ORD_U ? (SA_ ? (a < 0 ? false : c < 0) : (b < 0 ? true : c < 0)) : c < 0;
  const bool gt = ORD_U ? (SA_ ? (a < 0 ? true : c > 0) : (b < 0 ? false : c > 0)) : c > 0;
  switch (OP_) {
    case CMP_LT: return lt;
    case CMP_GT: return gt;
    case CMP_LE: return !gt;
    default: return !lt;
  }
}

// Proxies for x.range(hi, lo) and x[i] on any ap type (Owner_ has V, store_type, width, is_signed).
template <class Owner_> struct range_ref {
  typedef typename Owner_::store_type T;
  typedef typename uns<T>::type U;
  Owner_* d;
  int hi, lo;
  range_ref(Owner_* owner, int h, int l) : d(owner), hi(h), lo(l) {
    if (l < 0 || h < l || h >= Owner_::width) {
      std::fprintf(stderr, "nnfpga ap_types: range(%d, %d) of a %d-bit value is not supported\n", h, l,
                   Owner_::width);
      std::abort();
    }
  }
  int length() const { return hi - lo + 1; }
  U get_bits() const { return ((U)d->V >> lo) & lowmask<U>(hi - lo + 1); }
  void set_bits(U bits) {
    const U mask = lowmask<U>(hi - lo + 1) << lo;
    const U u = ((U)d->V & ~mask) | ((bits << lo) & mask);
    d->V = norm<T, Owner_::width, Owner_::is_signed>(u);
  }
  template <class C_> typename enable_cint<C_, range_ref&>::type operator=(C_ x) {
    set_bits((U)(typename cint_of<C_>::st)x);
    return *this;
  }
  template <int W2_, bool S2_> range_ref& operator=(const ap_int_base<W2_, S2_>& x) {
    set_bits((U)x.V);
    return *this;
  }
  range_ref& operator=(const range_ref& r) {
    set_bits((U)r.get_bits());
    return *this;
  }
  template <class O2_> range_ref& operator=(const range_ref<O2_>& r) {
    set_bits((U)r.get_bits());
    return *this;
  }
  u64 to_uint64() const { return (u64)get_bits(); }
  i64 to_int64() const { return (i64)(u64)get_bits(); }
  unsigned to_uint() const { return (unsigned)get_bits(); }
  int to_int() const { return (int)(unsigned)get_bits(); }
  unsigned long to_ulong() const { return (unsigned long)get_bits(); }
  long to_long() const { return (long)(unsigned long)get_bits(); }
  operator u64() const { return (u64)get_bits(); }
};

template <class Owner_> struct bit_ref {
  typedef typename Owner_::store_type T;
  typedef typename uns<T>::type U;
  Owner_* d;
  int i;
  bit_ref(Owner_* owner, int idx) : d(owner), i(idx) {
    if (idx < 0 || idx >= Owner_::width) {
      std::fprintf(stderr, "nnfpga ap_types: bit %d of a %d-bit value\n", idx, Owner_::width);
      std::abort();
    }
  }
  operator bool() const { return ((U)d->V >> i) & 1; }
  bool to_bool() const { return ((U)d->V >> i) & 1; }
  bit_ref& operator=(bool b) {
    const U u = ((U)d->V & ~(U(1) << i)) | (U(b) << i);
    d->V = norm<T, Owner_::width, Owner_::is_signed>(u);
    return *this;
  }
  bit_ref& operator=(const bit_ref& r) { return *this = bool(r); }
};

}  // namespace ap_detail

// ------------------------------------------------------------------------------------------------------------
// ap_int_base<W, S>: ap_int<W> (S = true), ap_uint<W> (S = false). Conversions wrap (C semantics).
// ------------------------------------------------------------------------------------------------------------
#define AP_DETAIL_FOR_CINTS(M)                                                                                 \
  M(bool) M(char) M(signed char) M(unsigned char) M(short) M(unsigned short) M(int) M(unsigned int) M(long)   \
      M(unsigned long) M(long long) M(unsigned long long)

template <int W_, bool S_> struct ap_int_base {
  static_assert(W_ >= 1, "ap_int<W>/ap_uint<W>: W must be at least 1");
  static_assert(W_ + !S_ <= 128,
                "nnfpga ap_types: at most 128 bits (ap_int) / 127 bits (ap_uint), results of arithmetic included");
  typedef typename ap_detail::store<W_ + !S_>::type store_type;
  typedef typename ap_detail::uns<store_type>::type ustore_type;
  typedef typename ap_detail::sel<S_, ap_slong, ap_ulong>::type RetType;
  static const int width = W_;
  static const bool is_signed = S_;
  template <int W2_, bool S2_> struct RType {
    typedef ap_detail::rtype<W_, W_, S_, W2_, W2_, S2_> R;
    typedef typename R::imult mult;
    typedef typename R::iplus plus;
    typedef typename R::iminus minus;
    typedef typename R::ilogic logic;
    typedef typename ap_detail::int_t<W_, S_>::type arg1;
  };

  store_type V;

  template <class X_> static NNFPGA_AP_INLINE store_type wrap(X_ x) {
    return ap_detail::norm<store_type, W_, S_>((ustore_type)x);
  }

  ap_int_base() : V(0) {}
  template <int W2_, bool S2_> ap_int_base(const ap_int_base<W2_, S2_>& op) : V(wrap(op.V)) {}
  template <int W2_, int I2_, bool S2_, ap_q_mode Q2_, ap_o_mode O2_, int N2_>
  ap_int_base(const ap_fixed_base<W2_, I2_, S2_, Q2_, O2_, N2_>& op)
      : V(ap_detail::convert<W_, S_, AP_TRN_ZERO, AP_WRAP, store_type>(op.V, W2_ - I2_, W2_ + !S2_)) {}
#define AP_DETAIL_CTOR(C) \
  ap_int_base(C x) : V(wrap((typename ap_detail::cint<C>::st)x)) {}
  AP_DETAIL_FOR_CINTS(AP_DETAIL_CTOR)
#undef AP_DETAIL_CTOR
  ap_int_base(double d) : V(ap_detail::from_double<W_, S_, AP_TRN_ZERO, AP_WRAP, 0, store_type>(d)) {}
  ap_int_base(float f) : V(ap_detail::from_double<W_, S_, AP_TRN_ZERO, AP_WRAP, 0, store_type>(double(f))) {}
  template <class O_> ap_int_base(const ap_detail::range_ref<O_>& r) : V(wrap(r.get_bits())) {}
  template <class O_> ap_int_base(const ap_detail::bit_ref<O_>& r) : V(wrap(bool(r))) {}

  // conversions
  operator RetType() const { return (RetType)V; }
  bool to_bool() const { return V != 0; }
  char to_char() const { return (char)(unsigned char)(ustore_type)V; }
  int to_int() const { return (int)(unsigned)(ustore_type)V; }
  unsigned to_uint() const { return (unsigned)(ustore_type)V; }
  long to_long() const { return (long)(unsigned long)(ustore_type)V; }
  unsigned long to_ulong() const { return (unsigned long)(ustore_type)V; }
  ap_slong to_int64() const { return (ap_slong)(ap_ulong)(ustore_type)V; }
  ap_ulong to_uint64() const { return (ap_ulong)(ustore_type)V; }
  double to_double() const { return (double)V; }
  float to_float() const { return (float)V; }
  int length() const { return W_; }
  bool iszero() const { return V == 0; }
  bool is_zero() const { return V == 0; }
  bool sign() const { return V < 0; }

  // bits
  ap_detail::range_ref<ap_int_base> range(int hi, int lo) const {
    return ap_detail::range_ref<ap_int_base>(const_cast<ap_int_base*>(this), hi, lo);
  }
  ap_detail::range_ref<ap_int_base> range() const { return range(W_ - 1, 0); }
  ap_detail::range_ref<ap_int_base> operator()(int hi, int lo) const { return range(hi, lo); }
  ap_detail::bit_ref<ap_int_base> operator[](int i) { return ap_detail::bit_ref<ap_int_base>(this, i); }
  bool operator[](int i) const { return ap_detail::bit_ref<ap_int_base>(const_cast<ap_int_base*>(this), i); }
  ap_detail::bit_ref<ap_int_base> bit(int i) { return ap_detail::bit_ref<ap_int_base>(this, i); }
  bool bit(int i) const { return (*this)[i]; }
  bool test(int i) const { return (*this)[i]; }
  bool get_bit(int i) const { return (*this)[i]; }
  void set_bit(int i, bool b) { (*this)[i] = b; }
  void set(int i) { (*this)[i] = true; }
  void clear(int i) { (*this)[i] = false; }

  // unary
  typename ap_detail::rtype<1, 1, false, W_, W_, S_>::iminus operator-() const {
    typename ap_detail::rtype<1, 1, false, W_, W_, S_>::iminus r;
    r.V = -r.wrap(V);
    return r;
  }
  typename ap_detail::int_t<W_, S_>::type operator+() const { return *this; }
  typename ap_detail::int_t<W_, S_>::type operator~() const {
    typename ap_detail::int_t<W_, S_>::type r;
    r.V = wrap(~V);
    return r;
  }
  bool operator!() const { return V == 0; }

  // compound assignment: wraps to this width (modular arithmetic)
  template <int W2_, bool S2_> ap_int_base& operator+=(const ap_int_base<W2_, S2_>& b) {
    V = wrap((ustore_type)V + (ustore_type)b.V);
    return *this;
  }
  template <int W2_, bool S2_> ap_int_base& operator-=(const ap_int_base<W2_, S2_>& b) {
    V = wrap((ustore_type)V - (ustore_type)b.V);
    return *this;
  }
  template <int W2_, bool S2_> ap_int_base& operator*=(const ap_int_base<W2_, S2_>& b) {
    V = wrap((ustore_type)V * (ustore_type)b.V);
    return *this;
  }
  template <int W2_, bool S2_> ap_int_base& operator&=(const ap_int_base<W2_, S2_>& b) {
    V = wrap(V & (store_type)b.V);
    return *this;
  }
  template <int W2_, bool S2_> ap_int_base& operator|=(const ap_int_base<W2_, S2_>& b) {
    V = wrap(V | (store_type)b.V);
    return *this;
  }
  template <int W2_, bool S2_> ap_int_base& operator^=(const ap_int_base<W2_, S2_>& b) {
    V = wrap(V ^ (store_type)b.V);
    return *this;
  }
#define AP_DETAIL_CASSIGN(OP)                                                                     \
  template <class C_> typename ap_detail::enable_cint<C_, ap_int_base&>::type operator OP(C_ x) { \
    return *this OP ap_int_base<ap_detail::cint_of<C_>::w, ap_detail::cint_of<C_>::s>(x);          \
  }                                                                                               \
  template <int W2_, int I2_, bool S2_, ap_q_mode Q2_, ap_o_mode O2_, int N2_>                    \
  ap_int_base& operator OP(const ap_fixed_base<W2_, I2_, S2_, Q2_, O2_, N2_>& x) {                \
    return *this OP ap_int_base<ap_detail::cmax(I2_, 1), S2_>(x);                                 \
  }
  AP_DETAIL_CASSIGN(+=)
  AP_DETAIL_CASSIGN(-=)
  AP_DETAIL_CASSIGN(*=)
  AP_DETAIL_CASSIGN(&=)
  AP_DETAIL_CASSIGN(|=)
  AP_DETAIL_CASSIGN(^=)
#undef AP_DETAIL_CASSIGN
  ap_int_base& operator<<=(long long n) { return *this = shift_left(n); }
  ap_int_base& operator>>=(long long n) { return *this = shift_right(n); }
  ap_int_base& operator++() { return *this += ap_int_base<1, false>(1); }
  ap_int_base& operator--() { return *this -= ap_int_base<1, false>(1); }
  const typename ap_detail::int_t<W_, S_>::type operator++(int) {
    typename ap_detail::int_t<W_, S_>::type t = *this;
    ++*this;
    return t;
  }
  const typename ap_detail::int_t<W_, S_>::type operator--(int) {
    typename ap_detail::int_t<W_, S_>::type t = *this;
    --*this;
    return t;
  }

  // shifts keep the type (bits shifted out are lost; >> is arithmetic for ap_int); a negative count reverses
  typename ap_detail::int_t<W_, S_>::type shift_left(long long n) const {
    if (n < 0) return shift_right(-n);
    typename ap_detail::int_t<W_, S_>::type r;
    r.V = n < ap_detail::nbits<store_type>::value ? wrap((ustore_type)V << n) : store_type(0);
    return r;
  }
  typename ap_detail::int_t<W_, S_>::type shift_right(long long n) const {
    if (n < 0) return shift_left(-n);
    typename ap_detail::int_t<W_, S_>::type r;
    r.V = n < ap_detail::nbits<store_type>::value ? store_type(V >> n) : store_type(V < 0 ? -1 : 0);
    return r;
  }
  template <class C_>
  typename ap_detail::enable_cint<C_, typename ap_detail::int_t<W_, S_>::type>::type operator<<(C_ n) const {
    return shift_left((long long)n);
  }
  template <class C_>
  typename ap_detail::enable_cint<C_, typename ap_detail::int_t<W_, S_>::type>::type operator>>(C_ n) const {
    return shift_right((long long)n);
  }
};

template <int W_> struct ap_int : ap_int_base<W_, true> {
  typedef ap_int_base<W_, true> Base;
  using Base::Base;
  ap_int() : Base() {}
  ap_int(const Base& op) : Base(op) {}  // (an inherited constructor cannot take the base class itself)
};
template <int W_> struct ap_uint : ap_int_base<W_, false> {
  typedef ap_int_base<W_, false> Base;
  using Base::Base;
  ap_uint() : Base() {}
  ap_uint(const Base& op) : Base(op) {}  // (an inherited constructor cannot take the base class itself)
};

// ------------------------------------------------------------------------------------------------------------
// ap_fixed_base<W, I, S, Q, O>: ap_fixed (S = true), ap_ufixed (S = false). Value = V * 2^-(W - I).
// ------------------------------------------------------------------------------------------------------------
template <int W_, int I_, bool S_, ap_q_mode Q_, ap_o_mode O_, int N_> struct ap_fixed_base {
  static_assert(W_ >= 1, "ap_fixed<W,I>: W must be at least 1");
  static_assert(W_ + !S_ <= 128,
                "nnfpga ap_types: at most 128 bits (ap_fixed) / 127 bits (ap_ufixed), results of arithmetic included");
  static_assert(N_ == 0, "nnfpga ap_types: the saturation-bits parameter N must be 0");
  static_assert(O_ != AP_WRAP_SM, "nnfpga ap_types: AP_WRAP_SM is not supported");
  typedef typename ap_detail::store<W_ + !S_>::type store_type;
  typedef typename ap_detail::uns<store_type>::type ustore_type;
  static const int width = W_;
  static const int iwidth = I_;
  static const bool is_signed = S_;
  static const ap_q_mode qmode = Q_;
  static const ap_o_mode omode = O_;
  static constexpr int F = W_ - I_;
  template <int W2_, int I2_, bool S2_> struct RType {
    typedef ap_detail::rtype<W_, I_, S_, W2_, I2_, S2_> R;
    typedef typename R::mult mult;
    typedef typename R::plus plus;
    typedef typename R::minus minus;
  };

  store_type V;

  template <int W2_, bool S2_, int F2_, class X_> static NNFPGA_AP_INLINE store_type conv(X_ v) {
    return ap_detail::convert<W_, S_, Q_, O_, store_type>(v, F2_ - F, W2_ + !S2_);
  }

  ap_fixed_base() : V(0) {}
  template <int W2_, int I2_, bool S2_, ap_q_mode Q2_, ap_o_mode O2_, int N2_>
  ap_fixed_base(const ap_fixed_base<W2_, I2_, S2_, Q2_, O2_, N2_>& op) : V(conv<W2_, S2_, W2_ - I2_>(op.V)) {}
  template <int W2_, bool S2_> ap_fixed_base(const ap_int_base<W2_, S2_>& op) : V(conv<W2_, S2_, 0>(op.V)) {}
#define AP_DETAIL_CTOR(C)                                                                              \
  ap_fixed_base(C x)                                                                                   \
      : V(conv<ap_detail::cint<C>::w, ap_detail::cint<C>::s, 0>((typename ap_detail::cint<C>::st)x)) {}
  AP_DETAIL_FOR_CINTS(AP_DETAIL_CTOR)
#undef AP_DETAIL_CTOR
  ap_fixed_base(double d) : V(ap_detail::from_double<W_, S_, Q_, O_, F, store_type>(d)) {}
  ap_fixed_base(float f) : V(ap_detail::from_double<W_, S_, Q_, O_, F, store_type>(double(f))) {}
  // a range or bit is read as an unsigned integer value (as Xilinx does)
  template <class O2_> ap_fixed_base(const ap_detail::range_ref<O2_>& r) : V(0) {
    *this = ap_fixed_base(ap_int_base<O2_::width, false>(r));
  }

  ap_fixed_base& setBits(ap_ulong bits) {
    V = ap_detail::norm<store_type, W_, S_>((ustore_type)bits);
    return *this;
  }
  static ap_fixed_base bitsToFixed(ap_ulong bits) {
    ap_fixed_base r;
    r.setBits(bits);
    return r;
  }

  // conversions: to_double/to_float round to nearest even; integers truncate toward zero, then wrap
  double to_double() const {
    constexpr double scale = ap_detail::pow2(-F);
    return (double)V * scale;
  }
  float to_float() const {
    constexpr double scale = ap_detail::pow2(-F);
    return (float)((double)(float)V * scale);
  }
  int to_int() const { return (int)(unsigned)ap_detail::trunc_bits<F>(V); }
  unsigned to_uint() const { return (unsigned)ap_detail::trunc_bits<F>(V); }
  ap_slong to_int64() const { return (ap_slong)ap_detail::trunc_bits<F>(V); }
  ap_ulong to_uint64() const { return ap_detail::trunc_bits<F>(V); }
  char to_char() const { return (char)(unsigned char)ap_detail::trunc_bits<F>(V); }
  ap_int_base<ap_detail::cmax(I_, 1), S_> to_ap_int_base() const { return *this; }
  explicit operator bool() const { return V != 0; }
  bool operator!() const { return V == 0; }
  bool is_zero() const { return V == 0; }
  bool is_neg() const { return V < 0; }
  int length() const { return W_; }
  int wl() const { return W_; }
  int iwl() const { return I_; }
  ap_q_mode q_mode() const { return Q_; }
  ap_o_mode o_mode() const { return O_; }
  int n_bits() const { return N_; }

  // raw bits
  ap_detail::range_ref<ap_fixed_base> range(int hi, int lo) const {
    return ap_detail::range_ref<ap_fixed_base>(const_cast<ap_fixed_base*>(this), hi, lo);
  }
  ap_detail::range_ref<ap_fixed_base> range() const { return range(W_ - 1, 0); }
  ap_detail::range_ref<ap_fixed_base> operator()(int hi, int lo) const { return range(hi, lo); }
  ap_detail::bit_ref<ap_fixed_base> operator[](int i) { return ap_detail::bit_ref<ap_fixed_base>(this, i); }
  bool operator[](int i) const { return ap_detail::bit_ref<ap_fixed_base>(const_cast<ap_fixed_base*>(this), i); }
  ap_detail::bit_ref<ap_fixed_base> bit(int i) { return ap_detail::bit_ref<ap_fixed_base>(this, i); }
  bool bit(int i) const { return (*this)[i]; }

  // unary: -x is exact (one more bit), as Xilinx's ap_fixed_base<W+1, I+1, true>
  ap_fixed_base<W_ + 1, I_ + 1, true> operator-() const {
    ap_fixed_base<W_ + 1, I_ + 1, true> r;
    r.V = -(typename ap_fixed_base<W_ + 1, I_ + 1, true>::store_type)V;
    return r;
  }
  ap_fixed_base operator+() const { return *this; }
  ap_fixed_base<W_, I_, S_> operator~() const {
    ap_fixed_base<W_, I_, S_> r;
    r.V = ap_detail::norm<store_type, W_, S_>(~(ustore_type)V);
    return r;
  }

  // compound assignment: the exact result, converted with this type's rounding and overflow modes
  template <class X_> ap_fixed_base& operator+=(const X_& x) { return *this = ap_fixed_base(*this + x); }
  template <class X_> ap_fixed_base& operator-=(const X_& x) { return *this = ap_fixed_base(*this - x); }
  template <class X_> ap_fixed_base& operator*=(const X_& x) { return *this = ap_fixed_base(*this * x); }
  ap_fixed_base& operator++() { return *this += ap_fixed_base<2, 2, false>(1); }
  ap_fixed_base& operator--() { return *this -= ap_fixed_base<2, 2, false>(1); }
  const ap_fixed_base operator++(int) {
    ap_fixed_base t = *this;
    ++*this;
    return t;
  }
  const ap_fixed_base operator--(int) {
    ap_fixed_base t = *this;
    --*this;
    return t;
  }

  // shifts move the bits and keep the type (no rounding or overflow handling), as Xilinx's
  ap_fixed_base shift_left(long long n) const {
    if (n < 0) return shift_right(-n);
    ap_fixed_base r;
    r.V = n < ap_detail::nbits<store_type>::value ? ap_detail::norm<store_type, W_, S_>((ustore_type)V << n)
                                                  : store_type(0);
    return r;
  }
  ap_fixed_base shift_right(long long n) const {
    if (n < 0) return shift_left(-n);
    ap_fixed_base r;
    r.V = n < ap_detail::nbits<store_type>::value ? store_type(V >> n) : store_type(V < 0 ? -1 : 0);
    return r;
  }
  template <class C_> typename ap_detail::enable_cint<C_, ap_fixed_base>::type operator<<(C_ n) const {
    return shift_left((long long)n);
  }
  template <class C_> typename ap_detail::enable_cint<C_, ap_fixed_base>::type operator>>(C_ n) const {
    return shift_right((long long)n);
  }
  ap_fixed_base& operator<<=(long long n) { return *this = shift_left(n); }
  ap_fixed_base& operator>>=(long long n) { return *this = shift_right(n); }
};

template <int W_, int I_, ap_q_mode Q_, ap_o_mode O_, int N_> struct ap_fixed : ap_fixed_base<W_, I_, true, Q_, O_, N_> {
  typedef ap_fixed_base<W_, I_, true, Q_, O_, N_> Base;
  using Base::Base;
  ap_fixed() : Base() {}
  ap_fixed(const Base& op) : Base(op) {}  // (an inherited constructor cannot take the base class itself)
};
template <int W_, int I_, ap_q_mode Q_, ap_o_mode O_, int N_>
struct ap_ufixed : ap_fixed_base<W_, I_, false, Q_, O_, N_> {
  typedef ap_fixed_base<W_, I_, false, Q_, O_, N_> Base;
  using Base::Base;
  ap_ufixed() : Base() {}
  ap_ufixed(const Base& op) : Base(op) {}  // (an inherited constructor cannot take the base class itself)
};

// ------------------------------------------------------------------------------------------------------------
// Binary operators. An ap_int<W> operand acts as ap_fixed<W, W>, a C integer as ap_int of its width.
// ------------------------------------------------------------------------------------------------------------
#define AP_FX1 int W1_, int I1_, bool S1_, ap_q_mode Q1_, ap_o_mode O1_, int N1_
#define AP_FX2 int W2_, int I2_, bool S2_, ap_q_mode Q2_, ap_o_mode O2_, int N2_
#define AP_FXT1 ap_fixed_base<W1_, I1_, S1_, Q1_, O1_, N1_>
#define AP_FXT2 ap_fixed_base<W2_, I2_, S2_, Q2_, O2_, N2_>
#define AP_CW(C) ap_detail::cint_of<C>::w
#define AP_CS(C) ap_detail::cint_of<C>::s
#define AP_CV(C, x) ((typename ap_detail::cint_of<C>::st)(x))

// AP_DETAIL_ARITH(op, RT member, implementation): every operand combination of one arithmetic operator
#define AP_DETAIL_ARITH(OP, RM, IRM, CALL)                                                                      \
  template <AP_FX1, AP_FX2>                                                                                     \
  inline typename ap_detail::rtype<W1_, I1_, S1_, W2_, I2_, S2_>::RM operator OP(const AP_FXT1& a,              \
                                                                                 const AP_FXT2& b) {            \
    typedef ap_detail::rtype<W1_, I1_, S1_, W2_, I2_, S2_> R;                                                   \
    return CALL(typename R::RM, a.V, b.V);                                                                      \
  }                                                                                                             \
  template <AP_FX1, int W2_, bool S2_>                                                                          \
  inline typename ap_detail::rtype<W1_, I1_, S1_, W2_, W2_, S2_>::RM operator OP(const AP_FXT1& a,              \
                                                                                 const ap_int_base<W2_, S2_>& b) { \
    typedef ap_detail::rtype<W1_, I1_, S1_, W2_, W2_, S2_> R;                                                   \
    return CALL(typename R::RM, a.V, b.V);                                                                      \
  }                                                                                                             \
  template <int W1_, bool S1_, AP_FX2>                                                                          \
  inline typename ap_detail::rtype<W1_, W1_, S1_, W2_, I2_, S2_>::RM operator OP(const ap_int_base<W1_, S1_>& a, \
                                                                                 const AP_FXT2& b) {            \
    typedef ap_detail::rtype<W1_, W1_, S1_, W2_, I2_, S2_> R;                                                   \
    return CALL(typename R::RM, a.V, b.V);                                                                      \
  }                                                                                                             \
  template <AP_FX1, class C_>                                                                                   \
  inline typename ap_detail::enable_cint<                                                                       \
      C_, typename ap_detail::rtype<W1_, I1_, S1_, AP_CW(C_), AP_CW(C_), AP_CS(C_)>::RM>::type                  \
  operator OP(const AP_FXT1& a, C_ b) {                                                                         \
    typedef ap_detail::rtype<W1_, I1_, S1_, AP_CW(C_), AP_CW(C_), AP_CS(C_)> R;                                 \
    return CALL(typename R::RM, a.V, AP_CV(C_, b));                                                             \
  }                                                                                                             \
  template <class C_, AP_FX2>                                                                                   \
  inline typename ap_detail::enable_cint<                                                                       \
      C_, typename ap_detail::rtype<AP_CW(C_), AP_CW(C_), AP_CS(C_), W2_, I2_, S2_>::RM>::type                  \
  operator OP(C_ a, const AP_FXT2& b) {                                                                         \
    typedef ap_detail::rtype<AP_CW(C_), AP_CW(C_), AP_CS(C_), W2_, I2_, S2_> R;                                 \
    return CALL(typename R::RM, AP_CV(C_, a), b.V);                                                             \
  }                                                                                                             \
  template <int W1_, bool S1_, int W2_, bool S2_>                                                               \
  inline typename ap_detail::rtype<W1_, W1_, S1_, W2_, W2_, S2_>::IRM operator OP(                              \
      const ap_int_base<W1_, S1_>& a, const ap_int_base<W2_, S2_>& b) {                                         \
    typedef ap_detail::rtype<W1_, W1_, S1_, W2_, W2_, S2_> R;                                                   \
    return CALL(typename R::IRM, a.V, b.V);                                                                     \
  }                                                                                                             \
  template <int W1_, bool S1_, class C_>                                                                        \
  inline typename ap_detail::enable_cint<                                                                       \
      C_, typename ap_detail::rtype<W1_, W1_, S1_, AP_CW(C_), AP_CW(C_), AP_CS(C_)>::IRM>::type                 \
  operator OP(const ap_int_base<W1_, S1_>& a, C_ b) {                                                           \
    typedef ap_detail::rtype<W1_, W1_, S1_, AP_CW(C_), AP_CW(C_), AP_CS(C_)> R;                                 \
    return CALL(typename R::IRM, a.V, AP_CV(C_, b));                                                            \
  }                                                                                                             \
  template <class C_, int W2_, bool S2_>                                                                        \
  inline typename ap_detail::enable_cint<                                                                       \
      C_, typename ap_detail::rtype<AP_CW(C_), AP_CW(C_), AP_CS(C_), W2_, W2_, S2_>::IRM>::type                 \
  operator OP(C_ a, const ap_int_base<W2_, S2_>& b) {                                                           \
    typedef ap_detail::rtype<AP_CW(C_), AP_CW(C_), AP_CS(C_), W2_, W2_, S2_> R;                                 \
    return CALL(typename R::IRM, AP_CV(C_, a), b.V);                                                            \
  }

#define AP_DETAIL_ADD(RT, a, b) ap_detail::add<RT, R::F, R::F1, R::F2>(a, b)
#define AP_DETAIL_SUB(RT, a, b) ap_detail::sub<RT, R::F, R::F1, R::F2>(a, b)
#define AP_DETAIL_MUL(RT, a, b) ap_detail::mul<RT>(a, b)
AP_DETAIL_ARITH(+, plus, iplus, AP_DETAIL_ADD)
AP_DETAIL_ARITH(-, minus, iminus, AP_DETAIL_SUB)
AP_DETAIL_ARITH(*, mult, imult, AP_DETAIL_MUL)
#undef AP_DETAIL_ADD
#undef AP_DETAIL_SUB
#undef AP_DETAIL_MUL
#undef AP_DETAIL_ARITH

// bitwise operators on ap_int/ap_uint (operands extended to the wider width, as Xilinx's logic type)
#define AP_DETAIL_LOGIC(OP)                                                                                     \
  template <int W1_, bool S1_, int W2_, bool S2_>                                                               \
  inline typename ap_detail::rtype<W1_, W1_, S1_, W2_, W2_, S2_>::ilogic operator OP(                           \
      const ap_int_base<W1_, S1_>& a, const ap_int_base<W2_, S2_>& b) {                                         \
    typedef typename ap_detail::rtype<W1_, W1_, S1_, W2_, W2_, S2_>::ilogic R;                                  \
    typedef typename R::store_type T;                                                                           \
    R r;                                                                                                        \
    r.V = T((T)a.V OP (T)b.V);                                                                                  \
    return r;                                                                                                   \
  }                                                                                                             \
  template <int W1_, bool S1_, class C_>                                                                        \
  inline typename ap_detail::enable_cint<                                                                       \
      C_, typename ap_detail::rtype<W1_, W1_, S1_, AP_CW(C_), AP_CW(C_), AP_CS(C_)>::ilogic>::type              \
  operator OP(const ap_int_base<W1_, S1_>& a, C_ b) {                                                           \
    return a OP ap_int_base<AP_CW(C_), AP_CS(C_)>(b);                                                           \
  }                                                                                                             \
  template <class C_, int W2_, bool S2_>                                                                        \
  inline typename ap_detail::enable_cint<                                                                       \
      C_, typename ap_detail::rtype<AP_CW(C_), AP_CW(C_), AP_CS(C_), W2_, W2_, S2_>::ilogic>::type              \
  operator OP(C_ a, const ap_int_base<W2_, S2_>& b) {                                                           \
    return ap_int_base<AP_CW(C_), AP_CS(C_)>(a) OP b;                                                           \
  }
AP_DETAIL_LOGIC(&)
AP_DETAIL_LOGIC(|)
AP_DETAIL_LOGIC(^)
#undef AP_DETAIL_LOGIC

// ap_int with floating point: computed in C on the value as (unsigned) long long, as Xilinx's
#define AP_DETAIL_FLOAT_ARITH(OP, FT)                                                                           \
  template <int W_, bool S_> inline FT operator OP(const ap_int_base<W_, S_>& a, FT b) {                      \
    return (typename ap_int_base<W_, S_>::RetType)a.V OP b;                                                     \
  }                                                                                                             \
  template <int W_, bool S_> inline FT operator OP(FT a, const ap_int_base<W_, S_>& b) {                      \
    return a OP (typename ap_int_base<W_, S_>::RetType)b.V;                                                     \
  }
#define AP_DETAIL_FLOAT_ARITH_ALL(FT) \
  AP_DETAIL_FLOAT_ARITH(+, FT) AP_DETAIL_FLOAT_ARITH(-, FT) AP_DETAIL_FLOAT_ARITH(*, FT) AP_DETAIL_FLOAT_ARITH(/, FT)
AP_DETAIL_FLOAT_ARITH_ALL(float)
AP_DETAIL_FLOAT_ARITH_ALL(double)
#undef AP_DETAIL_FLOAT_ARITH_ALL
#undef AP_DETAIL_FLOAT_ARITH

// Comparisons (see ap_detail::compare). With a double: to_double() compared in C, as Xilinx's.
#define AP_DETAIL_CMP(OP, CODE)                                                                                 \
  template <AP_FX1, AP_FX2> inline bool operator OP(const AP_FXT1& a, const AP_FXT2& b) {                       \
    return ap_detail::compare<ap_detail::CODE, W1_, W1_ - I1_, S1_, W2_, W2_ - I2_, S2_,                        \
                              (S2_ && O2_ == AP_SAT_SYM)>(a.V, b.V);                                            \
  }                                                                                                             \
  template <AP_FX1, int W2_, bool S2_> inline bool operator OP(const AP_FXT1& a, const ap_int_base<W2_, S2_>& b) { \
    return ap_detail::compare<ap_detail::CODE, W1_, W1_ - I1_, S1_, W2_, 0, S2_, false>(a.V, b.V);              \
  }                                                                                                             \
  template <int W1_, bool S1_, AP_FX2> inline bool operator OP(const ap_int_base<W1_, S1_>& a, const AP_FXT2& b) { \
    return ap_detail::compare<ap_detail::CODE, W1_, 0, S1_, W2_, W2_ - I2_, S2_,                                \
                              (S2_ && O2_ == AP_SAT_SYM)>(a.V, b.V);                                            \
  }                                                                                                             \
  template <AP_FX1, class C_>                                                                                   \
  inline typename ap_detail::enable_cint<C_, bool>::type operator OP(const AP_FXT1& a, C_ b) {                  \
    return ap_detail::compare<ap_detail::CODE, W1_, W1_ - I1_, S1_, AP_CW(C_), 0, AP_CS(C_), false>(            \
        a.V, AP_CV(C_, b));                                                                                     \
  }                                                                                                             \
  template <class C_, AP_FX2>                                                                                   \
  inline typename ap_detail::enable_cint<C_, bool>::type operator OP(C_ a, const AP_FXT2& b) {                  \
    return ap_detail::compare<ap_detail::CODE, AP_CW(C_), 0, AP_CS(C_), W2_, W2_ - I2_, S2_,                    \
                              (S2_ && O2_ == AP_SAT_SYM)>(AP_CV(C_, a), b.V);                                   \
  }                                                                                                             \
  template <int W1_, bool S1_, int W2_, bool S2_>                                                               \
  inline bool operator OP(const ap_int_base<W1_, S1_>& a, const ap_int_base<W2_, S2_>& b) {                    \
    return ap_detail::compare<ap_detail::CODE, W1_, 0, S1_, W2_, 0, S2_, false>(a.V, b.V);                      \
  }                                                                                                             \
  template <int W1_, bool S1_, class C_>                                                                        \
  inline typename ap_detail::enable_cint<C_, bool>::type operator OP(const ap_int_base<W1_, S1_>& a, C_ b) {    \
    return ap_detail::compare<ap_detail::CODE, W1_, 0, S1_, AP_CW(C_), 0, AP_CS(C_), false>(a.V, AP_CV(C_, b)); \
  }                                                                                                             \
  template <class C_, int W2_, bool S2_>                                                                        \
  inline typename ap_detail::enable_cint<C_, bool>::type operator OP(C_ a, const ap_int_base<W2_, S2_>& b) {    \
    return ap_detail::compare<ap_detail::CODE, AP_CW(C_), 0, AP_CS(C_), W2_, 0, S2_, false>(AP_CV(C_, a), b.V); \
  }                                                                                                             \
  template <AP_FX1> inline bool operator OP(const AP_FXT1& a, double b) { return a.to_double() OP b; }          \
  template <AP_FX2> inline bool operator OP(double a, const AP_FXT2& b) { return a OP b.to_double(); }          \
  template <int W1_, bool S1_> inline bool operator OP(const ap_int_base<W1_, S1_>& a, double b) {              \
    return a.to_double() OP b;                                                                                  \
  }                                                                                                             \
  template <int W2_, bool S2_> inline bool operator OP(double a, const ap_int_base<W2_, S2_>& b) {              \
    return a OP b.to_double();                                                                                  \
  }                                                                                                             \
  template <int W1_, bool S1_> inline bool operator OP(const ap_int_base<W1_, S1_>& a, float b) {               \
    return a.to_double() OP double(b);                                                                          \
  }                                                                                                             \
  template <int W2_, bool S2_> inline bool operator OP(float a, const ap_int_base<W2_, S2_>& b) {               \
    return double(a) OP b.to_double();                                                                          \
  }
AP_DETAIL_CMP(==, CMP_EQ)
AP_DETAIL_CMP(!=, CMP_NE)
AP_DETAIL_CMP(<, CMP_LT)
AP_DETAIL_CMP(>, CMP_GT)
AP_DETAIL_CMP(<=, CMP_LE)
AP_DETAIL_CMP(>=, CMP_GE)
#undef AP_DETAIL_CMP

// Printing: ap_int in decimal, ap_fixed as to_double() (Xilinx prints an exact decimal string).
namespace ap_detail {
inline void print_int(std::ostream& os, i128 v) {
  if (v >= -(i128)0x7fffffffffffffffLL && v <= (i128)0x7fffffffffffffffLL) {
    os << (long long)v;
    return;
  }
  char buf[48];
  int n = 0;
  const bool neg = v < 0;
  u128 u = neg ? (u128)0 - (u128)v : (u128)v;
  do {
    buf[n++] = char('0' + int(u % 10));
    u /= 10;
  } while (u);
  if (neg) buf[n++] = '-';
  std::string s(buf, buf + n);
  os << std::string(s.rbegin(), s.rend());
}
}  // namespace ap_detail
template <int W_, bool S_> inline std::ostream& operator<<(std::ostream& os, const ap_int_base<W_, S_>& x) {
  ap_detail::print_int(os, (ap_detail::i128)x.V);
  return os;
}
template <AP_FX1> inline std::ostream& operator<<(std::ostream& os, const AP_FXT1& x) { return os << x.to_double(); }

#undef AP_FX1
#undef AP_FX2
#undef AP_FXT1
#undef AP_FXT2
#undef AP_CW
#undef AP_CS
#undef AP_CV
#undef AP_DETAIL_FOR_CINTS

#endif  // NNFPGA_AP_TYPES_H
