/*
 * A firmware-style control loop in C around librecede_ffi: the P1 cart-pole
 * swing-up (docs/benchmarks.md). The controller is created once from a scenario
 * file (the only allocation the library makes); then, every 20 ms, the loop
 * reads the state from a sensor stand-in, calls recede_feedback (the short
 * half of the real-time iteration), applies the force to a small C plant of
 * the cart-pole (P1's dynamics, 10 RK4 steps of 2 ms per period), and calls
 * recede_prepare for the next sample. An interposed malloc (alloc_count.c)
 * counts every heap allocation made while the library runs, in Rust or in
 * OSQP's C code. Feedback and preparation are timed separately (wall clock
 * around each call): the line "rti: ..." gives their medians and the
 * feedback's share of the whole step.
 *
 * Usage: firmware SCENARIO.toml
 * Last line: "swing-up: ok|failed, steps N, allocations during steps K".
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc_count.h"
#include "recede.h"
#include "util.h"

#define NX 4
#define NU 1
#define STEPS 200
#define PERIOD_SECS 0.02
#define PLANT_SUBSTEPS 10
#define MAX_TOML_BYTES 16384

/* P1's cart-pole: state [p, theta, v, omega], theta = 0 upright; input [F]. */
static const double CART_MASS = 1.0, POLE_MASS = 0.1, POLE_LENGTH = 0.8, GRAVITY = 9.81;

static void cart_pole_derivative(const double x[NX], double force, double dx[NX]) {
    double s = sin(x[1]), c = cos(x[1]);
    double d = CART_MASS + POLE_MASS - POLE_MASS * c * c;
    double w2 = x[3] * x[3];
    dx[0] = x[2];
    dx[1] = x[3];
    dx[2] = (-POLE_MASS * POLE_LENGTH * s * w2 + POLE_MASS * GRAVITY * c * s + force) / d;
    dx[3] = (-POLE_MASS * POLE_LENGTH * c * s * w2 + force * c + (CART_MASS + POLE_MASS) * GRAVITY * s) /
            (POLE_LENGTH * d);
}

static void rk4(double x[NX], double force, double h) {
    double k1[NX], k2[NX], k3[NX], k4[NX], t[NX];
    cart_pole_derivative(x, force, k1);
    for (int i = 0; i < NX; i++) t[i] = x[i] + 0.5 * h * k1[i];
    cart_pole_derivative(t, force, k2);
    for (int i = 0; i < NX; i++) t[i] = x[i] + 0.5 * h * k2[i];
    cart_pole_derivative(t, force, k3);
    for (int i = 0; i < NX; i++) t[i] = x[i] + h * k3[i];
    cart_pole_derivative(t, force, k4);
    for (int i = 0; i < NX; i++) x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
}

/* The sensor stand-in: on a robot, encoders and an estimator; here the
 * plant's state, read through the same kind of copy a driver would make. */
