/*
 * A quadrotor flight controller in C around librecede_ffi: hover at 1 m for
 * 2 s, then follow a circle (radius 1 m, 0.6 rad/s) whose reference window
 * the firmware computes itself every period; at 5 s the vehicle picks up a
 * payload (the C plant's mass goes from 1.0 to 1.2 kg) and the firmware
 * tells the controller (recede_set_parameter "mass_kg") and moves the input
 * reference to the new hover thrust. The input reference is always the
 * hover thrust m g / 4 per rotor (recede_set_input_reference), so the cost
 * does not pull the thrust towards zero.
 *
 * Every period: recede_feedback at the sample, the command to the plant
 * (a C model of the quadrotor: 5 RK4 steps of 2 ms per 10 ms period), then
 * the next reference window (recede_set_state_reference) and
 * recede_prepare. An interposed malloc (alloc_count.c) counts every
 * allocation while any library call runs, setters included.
 *
 * Usage: quadrotor SCENARIO.toml|FIRMWARE.blob (a blob from `recede
 * export-firmware`: created without parsing text)
 * Last line: "quadrotor: ok|failed, steps N, allocations during steps K".
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc_count.h"
#include "recede.h"
#include "util.h"

#define NX 13
#define NU 4
#define MAX_HORIZON 64
#define PERIOD_SECS 0.01
#define STEPS 1000
#define HOVER_STEPS 200
#define PAYLOAD_STEP 500
#define PLANT_SUBSTEPS 5
#define MAX_TOML_BYTES 16384

static const double GRAVITY = 9.81, ARM_LENGTH = 0.17, YAW_COEFFICIENT = 0.016;
static const double INERTIA[3] = {0.005, 0.005, 0.009};
static const double ROTOR_SIGN[NU] = {1.0, -1.0, 1.0, -1.0};
static const double CIRCLE_RADIUS = 1.0, CIRCLE_RATE = 0.6, ALTITUDE = 1.0;

/* State [p(3), q = (w, x, y, z), v(3), body rates(3)], rotors at 45, 135,
 * 225, 315 degrees: the model of crates/model's quadrotor. */
static void derivative(const double x[NX], const double f[NU], double mass, double dx[NX]) {
    const double h = sqrt(0.5);
    const double dir[NU][2] = {{h, h}, {-h, h}, {-h, -h}, {h, -h}};
    double qw = x[3], qx = x[4], qy = x[5], qz = x[6];
    double wx = x[10], wy = x[11], wz = x[12];
    double thrust = (f[0] + f[1] + f[2] + f[3]) / mass;
    double tau[3] = {0.0, 0.0, 0.0};
    for (int i = 0; i < NU; i++) {
        tau[0] += f[i] * ARM_LENGTH * dir[i][1];
        tau[1] -= f[i] * ARM_LENGTH * dir[i][0];
        tau[2] += f[i] * ROTOR_SIGN[i] * YAW_COEFFICIENT;
    }
    dx[0] = x[7];
    dx[1] = x[8];
    dx[2] = x[9];
    dx[3] = 0.5 * (-qx * wx - qy * wy - qz * wz);
    dx[4] = 0.5 * (qw * wx + qy * wz - qz * wy);
    dx[5] = 0.5 * (qw * wy - qx * wz + qz * wx);
    dx[6] = 0.5 * (qw * wz + qx * wy - qy * wx);
    dx[7] = 2.0 * (qx * qz + qw * qy) * thrust;
    dx[8] = 2.0 * (qy * qz - qw * qx) * thrust;
    dx[9] = (1.0 - 2.0 * (qx * qx + qy * qy)) * thrust - GRAVITY;
    dx[10] = (tau[0] - wy * wz * (INERTIA[2] - INERTIA[1])) / INERTIA[0];
    dx[11] = (tau[1] - wz * wx * (INERTIA[0] - INERTIA[2])) / INERTIA[1];
    dx[12] = (tau[2] - wx * wy * (INERTIA[1] - INERTIA[0])) / INERTIA[2];
}

