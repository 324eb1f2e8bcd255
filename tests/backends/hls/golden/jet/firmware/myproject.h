// Top function (generated).
#ifndef NNFPGA_MYPROJECT_H_
#define NNFPGA_MYPROJECT_H_

#include "defines.h"

void myproject(input_t x_in[N_INPUT], result_t y_out[N_OUTPUT]);

#endif  // NNFPGA_MYPROJECT_H_
