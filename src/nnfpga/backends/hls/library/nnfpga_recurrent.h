// nnfpga layer library: recurrent layers (LSTM, GRU both reset_after conventions, SimpleRNN) in io_parallel.
// Semantics, order of operations and casts: the module docstring of src/nnfpga/ops/recurrent.py. Per step:
//   zx = Dense(x; w, b), zh = Dense(h; rw, rb), both with Dense's contract in accum_t (nnfpga_dense.h);
//   LSTM: z = (accum)(zx + zh); i, f, o = rec(z_i, z_f, z_o), g = act(z_c); c = (state)(f*c + i*g);
//         h = (state)(o * act(c));
//   GRU reset_after: z, r = rec((accum)(zx + zh)) per block; n = act((accum)(zx_h + (accum)(r * zh_h)));
//   GRU reset before: zh over the z, r blocks; n = act((accum)(zx_h + Dense((state)(r * h); rw_h, rb_h)));
//   both GRUs: h = (state)(z*h + (1 - z)*n);  SimpleRNN: h = (state) act((accum)(zx + zh)).
// ap_fixed products and sums are exact; the only roundings are the casts written above.
// Constants: w[i * n_gates*n_units + col] (input-major, Keras gate order), rw likewise over the units, b and rb
// per column. Gates (act_z, rec_z: on accum_t; act_c: on state_t) are table lookups or hard_sigmoid's / hard_tanh's exact clip.
// CONFIG_T::is_static: one cell instance reused by every time step (hls4ml's `static`); else the time loop is
// unrolled into one cell per step. Both give the same bits.
#ifndef NNFPGA_RECURRENT_H_
#define NNFPGA_RECURRENT_H_

#include "nnfpga_common.h"