static void rk4(double x[NX], const double f[NU], double mass, double h) {
    double k1[NX], k2[NX], k3[NX], k4[NX], t[NX];
    derivative(x, f, mass, k1);
    for (int i = 0; i < NX; i++) t[i] = x[i] + 0.5 * h * k1[i];
    derivative(t, f, mass, k2);
    for (int i = 0; i < NX; i++) t[i] = x[i] + 0.5 * h * k2[i];
    derivative(t, f, mass, k3);
    for (int i = 0; i < NX; i++) t[i] = x[i] + h * k3[i];
    derivative(t, f, mass, k4);
    for (int i = 0; i < NX; i++) x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
    double n = sqrt(x[3] * x[3] + x[4] * x[4] + x[5] * x[5] + x[6] * x[6]);
    for (int i = 3; i < 7; i++) x[i] /= n;
}

/* The reference at time t: hover at (0, 0, ALTITUDE) until the circle
 * starts, then the circle through the hover point, level, at its speed. */
static void reference_at(double t, double x[NX]) {
    memset(x, 0, NX * sizeof *x);
    x[2] = ALTITUDE;
    x[3] = 1.0;
    double s = t - HOVER_STEPS * PERIOD_SECS;
    if (s <= 0.0) return;
    double a = CIRCLE_RATE * s;
    x[0] = CIRCLE_RADIUS * (cos(a) - 1.0);
    x[1] = CIRCLE_RADIUS * sin(a);
    x[7] = -CIRCLE_RADIUS * CIRCLE_RATE * sin(a);
    x[8] = CIRCLE_RADIUS * CIRCLE_RATE * cos(a);
}

#ifdef RECEDE_CALLER_MEMORY
/* The controller's memory: a buffer the firmware owns (a linker section, a
 * static array), sized by recede_required_memory. */
#define BUFFER_CAPACITY (4u << 20)
static _Alignas(64) uint8_t controller_memory[BUFFER_CAPACITY];

/* Creates the controller from the blob inside controller_memory, starting
 * one byte in (the worst alignment), after checking that one byte less is
 * refused with a status. Counts the allocations made outside the buffer. */
static RecedeStatus create_in_buffer(const uint8_t *blob, size_t blob_len, const double x0[NX],
                                     RecedeController **out, char *error, size_t error_len,
                                     struct alloc_count *outside) {
    size_t required = 0;
    RecedeStatus status = recede_required_memory(blob, blob_len, x0, NX, &required, error, error_len);
    if (status != RECEDE_STATUS_OK) return status;
    if (required + 1 > BUFFER_CAPACITY) {
        snprintf(error, error_len, "the controller needs %zu bytes, the example has %u", required, BUFFER_CAPACITY);
        return RECEDE_STATUS_BUFFER_TOO_SMALL;
    }
    RecedeController *none = NULL;
    status = recede_create_from_blob_in_buffer(blob, blob_len, x0, NX, controller_memory + 1, required - 1, &none,
                                               error, error_len);
    if (status != RECEDE_STATUS_BUFFER_TOO_SMALL || none != NULL) {
        snprintf(error, error_len, "a buffer one byte short: status %d, not BUFFER_TOO_SMALL", (int)status);
        return RECEDE_STATUS_CONFIG;
    }
    alloc_count_start();
    status = recede_create_from_blob_in_buffer(blob, blob_len, x0, NX, controller_memory + 1, required, out, error,
                                               error_len);
    *outside = alloc_count_stop();
    printf("created in a caller buffer of %zu bytes (recede_required_memory; one byte less refused): "
           "%zu allocations outside it\n",
           required, outside->allocations);
    return status;
}
#endif

static double tilt_rad(const double x[NX]) {
    double c = 1.0 - 2.0 * (x[4] * x[4] + x[5] * x[5]);
    return acos(c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c));
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SCENARIO.toml\n", argv[0]);
        return 2;
    }
    static char toml[MAX_TOML_BYTES];
    size_t toml_len = read_file(argv[1], toml, sizeof toml);

    double plant[NX];
    reference_at(0.0, plant);
    double mass = 1.0;
    char error[RECEDE_MESSAGE_CAPACITY];
    RecedeController *controller = NULL;
    int is_blob = toml_len >= 8 && memcmp(toml, "RECEDEFW", 8) == 0;
    struct alloc_count at_create;
    RecedeStatus status;