static void read_state_estimate(const double plant[NX], double estimate[NX]) {
    for (int i = 0; i < NX; i++) estimate[i] = plant[i];
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCENARIO.toml\n", argv[0]);
        return 2;
    }
    static char toml[MAX_TOML_BYTES];
    size_t toml_len = read_file(argv[1], toml, sizeof toml);

    double plant[NX] = {0.0, M_PI, 0.0, 0.0};
    char error[RECEDE_MESSAGE_CAPACITY];
    RecedeController *controller = NULL;

    alloc_count_start();
    RecedeStatus status = recede_create((const uint8_t *)toml, toml_len, plant, NX, NULL, &controller,
                                        error, sizeof error);
    struct alloc_count at_create = alloc_count_stop();
    if (status != RECEDE_STATUS_OK) {
        fprintf(stderr, "recede_create: status %d: %s\n", (int)status, error);
        return 1;
    }
    RecedeDimensions dims;
    if (recede_dimensions(controller, &dims) != RECEDE_STATUS_OK || dims.nx != NX || dims.nu != NU) {
        fprintf(stderr, "unexpected controller dimensions\n");
        return 1;
    }
    printf("created: nx %zu, nu %zu, horizon %zu, period %.3f s; %zu allocations, %zu bytes requested\n",
           dims.nx, dims.nu, dims.horizon, dims.period_secs, at_create.allocations, at_create.bytes);
    name_allocating_callers("create");

    static double feedback_secs[STEPS], step_secs[STEPS], solve_secs[STEPS], inside_secs[STEPS];
    static double feedback_iterations[STEPS], presolve_iterations[STEPS];
    double worst_step_secs = 0.0, total_step_secs = 0.0;
    unsigned long qp_iterations = 0;
    int fallbacks = 0, errors = 0, steps = 0;
    alloc_count_start();
    alloc_count_pause();
    for (int k = 0; k < STEPS; k++) {
        double t = k * PERIOD_SECS;
        double state[NX], command[NU];
        read_state_estimate(plant, state);

        alloc_count_resume();
        double started = now_secs();
        status = recede_feedback(controller, t, state, NX, command, NU);
        double fed_back = now_secs();
        alloc_count_pause();

        if (status < 0) {
            recede_last_error(controller, error, sizeof error);
            fprintf(stderr, "step %d: status %d: %s\n", k, (int)status, error);
            errors += 1;
            continue; /* a real loop would hold its last command or go safe */
        }
        /* The command goes out first; the preparation runs until the next
         * sample. */
        for (int i = 0; i < PLANT_SUBSTEPS; i++) rk4(plant, command[0], PERIOD_SECS / PLANT_SUBSTEPS);

        alloc_count_resume();
        double preparing = now_secs();
        RecedeStatus prepared = recede_prepare(controller);
        double elapsed = (fed_back - started) + (now_secs() - preparing);
        alloc_count_pause();
        if (prepared != RECEDE_STATUS_OK) {
            fprintf(stderr, "step %d: recede_prepare: status %d\n", k, (int)prepared);
            errors += 1;
            continue;
        }

        feedback_secs[steps] = fed_back - started;
        step_secs[steps] = elapsed;
        steps += 1;
        if (status != RECEDE_STATUS_OK) fallbacks += 1;
        RecedeStats stats;
        recede_last_stats(controller, &stats);
        qp_iterations += stats.qp_iterations;
        solve_secs[steps - 1] = stats.solve_secs;
        feedback_iterations[steps - 1] = stats.qp_iterations;
        presolve_iterations[steps - 1] = stats.presolve_qp_iterations;
        inside_secs[steps - 1] = stats.feedback_secs;
        total_step_secs += elapsed;
        if (elapsed > worst_step_secs) worst_step_secs = elapsed;

        if (k % 25 == 0 || k == STEPS - 1) {
            printf("t %5.2f s  p %+.3f  theta %+.3f  v %+.3f  omega %+.3f  F %+7.2f  qp it %u\n",
                   t + PERIOD_SECS, plant[0], plant[1], plant[2], plant[3], command[0], stats.qp_iterations);
        }
    }
    struct alloc_count during_steps = alloc_count_stop();
    recede_destroy(controller);

    int up_and_still = fabs(plant[1]) < 0.05 && fabs(plant[3]) < 0.1 && fabs(plant[0]) < 0.1;
    printf("steps: mean %.1f us, worst %.1f us; %lu QP iterations; %d fallbacks; %d errors\n",
           1e6 * total_step_secs / (steps > 0 ? steps : 1), 1e6 * worst_step_secs, qp_iterations, fallbacks,
           errors);
    double feedback_median = median(feedback_secs, (size_t)steps);
    double step_median = median(step_secs, (size_t)steps);
    printf("rti: feedback median %.1f us, feedback + prepare median %.1f us, feedback share %.0f%%\n",
           1e6 * feedback_median, 1e6 * step_median, step_median > 0 ? 100.0 * feedback_median / step_median : 0.0);
    printf("rti: inside the feedback (library's clock): median %.1f us, of which OSQP's solve %.1f us\n",
           1e6 * median(inside_secs, (size_t)steps), 1e6 * median(solve_secs, (size_t)steps));
    /* With [controller.osqp] presolve_prediction the preparation solves the
     * next QP for the predicted state; the feedback starts from it. */
    printf("rti: ADMM iterations median: feedback %.0f, presolve in the preparation %.0f\n",
           median(feedback_iterations, (size_t)steps), median(presolve_iterations, (size_t)steps));
    printf("allocations during steps: %zu (%zu bytes)\n", during_steps.allocations, during_steps.bytes);
    if (during_steps.allocations > 0) name_allocating_callers("step");
    printf("swing-up: %s, steps %d, allocations during steps %zu\n",
           up_and_still && errors == 0 ? "ok" : "failed", steps, during_steps.allocations);
    return up_and_still && errors == 0 && during_steps.allocations == 0 ? 0 : 1;
}
