// Batch entry point for nnfpga's C simulation (raw mantissas in and out).
#include "../firmware/myproject.h"
#include "../firmware/nnfpga/nnfpga_common.h"

extern "C" long nnfpga_predict(const long long *x, long long *y, long n) {
    for (long s = 0; s < n; s++) {
        result_t out[N_OUTPUT];
        input_t in[N_INPUT];
        for (int i = 0; i < N_INPUT; i++) {
            nnfpga::set_mantissa<input_t, 16>(in[i], x[s * N_INPUT + i]);
        }
        myproject(in, out);
        for (int j = 0; j < N_OUTPUT; j++) {
            y[s * N_OUTPUT + j] = nnfpga::mantissa<result_t, 16, false>(out[j]);
        }
    }
    return n;
}
