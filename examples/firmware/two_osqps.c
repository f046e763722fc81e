/*
 * Links recede's symbol-hidden static library (crates/ffi/scripts/
 * hide-symbols.sh) together with a second, separately built copy of OSQP's
 * C library, linked --whole-archive so that every OSQP, QDLDL and
 * SuiteSparse symbol is defined by it: had recede's library exported any of
 * them, the link would fail with "multiple definition". Then both are used:
 * the firmware's own OSQP solves min x^2/2 - x s.t. 0 <= x <= 10 (x = 1),
 * and recede steps the cart-pole once.
 *
 * Usage: two_osqps CART_POLE.toml
 * Last line: "two osqps: ok|failed".
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>

#include "osqp.h"
#include "recede.h"
#include "util.h"

static int firmware_osqp_solves(void) {
    c_float p_x[1] = {1.0}, q[1] = {-1.0}, a_x[1] = {1.0}, l[1] = {0.0}, u[1] = {10.0};
    c_int p_i[1] = {0}, p_p[2] = {0, 1}, a_i[1] = {0}, a_p[2] = {0, 1};
    OSQPData data;
    data.n = 1;
    data.m = 1;
    data.P = csc_matrix(1, 1, 1, p_x, p_i, p_p);
    data.A = csc_matrix(1, 1, 1, a_x, a_i, a_p);
    data.q = q;
    data.l = l;
    data.u = u;
    OSQPSettings settings;
    osqp_set_default_settings(&settings);
    settings.verbose = 0;
    OSQPWorkspace *work = NULL;
    int ok = osqp_setup(&work, &data, &settings) == 0 && osqp_solve(work) == 0 &&
             fabs(work->solution->x[0] - 1.0) < 1e-3;
    printf("firmware's OSQP %s: x = %.4f\n", osqp_version(), work != NULL ? work->solution->x[0] : NAN);
    osqp_cleanup(work);
    c_free(data.P);
    c_free(data.A);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CART_POLE.toml\n", argv[0]);
        return 2;
    }
    static char toml[16384];
    size_t toml_len = read_file(argv[1], toml, sizeof toml);
    int osqp_ok = firmware_osqp_solves();

    double x0[4] = {0.0, 0.1, 0.0, 0.0}, command[1] = {0.0};
    char error[RECEDE_MESSAGE_CAPACITY];
    RecedeController *controller = NULL;
    RecedeStatus status =
        recede_create((const uint8_t *)toml, toml_len, x0, 4, NULL, &controller, error, sizeof error);
    int recede_ok = status == RECEDE_STATUS_OK &&
                    recede_step(controller, 0.0, x0, 4, NULL, 0, command, 1) == RECEDE_STATUS_OK &&
                    isfinite(command[0]);
    if (status != RECEDE_STATUS_OK) fprintf(stderr, "recede_create: %s\n", error);
    printf("recede %s: command %.3f N\n", recede_version(), command[0]);
    recede_destroy(controller);
    printf("two osqps: %s\n", osqp_ok && recede_ok ? "ok" : "failed");
    return osqp_ok && recede_ok ? 0 : 1;
}
