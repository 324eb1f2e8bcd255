// nnfpga layer library: convolution (Conv1D/2D, depthwise, grouped) in io_parallel.
// Semantics (src/nnfpga/ops/conv.py): per output pixel and group, Dense over the window's inputs of the group,
// in the window's row-major order with the channel last (hls4ml's im2col order).
// index[p * n_pos + k] is the flat input pixel that window position k of output pixel p reads, or -1 for a
// padding position (a zero input: it adds nothing). Group g's weights are the n_in x n_out block g of weights.
#ifndef NNFPGA_CONV_H_
#define NNFPGA_CONV_H_

#include "nnfpga_dense.h"

namespace nnfpga {

template <class data_T, class res_T, class CONFIG_T>
void conv(const data_T data[CONFIG_T::n_pixels_in * CONFIG_T::n_chan],
          res_T res[CONFIG_T::n_pixels * CONFIG_T::n_filt],
          const int index[CONFIG_T::n_pixels * CONFIG_T::n_pos],
          const typename CONFIG_T::weight_raw_t weights[CONFIG_T::n_groups * CONFIG_T::n_in * CONFIG_T::n_out],
          const typename CONFIG_T::bias_raw_t biases[CONFIG_T::n_filt]) {
    const unsigned cg = CONFIG_T::n_chan / CONFIG_T::n_groups;  // input channels per group
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        NNFPGA_HLS(UNROLL)
        for (unsigned g = 0; g < CONFIG_T::n_groups; g++) {
            NNFPGA_HLS(UNROLL)
            data_T window[CONFIG_T::n_in];
            NNFPGA_HLS(ARRAY_PARTITION variable=window complete)
            for (unsigned k = 0; k < CONFIG_T::n_pos; k++) {
                NNFPGA_HLS(UNROLL)
                const int src = index[p * CONFIG_T::n_pos + k];
                for (unsigned c = 0; c < cg; c++) {
                    NNFPGA_HLS(UNROLL)
                    window[k * cg + c] = src < 0 ? data_T(0) : data[src * CONFIG_T::n_chan + g * cg + c];
                }
            }
            res_T out[CONFIG_T::n_out];
            NNFPGA_HLS(ARRAY_PARTITION variable=out complete)
            dense<data_T, res_T, CONFIG_T>(window, out, weights + g * CONFIG_T::n_in * CONFIG_T::n_out,
                                           biases + g * CONFIG_T::n_out);
            for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
                NNFPGA_HLS(UNROLL)
                res[p * CONFIG_T::n_filt + g * CONFIG_T::n_out + j] = out[j];
            }
        }
    }
}

}  // namespace nnfpga

#endif
