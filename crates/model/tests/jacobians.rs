//! The AD Jacobians of `Rk4::linearize` against central finite differences,
//! the f64 step against the value part of `linearize`, and the joint AD
//! pass against the two separate ones, for every built-in robot on random
//! states and inputs; the quadrotor's hand-written tangent against duals.

use nalgebra::SVector;
use proptest::prelude::*;
use recede_model::robots::{arm, cartpole, diffdrive, quadrotor};
use recede_model::robots::{Arm, ArmParams, CartPole, DiffDrive, Quadrotor};
use recede_model::{c, Dynamics, Residual, ResidualEvaluation, Rk4, Scalar, WithResidual};

/// Maps unit samples in [0, 1) onto `[lo_i, hi_i)`.
fn scaled<const N: usize>(unit: &[f64], lo: [f64; N], hi: [f64; N]) -> SVector<f64, N> {
    SVector::from_fn(|i, _| lo[i] + unit[i] * (hi[i] - lo[i]))
}

/// Checks `linearize` at `(x, u)` for substeps 1 and 4: the value equals the
/// f64 step bit for bit, and A, B match central differences of the f64 step
/// to a relative 1e-6.
fn check_model<D, const NX: usize, const NU: usize>(
    model: &D,
    dt_secs: f64,
    x: &SVector<f64, NX>,
    u: &SVector<f64, NU>,
) -> Result<(), TestCaseError>
where
    D: Dynamics<NX, NU>,
{
    for substeps in [1, 4] {
        let rk = Rk4::new(dt_secs, substeps);
        let lin = rk.linearize(model, x, u);
        let stepped = rk.step(model, x, u);
        // One pass over state and input together gives the two passes'
        // numbers (`==`: a zero's sign may differ).
        let (joint, two) = (
            rk.linearize_by_duals(model, x, u),
            rk.linearize_in_two_passes(model, x, u),
        );
        prop_assert!(
            joint.x_next == two.x_next && joint.a == two.a && joint.b == two.b,
            "substeps {substeps}: the joint pass differs from the two passes: {joint:?} vs {two:?}"
        );
        for i in 0..NX {
            prop_assert!(
                stepped[i].to_bits() == lin.x_next[i].to_bits(),
                "substeps {substeps}: step[{i}] = {:e} but linearize x_next[{i}] = {:e}",
                stepped[i],
                lin.x_next[i]
            );
        }

        for j in 0..NX {
            let h = 1e-6 * x[j].abs().max(1.0);
            let (mut xp, mut xm) = (*x, *x);
            xp[j] += h;
            xm[j] -= h;
            let fd = (rk.step(model, &xp, u) - rk.step(model, &xm, u)) / (xp[j] - xm[j]);
            for i in 0..NX {
                let (ad, fd) = (lin.a[(i, j)], fd[i]);
                prop_assert!(
                    (ad - fd).abs() <= 1e-6 * ad.abs().max(1.0),
                    "substeps {substeps}: A[{i},{j}] AD {ad:e} vs FD {fd:e}"
                );
            }
        }
        for j in 0..NU {
            let h = 1e-6 * u[j].abs().max(1.0);
            let (mut up, mut um) = (*u, *u);
            up[j] += h;
            um[j] -= h;
            let fd = (rk.step(model, x, &up) - rk.step(model, x, &um)) / (up[j] - um[j]);
            for i in 0..NX {
                let (ad, fd) = (lin.b[(i, j)], fd[i]);
                prop_assert!(
                    (ad - fd).abs() <= 1e-6 * ad.abs().max(1.0),
                    "substeps {substeps}: B[{i},{j}] AD {ad:e} vs FD {fd:e}"
                );
            }
        }
    }
    Ok(())
}

fn unit(n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(0.0f64..1.0, n)
}