#ifdef RECEDE_CALLER_MEMORY
    if (is_blob) {
        status = create_in_buffer((const uint8_t *)toml, toml_len, plant, &controller, error, sizeof error, &at_create);
    } else
#endif
    {
        alloc_count_start();
        status = is_blob ? recede_create_from_blob((const uint8_t *)toml, toml_len, plant, NX, &controller, error,
                                                   sizeof error)
                         : recede_create((const uint8_t *)toml, toml_len, plant, NX, NULL, &controller, error,
                                         sizeof error);
        at_create = alloc_count_stop();
    }
    if (status != RECEDE_STATUS_OK) {
        fprintf(stderr, "%s: status %d: %s\n", is_blob ? "recede_create_from_blob" : "recede_create", (int)status,
                error);
        return 1;
    }
    printf("created from %s (%zu bytes): %zu allocations, %zu bytes requested\n",
           is_blob ? "a firmware blob" : "TOML text", toml_len, at_create.allocations, at_create.bytes);
    RecedeDimensions dims;
    if (recede_dimensions(controller, &dims) != RECEDE_STATUS_OK || dims.nx != NX || dims.nu != NU ||
        dims.horizon + 1 > MAX_HORIZON) {
        fprintf(stderr, "unexpected controller dimensions\n");
        return 1;
    }
    printf("created (%s): nx %zu, nu %zu, horizon %zu x %.3f s, period %.3f s, %zu parameters\n",
           recede_version(), dims.nx, dims.nu, dims.horizon, dims.dt_secs, dims.period_secs, dims.parameters);

    static double window[MAX_HORIZON * NX];
    static double feedback_secs[STEPS], step_secs[STEPS], feedback_iterations[STEPS], presolve_iterations[STEPS];
    double hover[NU];
    double worst_tilt = 0.0, error_sum2 = 0.0, last_error = 0.0;
    int fallbacks = 0, errors = 0, steps = 0, tracked = 0;

    /* The first window; each later one is set for the next sample before
     * recede_prepare, so that the preparation (and its presolve for the
     * predicted state) works on the references the feedback will use. */
    for (size_t n = 0; n <= dims.horizon; n++) reference_at((double)n * dims.dt_secs, &window[n * NX]);
    alloc_count_start();
    int window_failed = recede_set_state_reference(controller, window, dims.reference_len) < 0;
    alloc_count_pause();
    if (window_failed) {
        fprintf(stderr, "recede_set_state_reference failed before the first step\n");
        errors += 1;
    }
    for (int k = 0; k < STEPS && !window_failed; k++) {
        double t = k * PERIOD_SECS;
        double command[NU];
        int call_failed = 0;
        if (k == PAYLOAD_STEP) mass = 1.2;
        for (int i = 0; i < NU; i++) hover[i] = mass * GRAVITY / 4.0;

        alloc_count_resume();
        if (k == 0 || k == PAYLOAD_STEP) {
            /* The payload: the model's mass and the hover thrust change. */
            if (k == PAYLOAD_STEP) call_failed |= recede_set_parameter(controller, "mass_kg", mass) < 0;
            call_failed |= recede_set_input_reference(controller, hover, NU) < 0;
        }
        double started = now_secs();
        status = recede_feedback(controller, t, plant, NX, command, NU);
        double fed_back = now_secs();
        alloc_count_pause();

        if (status < 0 || call_failed) {
            recede_last_error(controller, error, sizeof error);
            fprintf(stderr, "step %d: status %d: %s\n", k, (int)status, error);
            errors += 1;
            break;
        }
        for (int i = 0; i < PLANT_SUBSTEPS; i++) rk4(plant, command, mass, PERIOD_SECS / PLANT_SUBSTEPS);
        for (size_t n = 0; n <= dims.horizon; n++)
            reference_at(t + PERIOD_SECS + (double)n * dims.dt_secs, &window[n * NX]);

        alloc_count_resume();
        if (recede_set_state_reference(controller, window, dims.reference_len) < 0) {
            alloc_count_pause();
            fprintf(stderr, "step %d: recede_set_state_reference failed\n", k);
            errors += 1;
            break;
        }
        double preparing = now_secs();
        RecedeStatus prepared = recede_prepare(controller);
        double elapsed = (fed_back - started) + (now_secs() - preparing);
        alloc_count_pause();
        if (prepared != RECEDE_STATUS_OK) {
            fprintf(stderr, "step %d: recede_prepare: status %d\n", k, (int)prepared);
            errors += 1;
            break;
        }
        RecedeStats stats;
        recede_last_stats(controller, &stats);
        feedback_iterations[steps] = stats.qp_iterations;
        presolve_iterations[steps] = stats.presolve_qp_iterations;
        feedback_secs[steps] = fed_back - started;
        step_secs[steps] = elapsed;
        steps += 1;
        if (status != RECEDE_STATUS_OK) fallbacks += 1;

        double goal[NX];
        reference_at(t + PERIOD_SECS, goal);
        double e = sqrt(pow(plant[0] - goal[0], 2) + pow(plant[1] - goal[1], 2) + pow(plant[2] - goal[2], 2));
        if (tilt_rad(plant) > worst_tilt) worst_tilt = tilt_rad(plant);
        if (k >= HOVER_STEPS + 100) { /* after the circle's start-up */
            error_sum2 += e * e;
            tracked += 1;
        }
        last_error = e;
        if (k % 100 == 0 || k == STEPS - 1) {
            printf("t %5.2f s  p (%+.3f %+.3f %+.3f)  error %.3f m  tilt %.3f rad  thrust %.2f %.2f %.2f %.2f\n",
                   t + PERIOD_SECS, plant[0], plant[1], plant[2], e, tilt_rad(plant), command[0], command[1],
                   command[2], command[3]);
        }
    }
    struct alloc_count during_steps = alloc_count_stop();

    double planned_states[MAX_HORIZON * NX];
    double planned_inputs[MAX_HORIZON * NU];
    int plan_ok = recede_get_plan(controller, planned_states, dims.reference_len, planned_inputs,
                                  dims.input_reference_len) == RECEDE_STATUS_OK;
    recede_destroy(controller);

    double rms = tracked > 0 ? sqrt(error_sum2 / tracked) : INFINITY;
    double feedback_median = median(feedback_secs, (size_t)steps);
    double step_median = median(step_secs, (size_t)steps);
    printf("tracking: rms position error %.4f m on the circle, last %.4f m, worst tilt %.3f rad; %d fallbacks; "
           "%d errors\n",
           rms, last_error, worst_tilt, fallbacks, errors);
    if (plan_ok) printf("plan: last planned thrust %.3f N (hover with payload %.3f N)\n", planned_inputs[0], hover[0]);
    printf("rti: feedback median %.1f us, feedback + prepare median %.1f us, feedback share %.0f%%\n",
           1e6 * feedback_median, 1e6 * step_median, step_median > 0 ? 100.0 * feedback_median / step_median : 0.0);
    printf("rti: ADMM iterations median: feedback %.0f, presolve in the preparation %.0f\n",
           median(feedback_iterations, (size_t)steps), median(presolve_iterations, (size_t)steps));
    printf("allocations during steps: %zu (%zu bytes)\n", during_steps.allocations, during_steps.bytes);
    if (during_steps.allocations > 0) name_allocating_callers("step");
    int ok = errors == 0 && steps == STEPS && plan_ok && rms < 0.15 && last_error < 0.2 && worst_tilt < 0.5 &&
             during_steps.allocations == 0;
#ifdef RECEDE_CALLER_MEMORY
    /* From a blob, creation allocated nothing outside the caller's buffer. */
    if (is_blob && at_create.allocations != 0) {
        printf("creation from the blob allocated outside the caller's buffer\n");
        ok = 0;
    }
#endif
    printf("quadrotor: %s, steps %d, allocations during steps %zu\n", ok ? "ok" : "failed", steps,
           during_steps.allocations);
    return ok ? 0 : 1;
}
