// nnfpga layer library: Dense and ScaleShift (folded batch-norm).
// Dense semantics (src/nnfpga/ops/dense.py):
//   acc = (accum_t) bias;  for each input i in order: acc += (accum_t)(x[i] * w[i][j]);  y = (result_t) acc
// Weights are stored input-major: w[i * n_out + j]. Zero (pruned) weights generate no multiplication.
#ifndef NNFPGA_DENSE_H_
#define NNFPGA_DENSE_H_

#include "nnfpga_common.h"

namespace nnfpga {

// Strategy Latency: fully unrolled; ReuseFactor R > 1 asks the scheduler for II = R with at most
// n_in * n_out / R multipliers (as hls4ml's latency dense does). The arithmetic is the same for every R.
template <class data_T, class res_T, class CONFIG_T>
void dense_latency(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                   const typename CONFIG_T::weight_raw_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
                   const typename CONFIG_T::bias_raw_t biases[CONFIG_T::n_out]) {
    typedef typename CONFIG_T::accum_t accum_t;
    const unsigned multiplier_limit = CONFIG_T::n_in * CONFIG_T::n_out / CONFIG_T::reuse_factor;
    (void)multiplier_limit;  // read by the pragma below under Vitis only
    NNFPGA_HLS(PIPELINE II=CONFIG_T::reuse_factor)
    NNFPGA_HLS(ALLOCATION operation instances=mul limit=multiplier_limit)
    accum_t acc[CONFIG_T::n_out];
    NNFPGA_HLS(ARRAY_PARTITION variable=acc complete)
    for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
        NNFPGA_HLS(UNROLL)
        acc[j] = (accum_t)from_raw<typename CONFIG_T::bias_t, CONFIG_T::bias_width>(biases[j]);
    }
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        NNFPGA_HLS(UNROLL)
        for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
            NNFPGA_HLS(UNROLL)
            const typename CONFIG_T::weight_raw_t raw = weights[i * CONFIG_T::n_out + j];
            if (raw == 0) continue;  // pruned: constant zero, no multiplier
            acc[j] += (accum_t)(data[i] * from_raw<typename CONFIG_T::weight_t, CONFIG_T::weight_width>(raw));
        }
    }
    for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
        NNFPGA_HLS(UNROLL)
        res[j] = (res_T)acc[j];
    }
}

// Strategy Resource: n_in * n_out / R multipliers, each used R = reuse_factor times; II = R.
// Products are visited in input-major order, so each output still accumulates its inputs in order.
template <class data_T, class res_T, class CONFIG_T>
void dense_resource(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
                    const typename CONFIG_T::weight_raw_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
                    const typename CONFIG_T::bias_raw_t biases[CONFIG_T::n_out]) {
    typedef typename CONFIG_T::accum_t accum_t;
    const unsigned R = CONFIG_T::reuse_factor;
    const unsigned M = CONFIG_T::n_in * CONFIG_T::n_out / CONFIG_T::reuse_factor;
    NNFPGA_HLS(ARRAY_RESHAPE variable=weights block factor=M)
    accum_t acc[CONFIG_T::n_out];
    NNFPGA_HLS(ARRAY_PARTITION variable=acc complete)
    for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
        NNFPGA_HLS(UNROLL)
        acc[j] = (accum_t)from_raw<typename CONFIG_T::bias_t, CONFIG_T::bias_width>(biases[j]);
    }
    for (unsigned r = 0; r < R; r++) {
        NNFPGA_HLS(PIPELINE II=1 rewind)
        for (unsigned m = 0; m < M; m++) {
            NNFPGA_HLS(UNROLL)
            const unsigned k = r * M + m;
            const typename CONFIG_T::weight_raw_t raw = weights[k];
            if (raw == 0) continue;
            const typename CONFIG_T::weight_t w = from_raw<typename CONFIG_T::weight_t, CONFIG_T::weight_width>(raw);
            acc[k % CONFIG_T::n_out] += (accum_t)(data[k / CONFIG_T::n_out] * w);
        }
    }
    for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
        NNFPGA_HLS(UNROLL)
        res[j] = (res_T)acc[j];
    }
}

template <class data_T, class res_T, class CONFIG_T>
void dense(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_out],
           const typename CONFIG_T::weight_raw_t weights[CONFIG_T::n_in * CONFIG_T::n_out],
           const typename CONFIG_T::bias_raw_t biases[CONFIG_T::n_out]) {
    NNFPGA_HLS(INLINE)
    if (CONFIG_T::strategy == STRATEGY_RESOURCE)
        dense_resource<data_T, res_T, CONFIG_T>(data, res, weights, biases);
    else
        dense_latency<data_T, res_T, CONFIG_T>(data, res, weights, biases);
}

// y = (result_t)(x * scale + shift), per channel: flat element i uses constant i % n_chan (channels-last;
// n_chan == n_in: one constant per element).
template <class data_T, class res_T, class CONFIG_T>
void scale_shift(const data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                 const typename CONFIG_T::weight_raw_t scale[CONFIG_T::n_chan],
                 const typename CONFIG_T::bias_raw_t shift[CONFIG_T::n_chan]) {
    typedef typename CONFIG_T::weight_t weight_t;
    typedef typename CONFIG_T::bias_t bias_t;
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        NNFPGA_HLS(UNROLL)
        const unsigned c = i % CONFIG_T::n_chan;
        res[i] = (res_T)(data[i] * from_raw<weight_t, CONFIG_T::weight_width>(scale[c]) +
                         from_raw<bias_t, CONFIG_T::bias_width>(shift[c]));
    }
}

}  // namespace nnfpga

#endif
