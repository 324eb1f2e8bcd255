// Testbench: runs tb_data inputs, compares with the emulator bit for bit.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include "firmware/myproject.h"

int main() {
    std::ifstream fin("tb_data/tb_input_features.dat"), fpr("tb_data/tb_output_predictions.dat");
    std::string lin, lpr;
    int n = 0, bad = 0;
    while (std::getline(fin, lin) && std::getline(fpr, lpr)) {
        std::istringstream sin(lin), spr(lpr);
        double v;
        result_t y[N_OUTPUT];
        input_t x[N_INPUT];
        for (int i = 0; i < N_INPUT; i++) {
            sin >> v;
            x[i] = input_t(v);
        }
        myproject(x, y);
        for (int j = 0; j < N_OUTPUT; j++) {
            spr >> v;
            if (y[j].to_double() != v) {
                if (bad < 10) std::printf("sample %d output %d: got %.17g expected %.17g\n", n, j, y[j].to_double(), v);
                bad++;
            }
        }
        n++;
    }
    std::printf("%d samples, %d mismatching outputs\n", n, bad);
    return (bad == 0 && n > 0) ? 0 : 1;
}
