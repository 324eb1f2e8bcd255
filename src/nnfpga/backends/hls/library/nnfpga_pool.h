// nnfpga layer library: pooling, zero padding, cropping and nearest upsampling in io_parallel (channels-last).
// index[p * n_pos + k] is the flat input pixel that position k of output pixel p's window reads, in row-major
// order, or -1 for a padding position (padding never counts: src/nnfpga/ops/pool.py).
#ifndef NNFPGA_POOL_H_
#define NNFPGA_POOL_H_

#include "nnfpga_common.h"

namespace nnfpga {

// y = (result_t)(accum_t) max(x) over the window's real positions.
template <class data_T, class res_T, class CONFIG_T>
void max_pool(const data_T data[CONFIG_T::n_pixels_in * CONFIG_T::n_chan],
              res_T res[CONFIG_T::n_pixels * CONFIG_T::n_chan],
              const int index[CONFIG_T::n_pixels * CONFIG_T::n_pos]) {
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        NNFPGA_HLS(UNROLL)
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            NNFPGA_HLS(UNROLL)
            data_T best = 0;
            bool seen = false;
            for (unsigned k = 0; k < CONFIG_T::n_pos; k++) {
                NNFPGA_HLS(UNROLL)
                const int src = index[p * CONFIG_T::n_pos + k];
                if (src < 0) continue;
                const data_T x = data[src * CONFIG_T::n_chan + c];
                if (!seen || x > best) best = x;
                seen = true;
            }
            res[p * CONFIG_T::n_chan + c] = (res_T)(typename CONFIG_T::accum_t)best;
        }
    }
}

// acc = 0; acc = (accum_t)(acc + x) position by position; acc's mantissa divided by the number of real positions
// (count_pad: the window's size), truncated toward zero (hls4ml's accum_t / int); y = (result_t) acc.
template <class data_T, class res_T, class CONFIG_T>
void avg_pool(const data_T data[CONFIG_T::n_pixels_in * CONFIG_T::n_chan],
              res_T res[CONFIG_T::n_pixels * CONFIG_T::n_chan],
              const int index[CONFIG_T::n_pixels * CONFIG_T::n_pos]) {
    typedef typename CONFIG_T::accum_t accum_t;
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        NNFPGA_HLS(UNROLL)
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            NNFPGA_HLS(UNROLL)
            accum_t acc = 0;
            long long n = 0;
            for (unsigned k = 0; k < CONFIG_T::n_pos; k++) {
                NNFPGA_HLS(UNROLL)
                const int src = index[p * CONFIG_T::n_pos + k];
                if (src < 0) continue;  // a zero: acc + 0 is acc
                acc = (accum_t)(acc + data[src * CONFIG_T::n_chan + c]);
                n++;
            }
            if (CONFIG_T::count_pad) n = CONFIG_T::n_pos;
            const long long m = mantissa<accum_t, CONFIG_T::accum_width, CONFIG_T::accum_signed>(acc);
            set_mantissa<accum_t, CONFIG_T::accum_width>(acc, m / n);  // C division: toward zero
            res[p * CONFIG_T::n_chan + c] = (res_T)acc;
        }
    }
}

// Zero padding, cropping, upsampling: each output pixel copies input pixel index[p] (-1: zeros), cast to res_T.
template <class data_T, class res_T, class CONFIG_T>
void move_pixels(const data_T data[CONFIG_T::n_pixels_in * CONFIG_T::n_chan],
                 res_T res[CONFIG_T::n_pixels * CONFIG_T::n_chan], const int index[CONFIG_T::n_pixels]) {
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        NNFPGA_HLS(UNROLL)
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            NNFPGA_HLS(UNROLL)
            const int src = index[p];
            res[p * CONFIG_T::n_chan + c] = src < 0 ? res_T(0) : (res_T)data[src * CONFIG_T::n_chan + c];
        }
    }
}

}  // namespace nnfpga

#endif