const PI: f64 = std::f64::consts::PI;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cartpole_jacobians(s in unit(cartpole::NX + cartpole::NU)) {
        let x = scaled(&s[..4], [-2.0, -PI, -3.0, -6.0], [2.0, PI, 3.0, 6.0]);
        let u = scaled(&s[4..], [-80.0], [80.0]);
        check_model(&CartPole::default(), 0.02, &x, &u)?;
    }

    #[test]
    fn quadrotor_jacobians(
        s in unit(quadrotor::NX + quadrotor::NU)
            .prop_filter("quaternion away from zero", |s| {
                s[3..7].iter().map(|v| (2.0 * v - 1.0).powi(2)).sum::<f64>() > 0.1
            })
    ) {
        let mut x = scaled(
            &s[..13],
            [-5.0, -5.0, 0.0, -1.0, -1.0, -1.0, -1.0, -5.0, -5.0, -5.0, -4.0, -4.0, -4.0],
            [5.0, 5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 4.0, 4.0, 4.0],
        );
        let model = Quadrotor::default();
        model.project(&mut x);
        let u = scaled(&s[13..], [0.0; 4], [8.0; 4]);
        check_model(&model, 0.05, &x, &u)?;
    }

    /// The written-out tangent (the path `linearize` takes) against the
    /// duals through the generic derivative, with and without a held
    /// residual, over substeps 1 and 4 (each renormalises).
    #[test]
    fn quadrotor_tangent_matches_duals(
        s in unit(quadrotor::NX + quadrotor::NU)
            .prop_filter("quaternion away from zero", |s| {
                s[3..7].iter().map(|v| (2.0 * v - 1.0).powi(2)).sum::<f64>() > 0.1
            })
    ) {
        let x = scaled(
            &s[..13],
            [-5.0, -5.0, 0.0, -1.0, -1.0, -1.0, -1.0, -5.0, -5.0, -5.0, -4.0, -4.0, -4.0],
            [5.0, 5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 4.0, 4.0, 4.0],
        );
        let u = scaled(&s[13..], [0.0; 4], [8.0; 4]);
        let nominal = Quadrotor::default();
        prop_assert!(nominal.derivative_tangent(&x, &u).is_some());
        let held = WithResidual::new(nominal, Drag).with_evaluation(ResidualEvaluation::OncePerStep);
        for substeps in [1, 4] {
            let rk = Rk4::new(0.05, substeps);
            let pairs = [
                (rk.linearize(&nominal, &x, &u), rk.linearize_by_duals(&nominal, &x, &u)),
                (rk.linearize(&held, &x, &u), rk.linearize_by_duals(&held, &x, &u)),
            ];
            for (tangent, duals) in pairs {
                prop_assert!(tangent.x_next == duals.x_next, "value: {tangent:?} vs {duals:?}");
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-11 * a.abs().max(1.0);
                for (a, b) in tangent.a.iter().zip(duals.a.iter()).chain(tangent.b.iter().zip(duals.b.iter())) {
                    prop_assert!(close(*a, *b), "substeps {substeps}: {a:e} vs {b:e}");
                }
            }
        }
        check_model(&held, 0.05, &x, &u)?;
    }

    #[test]
    fn diffdrive_jacobians(s in unit(diffdrive::NX + diffdrive::NU)) {
        let x = scaled(&s[..5], [-10.0, -10.0, -PI, -1.5, -2.0], [10.0, 10.0, PI, 1.5, 2.0]);
        let u = scaled(&s[5..], [-1.0, -3.0], [1.0, 3.0]);
        check_model(&DiffDrive::default(), 0.1, &x, &u)?;
    }

    #[test]
    fn arm_jacobians(s in unit(arm::NX + arm::NU), payload in 0.0f64..0.5) {
        let x = scaled(&s[..4], [-PI, -PI, -5.0, -5.0], [PI, PI, 5.0, 5.0]);
        let u = scaled(&s[4..], [-20.0, -10.0], [20.0, 10.0]);
        let model = Arm::new(ArmParams { payload_mass_kg: payload, ..ArmParams::default() })
            .expect("valid arm parameters");
        check_model(&model, 0.02, &x, &u)?;
    }
}

/// A smooth drag-like residual on the quadrotor's velocity and body rates,
/// depending on the attitude and the thrusts too (every kind of column).
struct Drag;

impl Residual<13, 4> for Drag {
    fn add_to<T: Scalar>(&self, x: &SVector<T, 13>, u: &SVector<T, 4>, xdot: &mut SVector<T, 13>) {
        let thrust = u[0] + u[1] + u[2] + u[3];
        for i in 0..3 {
            let v = x[7 + i];
            xdot[7 + i] -= v * (v * v + c::<T>(1.0)).sqrt() * 0.3 + x[4 + i] * thrust * 0.01;
            xdot[10 + i] -= x[10 + i] * 0.05 + u[i] * u[i + 1] * 0.002;
        }
    }
}
