/* A small SVG line plot of the loss curves (train and validation against step),
 * written by xtc itself so that a run can be watched in a browser. */
#include <math.h>
#include <stdio.h>

#include "cli.h"

int xtc_cli_plot_svg(FILE *f, const struct xtc_cli_series *series, int n_series, const char *title) {
    const double W = 720, H = 420, L = 60, R = 20, T = 40, Bm = 50;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(y))
                continue;
            x0 = x < x0 ? x : x0;
            x1 = x > x1 ? x : x1;
            y0 = y < y0 ? y : y0;
            y1 = y > y1 ? y : y1;
        }
    if (!(x1 >= x0)) {
        x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    }
    if (x1 == x0)
        x1 = x0 + 1;
    if (y1 == y0)
        y1 = y0 + 1;
    double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"15\">%s</text>\n", L, title);
    for (int k = 0; k <= 5; k++) {
        double yv = y0 + (y1 - y0) * k / 5, py = H - Bm - (H - T - Bm) * k / 5;
        double xv = x0 + (x1 - x0) * k / 5, px = L + (W - L - R) * k / 5;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, py, W - R, py);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 6, py + 4, yv);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", px, H - Bm + 18, xv);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step</text>\n", (L + W - R) / 2, H - 12);
    fprintf(f, "<text x=\"14\" y=\"%.1f\" transform=\"rotate(-90 14 %.1f)\" text-anchor=\"middle\">loss (nats/byte)"
               "</text>\n",
            (T + H - Bm) / 2, (T + H - Bm) / 2);
    for (int s = 0; s < n_series; s++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", series[s].color);
        for (int i = 0; i < series[s].n; i++) {
            if (!isfinite(series[s].y[i]))
                continue;
            double px = L + (W - L - R) * (series[s].x[i] - x0) / (x1 - x0);
            double py = H - Bm - (H - T - Bm) * (series[s].y[i] - y0) / (y1 - y0);
            fprintf(f, "%.1f,%.1f ", px, py);
        }
        fprintf(f, "\"/>\n<text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">%s</text>\n", W - R - 120, T + 16.0 * (s + 1),
                series[s].color, series[s].label);
    }
    fprintf(f, "</svg>\n");
    return ferror(f) ? 1 : 0;
}