namespace nnfpga {

enum rnn_cell_t { CELL_LSTM, CELL_GRU, CELL_SIMPLE_RNN };

struct gate_table_tag {};
struct gate_clip_tag {};

template <bool TABLE>
struct gate_kind {
    typedef gate_table_tag type;
};
template <>
struct gate_kind<false> {
    typedef gate_clip_tag type;
};

// The table entry at the input's index (as nnfpga_activation.h's table_activation), in the table type.
template <class G, class T, class RAW>
inline typename G::out_t gate_eval(const T &x, const RAW *table, gate_table_tag) {
    const long long m = mantissa<T, G::in_width, G::in_signed>(x);
    const long long i = clamp_index(shift_floor<G::index_shift>(m) - G::lo_steps, G::table_size);
    return from_raw<typename G::out_t, G::table_width>(table[i]);
}

// hard_sigmoid: clip(slope * x + offset, 0, 1) exactly (as nnfpga_activation.h's), then cast to the table type;
// hard_tanh: the same with slope 1, offset 0 and the lower bound G::lo = -1.
template <class G, class T, class RAW>
inline typename G::out_t gate_eval(const T &x, const RAW *, gate_clip_tag) {
    const typename G::param_t slope = G::slope(), offset = G::offset();
    if (x * slope + offset < G::lo) return (typename G::out_t)G::lo;
    if (x * slope + offset > 1) return (typename G::out_t)1;
    return (typename G::out_t)(x * slope + offset);
}

template <class G, class T, class RAW>
inline typename G::out_t gate(const T &x, const RAW *table) {
    return gate_eval<G, T, RAW>(x, table, typename gate_kind<G::is_table>::type());
}

// acc[j] = (accum) b[j]; input by input acc[j] = (accum)(acc[j] + (accum)(x[i] * w[i * STRIDE + j])).
template <class accum_t, class weight_t, int WW, class bias_t, int BW, unsigned N_IN, unsigned N_OUT,
          unsigned STRIDE, class data_T, class WRAW, class BRAW>
inline void rnn_matvec_parallel(const data_T x[N_IN], accum_t acc[N_OUT], const WRAW *w, const BRAW *b) {
    for (unsigned j = 0; j < N_OUT; j++) {
        NNFPGA_HLS(UNROLL)
        acc[j] = (accum_t)from_raw<bias_t, BW>(b[j]);
    }
    for (unsigned i = 0; i < N_IN; i++) {
        NNFPGA_HLS(UNROLL)
        for (unsigned j = 0; j < N_OUT; j++) {
            NNFPGA_HLS(UNROLL)
            const WRAW raw = w[i * STRIDE + j];
            if (raw == 0) continue;  // pruned: constant zero, no multiplier
            acc[j] += (accum_t)(x[i] * from_raw<weight_t, WW>(raw));
        }
    }
}

// The same product folded (ReuseFactor R > 1, as hls4ml's reuse_factor / recurrent_reuse_factor): a function of
// its own, pipelined at II = R with at most ceil(N_IN * N_OUT / R) multipliers. The arithmetic is the same.
template <class accum_t, class weight_t, int WW, class bias_t, int BW, unsigned N_IN, unsigned N_OUT,
          unsigned STRIDE, unsigned R, class data_T, class WRAW, class BRAW>
void rnn_matvec_folded(const data_T x[N_IN], accum_t acc[N_OUT], const WRAW *w, const BRAW *b) {
    const unsigned multiplier_limit = (N_IN * N_OUT + R - 1) / R;
    (void)multiplier_limit;  // read by the pragma below under Vitis only
    NNFPGA_HLS(INLINE off)
    NNFPGA_HLS(PIPELINE II=R)
    NNFPGA_HLS(ALLOCATION operation instances=mul limit=multiplier_limit)
    rnn_matvec_parallel<accum_t, weight_t, WW, bias_t, BW, N_IN, N_OUT, STRIDE>(x, acc, w, b);
}

template <class accum_t, class weight_t, int WW, class bias_t, int BW, unsigned N_IN, unsigned N_OUT,
          unsigned STRIDE, unsigned R, class data_T, class WRAW, class BRAW>
inline void rnn_matvec(const data_T x[N_IN], accum_t acc[N_OUT], const WRAW *w, const BRAW *b) {
    if (R > 1)
        rnn_matvec_folded<accum_t, weight_t, WW, bias_t, BW, N_IN, N_OUT, STRIDE, R>(x, acc, w, b);
    else
        rnn_matvec_parallel<accum_t, weight_t, WW, bias_t, BW, N_IN, N_OUT, STRIDE>(x, acc, w, b);
}

// One time step: the state h (and c, LSTM) updated in place from the step's input x.
template <class data_T, class CONFIG_T, class TA, class TR>
void rnn_cell(const data_T x[CONFIG_T::n_in], typename CONFIG_T::state_t h[CONFIG_T::n_units],
              typename CONFIG_T::state_t c[CONFIG_T::n_units],
              const typename CONFIG_T::weight_raw_t w[CONFIG_T::n_in * CONFIG_T::n_cols],
              const typename CONFIG_T::bias_raw_t b[CONFIG_T::n_cols],
              const typename CONFIG_T::recurrent_weight_raw_t rw[CONFIG_T::n_units * CONFIG_T::n_cols],
              const typename CONFIG_T::bias_raw_t rb[CONFIG_T::n_cols], const TA *act_table,
              const TR *rec_table) {
    typedef typename CONFIG_T::accum_t accum_t;
    typedef typename CONFIG_T::state_t state_t;
    typedef typename CONFIG_T::table_t table_t;
    typedef typename CONFIG_T::weight_t weight_t;
    typedef typename CONFIG_T::recurrent_weight_t rweight_t;
    typedef typename CONFIG_T::bias_t bias_t;
    const unsigned U = CONFIG_T::n_units, N = CONFIG_T::n_cols;
    accum_t zx[CONFIG_T::n_cols], zh[CONFIG_T::n_cols];
    NNFPGA_HLS(ARRAY_PARTITION variable=zx complete)
    NNFPGA_HLS(ARRAY_PARTITION variable=zh complete)
    rnn_matvec<accum_t, weight_t, CONFIG_T::weight_width, bias_t, CONFIG_T::bias_width, CONFIG_T::n_in,
               CONFIG_T::n_cols, CONFIG_T::n_cols, CONFIG_T::reuse_factor>(x, zx, w, b);
    // the state's product: every column, but for the GRU reset before (the z and r blocks only)
    rnn_matvec<accum_t, rweight_t, CONFIG_T::recurrent_weight_width, bias_t, CONFIG_T::bias_width,
               CONFIG_T::n_units, CONFIG_T::n_h_cols, CONFIG_T::n_cols, CONFIG_T::recurrent_reuse_factor>(h, zh, rw,
                                                                                                      rb);
    if (CONFIG_T::cell_kind == CELL_LSTM) {
        for (unsigned j = 0; j < U; j++) {
            NNFPGA_HLS(UNROLL)
            const accum_t zi = zx[j] + zh[j], zf = zx[U + j] + zh[U + j];
            const accum_t zc = zx[2 * U + j] + zh[2 * U + j], zo = zx[3 * U + j] + zh[3 * U + j];
            const table_t ig = gate<typename CONFIG_T::rec_z>(zi, rec_table);
            const table_t fg = gate<typename CONFIG_T::rec_z>(zf, rec_table);
            const table_t og = gate<typename CONFIG_T::rec_z>(zo, rec_table);
            const table_t gg = gate<typename CONFIG_T::act_z>(zc, act_table);
            c[j] = (state_t)(fg * c[j] + ig * gg);
            h[j] = (state_t)(og * gate<typename CONFIG_T::act_c>(c[j], act_table));
        }
    } else if (CONFIG_T::cell_kind == CELL_GRU) {
        table_t zg[CONFIG_T::n_units], rg[CONFIG_T::n_units];
        NNFPGA_HLS(ARRAY_PARTITION variable=zg complete)
        NNFPGA_HLS(ARRAY_PARTITION variable=rg complete)
        accum_t hh[CONFIG_T::n_units];
        NNFPGA_HLS(ARRAY_PARTITION variable=hh complete)
        for (unsigned j = 0; j < U; j++) {
            NNFPGA_HLS(UNROLL)
            const accum_t sz = zx[j] + zh[j], sr = zx[U + j] + zh[U + j];
            zg[j] = gate<typename CONFIG_T::rec_z>(sz, rec_table);
            rg[j] = gate<typename CONFIG_T::rec_z>(sr, rec_table);
        }
        if (CONFIG_T::reset_after) {
            for (unsigned j = 0; j < U; j++) {
                NNFPGA_HLS(UNROLL)
                hh[j] = (accum_t)(rg[j] * zh[2 * U + j]);
            }
        } else {
            state_t rh[CONFIG_T::n_units];
            NNFPGA_HLS(ARRAY_PARTITION variable=rh complete)
            for (unsigned j = 0; j < U; j++) {
                NNFPGA_HLS(UNROLL)
                rh[j] = (state_t)(rg[j] * h[j]);
            }
            rnn_matvec<accum_t, rweight_t, CONFIG_T::recurrent_weight_width, bias_t, CONFIG_T::bias_width,
                       CONFIG_T::n_units, CONFIG_T::n_units, CONFIG_T::n_cols, CONFIG_T::recurrent_reuse_factor>(
                rh, hh, rw + 2 * U, rb + 2 * U);
        }
        for (unsigned j = 0; j < U; j++) {
            NNFPGA_HLS(UNROLL)
            const accum_t sn = zx[2 * U + j] + hh[j];
            const table_t n = gate<typename CONFIG_T::act_z>(sn, act_table);
            const typename CONFIG_T::one_minus_t omz = (typename CONFIG_T::one_minus_t)1 - zg[j];
            h[j] = (state_t)(zg[j] * h[j] + omz * n);
        }
    } else {
        for (unsigned j = 0; j < U; j++) {
            NNFPGA_HLS(UNROLL)
            const accum_t s = zx[j] + zh[j];
            h[j] = (state_t)gate<typename CONFIG_T::act_z>(s, act_table);
        }
    }
    (void)N;
}

// hls4ml's static: one cell, not inlined, reused by each step of a pipelined loop.
template <class data_T, class CONFIG_T, class TA, class TR>
void rnn_cell_static(const data_T x[CONFIG_T::n_in], typename CONFIG_T::state_t h[CONFIG_T::n_units],
                     typename CONFIG_T::state_t c[CONFIG_T::n_units],
                     const typename CONFIG_T::weight_raw_t w[CONFIG_T::n_in * CONFIG_T::n_cols],
                     const typename CONFIG_T::bias_raw_t b[CONFIG_T::n_cols],
                     const typename CONFIG_T::recurrent_weight_raw_t rw[CONFIG_T::n_units * CONFIG_T::n_cols],
                     const typename CONFIG_T::bias_raw_t rb[CONFIG_T::n_cols], const TA *act_table,
                     const TR *rec_table) {
    NNFPGA_HLS(INLINE off)
    NNFPGA_HLS(PIPELINE II=CONFIG_T::cell_ii)
    rnn_cell<data_T, CONFIG_T, TA, TR>(x, h, c, w, b, rw, rb, act_table, rec_table);
}

// The step's output (result) h at its place: processing order, or reversed (flip_output); only the last step
// without return_sequences.
template <class res_T, class CONFIG_T>
inline void rnn_output(unsigned k, const typename CONFIG_T::state_t h[CONFIG_T::n_units], res_T *res) {
    if (!CONFIG_T::return_sequences && k != CONFIG_T::n_steps - 1) return;
    const unsigned pos = !CONFIG_T::return_sequences ? 0 : (CONFIG_T::flip_output ? CONFIG_T::n_steps - 1 - k : k);
    for (unsigned j = 0; j < CONFIG_T::n_units; j++) {
        NNFPGA_HLS(UNROLL)
        res[pos * CONFIG_T::n_units + j] = (res_T)h[j];
    }
}

template <class data_T, class res_T, class CONFIG_T, class TA, class TR>
void recurrent_static(const data_T *data, res_T *res, typename CONFIG_T::state_t h[CONFIG_T::n_units],
                      typename CONFIG_T::state_t c[CONFIG_T::n_units], const typename CONFIG_T::weight_raw_t *w,
                      const typename CONFIG_T::bias_raw_t *b, const typename CONFIG_T::recurrent_weight_raw_t *rw,
                      const typename CONFIG_T::bias_raw_t *rb, const TA *act_table, const TR *rec_table) {
    for (unsigned k = 0; k < CONFIG_T::n_steps; k++) {
        const unsigned t = CONFIG_T::go_backwards ? CONFIG_T::n_steps - 1 - k : k;
        rnn_cell_static<data_T, CONFIG_T, TA, TR>(data + t * CONFIG_T::n_in, h, c, w, b, rw, rb, act_table,
                                                  rec_table);
        rnn_output<res_T, CONFIG_T>(k, h, res);
    }
}

template <class data_T, class res_T, class CONFIG_T, class TA, class TR>
void recurrent_unrolled(const data_T *data, res_T *res, typename CONFIG_T::state_t h[CONFIG_T::n_units],
                        typename CONFIG_T::state_t c[CONFIG_T::n_units], const typename CONFIG_T::weight_raw_t *w,
                        const typename CONFIG_T::bias_raw_t *b, const typename CONFIG_T::recurrent_weight_raw_t *rw,
                        const typename CONFIG_T::bias_raw_t *rb, const TA *act_table, const TR *rec_table) {
    for (unsigned k = 0; k < CONFIG_T::n_steps; k++) {
        NNFPGA_HLS(UNROLL)
        const unsigned t = CONFIG_T::go_backwards ? CONFIG_T::n_steps - 1 - k : k;
        rnn_cell<data_T, CONFIG_T, TA, TR>(data + t * CONFIG_T::n_in, h, c, w, b, rw, rb, act_table, rec_table);
        rnn_output<res_T, CONFIG_T>(k, h, res);
    }
}

// The layer over a whole sequence data[n_steps * n_in] (step-major); the state starts at zero.
template <class data_T, class res_T, class CONFIG_T, class TA, class TR>
void recurrent(const data_T data[CONFIG_T::n_steps * CONFIG_T::n_in], res_T *res,
               const typename CONFIG_T::weight_raw_t w[CONFIG_T::n_in * CONFIG_T::n_cols],
               const typename CONFIG_T::bias_raw_t b[CONFIG_T::n_cols],
               const typename CONFIG_T::recurrent_weight_raw_t rw[CONFIG_T::n_units * CONFIG_T::n_cols],
               const typename CONFIG_T::bias_raw_t rb[CONFIG_T::n_cols], const TA *act_table, const TR *rec_table) {
    typename CONFIG_T::state_t h[CONFIG_T::n_units], c[CONFIG_T::n_units];
    NNFPGA_HLS(ARRAY_PARTITION variable=h complete)
    NNFPGA_HLS(ARRAY_PARTITION variable=c complete)
    for (unsigned j = 0; j < CONFIG_T::n_units; j++) {
        NNFPGA_HLS(UNROLL)
        h[j] = 0;
        c[j] = 0;
    }
    if (CONFIG_T::is_static)
        recurrent_static<data_T, res_T, CONFIG_T, TA, TR>(data, res, h, c, w, b, rw, rb, act_table, rec_table);
    else
        recurrent_unrolled<data_T, res_T, CONFIG_T, TA, TR>(data, res, h, c, w, b, rw, rb, act_table, rec_table);
}

}  // namespace nnfpga

#endif
